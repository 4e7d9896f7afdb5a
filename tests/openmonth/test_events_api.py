"""Events of the open month through the JSON API (API.md "Open month")."""

from __future__ import annotations

from datetime import timedelta

from canyu.core import clock
from canyu.openmonth import service
from canyu.openmonth.models import OpenEvent
from conftest import staff_headers
from openmonth.conftest import create_event, event_body, iso, organizer, residents


async def test_organizer_creates_event_of_own_unit(client):
    org = await organizer(client)
    event = await create_event(client, org, capacity=30)
    assert event["unit"] == "区城运中心"
    assert event["capacity"] == 30
    assert event["confirmed"] == 0 and event["waitlisted"] == 0
    assert event["district"] == "花木街道"
    assert event["starts_at"].endswith("+08:00")


async def test_admin_creates_event_for_any_unit(client):
    admin = await staff_headers(client, "admin1", "admin", "区政务公开办")
    event = await create_event(client, admin, unit="张江镇")
    assert event["unit"] == "张江镇"


async def test_residents_and_anonymous_cannot_create_events(client):
    [resident] = await residents(1)
    r = await client.post("/api/v1/events", json=event_body(), headers=resident["headers"])
    assert r.status_code == 403
    r = await client.post("/api/v1/events", json=event_body())
    assert r.status_code == 401
    assert await OpenEvent.all().count() == 0


async def test_bad_event_input_is_refused_in_chinese_and_changes_nothing(client):
    org = await organizer(client)
    now = clock.now()
    bad = [
        {"mode": "teleport"},
        {"capacity": 0},
        {"ends_at": iso(now + timedelta(days=9))},
        {"registration_closes_at": iso(now - timedelta(hours=2))},
        {"stream_url": "javascript:alert(1)"},
        {"starts_at": "2026-08-01T09:00:00"},
        {"max_companions": 11},
        {"unknown_field": 1},
    ]
    for override in bad:
        r = await client.post("/api/v1/events", json=event_body(**override), headers=org)
        assert r.status_code in (400, 422), (override, r.text)
        assert any("\u4e00" <= ch <= "\u9fff" for ch in r.json()["error"]["message"]), override
    assert await OpenEvent.all().count() == 0


async def test_optional_fields_may_be_null_or_absent(client):
    org = await organizer(client)
    body = event_body(summary=None, theme=None, location=None, max_companions=None)
    for key in ("registration_opens_at", "registration_closes_at", "stream_url"):
        body.pop(key)
    r = await client.post("/api/v1/events", json=body, headers=org)
    assert r.status_code == 201, r.text
    event = r.json()
    assert (event["theme"], event["max_companions"], event["registration_open"]) == ("其他", 0, True)
    assert event["registration_closes_at"] == event["starts_at"]


async def test_drafts_are_hidden_from_the_public(client):
    org = await organizer(client)
    draft = await create_event(client, org, published=False)
    assert (await client.get(f"/api/v1/events/{draft['id']}")).status_code == 404
    assert (await client.get("/api/v1/events")).json() == {"items": []}
    assert (await client.get(f"/api/v1/events/{draft['id']}", headers=org)).status_code == 200
    assert (await client.get("/api/v1/events/99999")).status_code == 404


async def test_admin_publishes_the_programme(client):
    from canyu.core.permissions import Principal

    org = await organizer(client)
    draft = await create_event(client, org, published=False)
    admin = Principal("staff", 1, "admin", role="admin")
    assert await service.publish_events(admin, [draft["id"]]) == 1
    assert (await client.get(f"/api/v1/events/{draft['id']}")).status_code == 200


async def test_catalogue_filters_by_district_theme_mode_day_and_places_left(client):
    org = await organizer(client)
    now = clock.now()
    a = await create_event(
        client,
        org,
        title="张江科学城开放日",
        location="张江镇科苑路 88 号",
        theme="营商环境",
        capacity=1,
    )
    b = await create_event(
        client,
        org,
        title="线上：12345 热线揭秘",
        mode="online",
        location="",
        stream_url="https://live.example.com/12345",
        starts_at=iso(now + timedelta(days=20)),
        ends_at=iso(now + timedelta(days=20, hours=1)),
    )

    async def ids(query: str) -> list[int]:
        return [e["id"] for e in (await client.get("/api/v1/events" + query)).json()["items"]]

    assert await ids("") == [a["id"], b["id"]]
    assert await ids("?district=张江镇") == [a["id"]]
    assert await ids("?theme=营商环境") == [a["id"]]
    assert await ids("?mode=online") == [b["id"]]
    day = clock.local(now + timedelta(days=20)).strftime("%Y-%m-%d")
    assert await ids(f"?day={day}") == [b["id"]]
    [resident] = await residents(1)
    await client.post(
        f"/api/v1/events/{a['id']}/registrations", json={}, headers=resident["headers"]
    )
    assert await ids("?available=1") == [b["id"]]


async def test_capacity_cannot_drop_below_places_held(client):
    from canyu.core.errors import Conflict
    from canyu.core.permissions import Principal

    org = await organizer(client)
    event = await create_event(client, org, capacity=2)
    people = await residents(2)
    for person in people:
        await client.post(
            f"/api/v1/events/{event['id']}/registrations", json={}, headers=person["headers"]
        )
    admin = Principal("staff", 1, "admin", role="admin")
    stored = await OpenEvent.get(id=event["id"])
    data = {
        k: getattr(stored, k)
        for k in (
            "title",
            "summary",
            "theme",
            "mode",
            "location",
            "starts_at",
            "ends_at",
            "registration_opens_at",
            "registration_closes_at",
            "cancellation_closes_at",
            "published",
        )
    }
    data["capacity"] = 1
    try:
        await service.update_event(admin, event["id"], data)
    except Conflict as exc:
        assert exc.code == "capacity_below_taken"
    else:
        raise AssertionError("capacity dropped below the places held")
    data["capacity"] = 5
    assert (await service.update_event(admin, event["id"], data)).capacity == 5


async def test_event_briefs_for_the_vote_list_published_events_only(client):
    org = await organizer(client)
    published = await create_event(client, org)
    draft = await create_event(client, org, published=False)
    briefs = await service.event_briefs()
    assert [b["id"] for b in briefs] == [published["id"]]
    brief = await service.event_brief(published["id"])
    assert brief is not None
    assert set(brief) == {
        "id",
        "title",
        "summary",
        "theme",
        "mode",
        "starts_at",
        "unit",
        "average_rating",
        "rating_count",
        "attendee_count",
        "photo_url",
    }
    assert brief["average_rating"] is None and brief["rating_count"] == 0
    assert await service.event_brief(draft["id"]) is None
    assert await service.event_briefs([draft["id"]]) == []
