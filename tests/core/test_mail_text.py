"""Mail text parts are plain text: what a resident typed or an organizer titled arrives as it
is (no HTML entities), while HTML pages stay escaped."""

from __future__ import annotations

from canyu.core.templating import env, render_string


def test_text_mail_is_not_html_escaped_but_pages_are():
    class Event:
        id = 1
        title = 'A & B <合唱> "团"'
        summary = ""
        starts_at = None
        ends_at = None
        location = "Tom & Jerry"
        mode = "offline"
        stream_url = ""
        id_check = False
        requirements = ""
        unit_name = "U & V"

    class Registration:
        name = "王 & 李"

    text = render_string(
        "mail/openmonth_waitlisted.txt",
        {"event": Event(), "registration": Registration(), "event_url": "u", "my_url": "m",
         "mode_label": "线下", "base_url": "b", "absolute_url": lambda p: p},
    )
    assert "王 & 李" in text and 'A & B <合唱> "团"' in text and "&amp;" not in text
    page = env.from_string("<p>{{ v }}</p>").render(v="<script>")
    assert page == "<p>&lt;script&gt;</p>"
