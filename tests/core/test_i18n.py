"""Chinese is the source language; every UI string has an English translation."""

from __future__ import annotations

import re

from canyu.core import i18n
from canyu.core.i18n_extract import all_translations, extract, untranslated_template_text


def test_every_ui_string_is_translated_to_english():
    translations = all_translations("en")
    missing = sorted(
        f"{msgid!r} ({places[0]})"
        for domain in extract().values()
        for msgid, places in domain.items()
        if not translations.get(msgid)
    )
    assert not missing, "untranslated (run `make i18n` and fill locale/en/*.po):\n" + "\n".join(
        missing
    )


def test_no_chinese_text_is_written_into_a_template_without_gettext():
    problems = untranslated_template_text()
    assert not problems, "wrap these in {{ _(...) }}:\n" + "\n".join(problems)


def test_placeholders_survive_translation():
    import re

    translations = all_translations("en")
    pattern = re.compile(r"%\(\w+\)s")
    broken = [
        msgid
        for msgid, text in translations.items()
        if text and sorted(pattern.findall(msgid)) != sorted(pattern.findall(text))
    ]
    assert not broken, broken


def test_gettext_follows_the_locale():
    token = i18n.set_locale("en")
    try:
        assert i18n.gettext("首页") == "Home"
    finally:
        i18n._locale.reset(token)
    assert i18n.gettext("首页") == "首页"


def test_a_label_takes_the_colon_of_its_language():
    from canyu.core.templating import env

    template = env.from_string('<p>{{ _("会议时间")|label }}{{ at }}</p>')
    token = i18n.set_locale("zh_CN")
    try:
        assert template.render(at="2026-12-19 14:00") == "<p>会议时间：2026-12-19 14:00</p>"
        i18n.set_locale("en")
        assert template.render(at="2026-12-19 14:00") == "<p>Meeting time: 2026-12-19 14:00</p>"
    finally:
        i18n._locale.reset(token)


def test_no_template_writes_a_colon_of_its_own_after_a_translated_label():
    """A colon outside the translated text is wrong in one of the two languages."""
    from canyu.core.templating import TEMPLATE_DIR

    offenders = [
        str(path.relative_to(TEMPLATE_DIR))
        for path in TEMPLATE_DIR.rglob("*.*")
        if path.suffix in (".html", ".txt")
        and re.search(r"\) ?\}\}\s*[:：]", path.read_text())
    ]
    assert offenders == [], "use _(…)|label, which writes the colon of the language"


def test_values_shown_through_gettext_are_translated_and_an_empty_one_stays_empty():
    token = i18n.set_locale("en")
    try:
        assert i18n.gettext("男") == "Male"
        assert i18n.gettext("张江镇") == "张江镇"  # a name, not in the catalog
        assert i18n.gettext("") == ""  # not the catalog's header
    finally:
        i18n._locale.reset(token)
