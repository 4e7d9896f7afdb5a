"""Tickets (QR + .ics), reminders, the stream link, check-in and ratings."""

from __future__ import annotations

from datetime import timedelta

from canyu.core import clock
from canyu.openmonth import service
from canyu.openmonth.models import Registration
from conftest import staff_headers
from openmonth.conftest import create_event, iso, organizer, residents


async def _register(client, event_id, person, **body):
    r = await client.post(
        f"/api/v1/events/{event_id}/registrations", json=body, headers=person["headers"]
    )
    assert r.status_code == 201, r.text
    return r.json()


async def test_confirmation_mail_carries_qr_ticket_and_calendar_file(client, mailbox):
    from icalendar import Calendar

    org = await organizer(client)
    event = await create_event(client, org)
    [a] = await residents(1)
    reg = await _register(client, event["id"], a)
    await mailbox.deliver()
    [mail] = mailbox.to(a["email"])
    assert reg["ticket_code"] in mail.get_body(("plain",)).get_content()
    parts = {p.get_filename(): p for p in mail.iter_attachments()}
    png = parts[f"ticket-{reg['ticket_code']}.png"]
    assert png.get_content_type() == "image/png"
    assert png.get_content().startswith(b"\x89PNG")
    ics = parts[f"event-{event['id']}.ics"]
    assert ics.get_content_type() == "text/calendar"
    cal = Calendar.from_ical(ics.get_payload(decode=True))
    [vevent] = [c for c in cal.walk("VEVENT")]
    assert str(vevent["SUMMARY"]) == event["title"]
    stored = await Registration.get(id=reg["id"]).prefetch_related("event")
    assert vevent.decoded("DTSTART") == stored.event.starts_at.replace(microsecond=0)


async def test_reminder_goes_out_once_the_day_before(client, mailbox):
    org = await organizer(client)
    event = await create_event(client, org)
    [a] = await residents(1)
    await _register(client, event["id"], a)
    assert await service.send_reminders() == 0
    clock.travel(timedelta(days=9, hours=1))
    assert await service.send_reminders() == 1
    assert await service.send_reminders() == 0
    await mailbox.deliver()
    assert sum("明天见" in str(m["Subject"]) for m in mailbox.to(a["email"])) == 1


async def test_stream_link_is_shown_only_to_registered_people(client):
    org = await organizer(client)
    event = await create_event(
        client, org, mode="online", location="", stream_url="https://live.example.com/pd-open"
    )
    a, b = await residents(2)
    await _register(client, event["id"], a)
    seen = await client.get(f"/api/v1/events/{event['id']}", headers=a["headers"])
    assert seen.json()["stream_url"] == "https://live.example.com/pd-open"
    for headers in (b["headers"], {}):
        other = await client.get(f"/api/v1/events/{event['id']}", headers=headers)
        assert other.json()["stream_url"] is None
    listed = (await client.get("/api/v1/events", headers=a["headers"])).json()["items"]
    assert listed[0]["stream_url"] is None
    page = await client.get(f"/events/{event['id']}")
    assert "live.example.com" not in page.text


async def test_check_in_once_then_already_checked_in_with_the_time(client):
    org = await organizer(client)
    event = await create_event(client, org)
    [a] = await residents(1)
    reg = await _register(client, event["id"], a)
    r = await client.post("/api/v1/checkins", json={"ticket_code": reg["ticket_code"]}, headers=org)
    assert r.status_code == 200 and r.json()["status"] == "checked_in"
    at = clock.local(clock.now()).strftime("%H:%M")
    again = await client.post(
        "/api/v1/checkins", json={"ticket_code": reg["ticket_code"].lower()}, headers=org
    )
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "already_checked_in"
    assert at in again.json()["error"]["message"]


async def test_unknown_ticket_is_refused(client):
    org = await organizer(client)
    r = await client.post("/api/v1/checkins", json={"ticket_code": "NOSUCHCODE"}, headers=org)
    assert r.status_code == 404
    r = await client.post("/api/v1/checkins", json={"ticket_code": "<script>"}, headers=org)
    assert r.status_code == 404


async def test_only_the_events_unit_and_admins_may_check_in(client):
    org = await organizer(client)
    other = await organizer(client, unit="陆家嘴街道", username="lujiazui")
    admin = await staff_headers(client, "admin2", "admin", "区政务公开办")
    event = await create_event(client, org)
    a, b = await residents(2)
    ra = await _register(client, event["id"], a)
    rb = await _register(client, event["id"], b)
    assert (
        await client.post(
            "/api/v1/checkins", json={"ticket_code": ra["ticket_code"]}, headers=other
        )
    ).status_code == 403
    assert (
        await client.post(
            "/api/v1/checkins", json={"ticket_code": ra["ticket_code"]}, headers=a["headers"]
        )
    ).status_code == 403
    assert (await Registration.get(id=ra["id"])).checked_in_at is None
    assert (
        await client.post(
            "/api/v1/checkins", json={"ticket_code": rb["ticket_code"]}, headers=admin
        )
    ).status_code == 200


async def test_cancelled_ticket_no_longer_checks_in(client):
    org = await organizer(client)
    event = await create_event(client, org)
    [a] = await residents(1)
    reg = await _register(client, event["id"], a)
    await client.delete(f"/api/v1/registrations/{reg['id']}", headers=a["headers"])
    r = await client.post("/api/v1/checkins", json={"ticket_code": reg["ticket_code"]}, headers=org)
    assert r.status_code in (404, 422)


async def test_offline_scans_replayed_later_count_once_and_keep_their_time(client):
    org = await organizer(client)
    event = await create_event(client, org)
    [a] = await residents(1)
    reg = await _register(client, event["id"], a)
    scanned = clock.now()
    clock.travel(timedelta(minutes=20))
    body = {"ticket_code": reg["ticket_code"], "scanned_at": iso(scanned)}
    first = await client.post("/api/v1/checkins", json=body, headers=org)
    replay = await client.post("/api/v1/checkins", json=body, headers=org)
    assert (first.status_code, replay.status_code) == (200, 409)
    stored = await Registration.get(id=reg["id"])
    assert abs((stored.checked_in_at - scanned).total_seconds()) < 1
    brief = await service.event_brief(event["id"])
    assert brief["attendee_count"] == 1


async def test_ratings_after_the_event_by_attendees_feed_the_brief(client):
    org = await organizer(client)
    event = await create_event(client, org, mode="hybrid", stream_url="https://live.example.com/h")
    a, b, c = await residents(3)
    ra = await _register(client, event["id"], a)
    await _register(client, event["id"], b)
    await client.post("/api/v1/checkins", json={"ticket_code": ra["ticket_code"]}, headers=org)
    early = await client.post(
        f"/api/v1/events/{event['id']}/ratings", json={"stars": 5}, headers=a["headers"]
    )
    assert early.status_code == 422 and early.json()["error"]["code"] == "event_not_over"
    clock.travel(timedelta(days=11))
    assert (
        await client.post(
            f"/api/v1/events/{event['id']}/ratings",
            json={"stars": 5, "comment": "讲解很清楚"},
            headers=a["headers"],
        )
    ).status_code == 201
    # b registered for a hybrid event: an online registrant may rate.
    assert (
        await client.post(
            f"/api/v1/events/{event['id']}/ratings", json={"stars": 4}, headers=b["headers"]
        )
    ).status_code == 201
    outsider = await client.post(
        f"/api/v1/events/{event['id']}/ratings", json={"stars": 1}, headers=c["headers"]
    )
    assert outsider.status_code == 422 and outsider.json()["error"]["code"] == "not_attended"
    twice = await client.post(
        f"/api/v1/events/{event['id']}/ratings", json={"stars": 1}, headers=a["headers"]
    )
    assert twice.status_code == 409
    for stars in (0, 6):
        r = await client.post(
            f"/api/v1/events/{event['id']}/ratings", json={"stars": stars}, headers=c["headers"]
        )
        assert r.status_code == 422
    brief = await service.event_brief(event["id"])
    assert brief["average_rating"] == 4.5 and brief["rating_count"] == 2


async def test_offline_event_rating_needs_a_check_in(client):
    org = await organizer(client)
    event = await create_event(client, org)
    [a] = await residents(1)
    await _register(client, event["id"], a)
    clock.travel(timedelta(days=11))
    r = await client.post(
        f"/api/v1/events/{event['id']}/ratings", json={"stars": 3}, headers=a["headers"]
    )
    assert r.status_code == 422


def test_every_open_month_mail_keeps_the_event_block_on_lines_of_its_own():
    """The event block (a partial) ends with its page link; what follows starts a new line."""
    from datetime import UTC, datetime

    from canyu.core.templating import TEMPLATE_DIR, render_string
    from canyu.openmonth.models import OpenEvent

    at = datetime(2026, 8, 20, 1, 30, tzinfo=UTC)
    event = OpenEvent(
        id=7, unit_id=1, unit_name="区城运中心", title="走进城市大脑", summary="参观",
        theme="城市治理", mode="offline", location="世纪大道 2001 号", starts_at=at,
        ends_at=at + timedelta(hours=2), capacity=10, registration_opens_at=at,
        registration_closes_at=at, cancellation_closes_at=at, created_at=at,
    )
    registration = Registration(
        event_id=7, person_key="r:1", name="张三", email="a@example.com", places=2,
        companions=1, ticket_code="ABCD2345", status="confirmed", month="2026-08", created_at=at,
    )
    context = service._mail_context(
        event, registration, deadline="2026-08-19 10:00", reason="天气原因"
    )
    names = sorted(
        p.stem for p in (TEMPLATE_DIR / "mail").glob("openmonth_*.txt")
        if not p.stem.startswith("openmonth__")  # the partial itself
    )
    assert "openmonth_confirmed" in names and len(names) == 7
    for name in names:
        lines = render_string(f"mail/{name}.txt", context).splitlines()
        assert context["event_url"] in lines[lines.index("主办单位：区城运中心") + 1], name
        assert f"活动页面：{context['event_url']}" in lines, name
        assert "时间：2026-08-20 09:30 – 11:30" in lines, name
