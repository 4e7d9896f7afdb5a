"""Registration rules: places, companions, the monthly cap, the window, the waiting list."""

from __future__ import annotations

from datetime import timedelta

from canyu.core import clock
from canyu.openmonth import service
from canyu.openmonth.models import MonthlyPlaces, OpenEvent, Registration
from conftest import sign_in
from openmonth.conftest import create_event, iso, organizer, residents


async def _register(client, event_id, person, **body):
    return await client.post(
        f"/api/v1/events/{event_id}/registrations", json=body, headers=person["headers"]
    )


async def _snapshot():
    return (
        [(e.id, e.taken) for e in await OpenEvent.all().order_by("id")],
        await Registration.all().count(),
        [(m.person_key, m.places) for m in await MonthlyPlaces.all().order_by("id")],
    )


async def test_registration_confirms_a_place_with_a_ticket(client, mailbox):
    org = await organizer(client)
    event = await create_event(client, org, capacity=10)
    person = await sign_in(client, mailbox, "wang.li@example.com")
    r = await _register(client, event["id"], person)
    assert r.status_code == 201
    body = r.json()
    assert body["status"] == "confirmed"
    assert len(body["ticket_code"]) == 10
    after = (await client.get(f"/api/v1/events/{event['id']}")).json()
    assert after["confirmed"] == 1 and after["waitlisted"] == 0
    mine = (await client.get("/api/v1/me/registrations", headers=person["headers"])).json()["items"]
    assert [(m["id"], m["status"], m["ticket_code"]) for m in mine] == [
        (body["id"], "confirmed", body["ticket_code"])
    ]


async def test_confirmed_counts_companions(client):
    org = await organizer(client)
    event = await create_event(client, org, capacity=10, max_companions=2)
    [person] = await residents(1)
    r = await _register(client, event["id"], person, companions=2)
    assert r.status_code == 201
    assert (await client.get(f"/api/v1/events/{event['id']}")).json()["confirmed"] == 3


async def test_second_registration_for_same_event_is_a_conflict(client):
    org = await organizer(client)
    event = await create_event(client, org)
    [person] = await residents(1)
    assert (await _register(client, event["id"], person)).status_code == 201
    before = await _snapshot()
    r = await _register(client, event["id"], person)
    assert r.status_code == 409
    assert r.json()["error"]["code"] == "already_registered"
    assert await _snapshot() == before


async def test_full_event_puts_resident_on_waiting_list(client, mailbox):
    org = await organizer(client)
    event = await create_event(client, org, capacity=1)
    first, second = await residents(2)
    assert (await _register(client, event["id"], first)).json()["status"] == "confirmed"
    r = await _register(client, event["id"], second)
    assert r.status_code == 201
    assert r.json()["status"] == "waitlisted"
    assert r.json()["ticket_code"] is None
    after = (await client.get(f"/api/v1/events/{event['id']}")).json()
    assert (after["confirmed"], after["waitlisted"], after["places_left"]) == (1, 1, 0)
    await mailbox.deliver()
    [mail] = mailbox.to(second["email"])
    assert "候补" in str(mail["Subject"])


async def test_party_that_does_not_fit_waits_while_a_smaller_one_gets_the_last_place(client):
    org = await organizer(client)
    event = await create_event(client, org, capacity=2, max_companions=2)
    a, b = await residents(2)
    assert (await _register(client, event["id"], a, companions=2)).json()["status"] == "waitlisted"
    assert (await _register(client, event["id"], b, companions=1)).json()["status"] == "confirmed"


async def test_registration_outside_the_window_is_refused(client):
    org = await organizer(client)
    now = clock.now()
    later = await create_event(
        client,
        org,
        registration_opens_at=iso(now + timedelta(days=1)),
        registration_closes_at=iso(now + timedelta(days=2)),
    )
    [person] = await residents(1)
    before = await _snapshot()
    r = await _register(client, later["id"], person)
    assert r.status_code == 422 and r.json()["error"]["code"] == "registration_not_open"
    clock.travel(timedelta(days=1, minutes=1))
    assert (await _register(client, later["id"], person)).status_code == 201
    other = await create_event(
        client, org, registration_closes_at=iso(clock.now() + timedelta(hours=1))
    )
    clock.travel(timedelta(hours=1))
    r = await _register(client, other["id"], person)
    assert r.status_code == 422 and r.json()["error"]["code"] == "registration_closed"
    assert (await Registration.all().count()) == 1
    assert before[1] == 0


async def test_unpublished_or_cancelled_event_refuses_registration(client):
    org = await organizer(client)
    draft = await create_event(client, org, published=False)
    [person] = await residents(1)
    assert (await _register(client, draft["id"], person)).status_code == 404
    assert (await _register(client, 4242, person)).status_code == 404
    assert await Registration.all().count() == 0


async def test_invalid_companions_are_refused_and_change_nothing(client):
    org = await organizer(client)
    event = await create_event(client, org, max_companions=1)
    [person] = await residents(1)
    before = await _snapshot()
    for body, code in [
        ({"companions": 2}, "invalid_companions"),
        ({"companions": -1}, "invalid_request"),
        ({"companions": 1, "child_companions": 2}, "invalid_companions"),
        ({"companions": 1, "child_companions": 1}, "guardian_consent_required"),
        ({"companions": "two"}, "invalid_request"),
    ]:
        r = await _register(client, event["id"], person, **body)
        assert r.status_code == 422, body
        assert r.json()["error"]["code"] == code, body
    assert await _snapshot() == before
    r = await _register(
        client, event["id"], person, companions=1, child_companions=1, guardian_consent=True
    )
    assert r.status_code == 201
    stored = await Registration.get(id=r.json()["id"])
    assert stored.child_companions == 1 and stored.guardian_consent


async def test_no_companions_when_the_event_allows_none(client):
    org = await organizer(client)
    event = await create_event(client, org, max_companions=0)
    [person] = await residents(1)
    r = await _register(client, event["id"], person, companions=1)
    assert r.status_code == 422


async def test_monthly_cap_counts_confirmed_places_with_companions(client):
    org = await organizer(client)
    now = clock.now()
    events = [
        await create_event(client, org, title=f"开放活动 {i}", max_companions=1) for i in range(3)
    ]
    [person] = await residents(1)
    assert (await _register(client, events[0]["id"], person, companions=1)).status_code == 201
    assert (await _register(client, events[1]["id"], person)).status_code == 201
    before = await _snapshot()
    r = await _register(client, events[2]["id"], person)
    assert r.status_code == 422 and r.json()["error"]["code"] == "monthly_limit"
    assert await _snapshot() == before
    # Another month has its own places.
    next_month = await create_event(
        client,
        org,
        starts_at=iso(now + timedelta(days=45)),
        ends_at=iso(now + timedelta(days=45, hours=2)),
        registration_closes_at=iso(now + timedelta(days=44)),
    )
    assert (await _register(client, next_month["id"], person)).status_code == 201


async def test_cancelling_gives_the_monthly_places_back(client):
    org = await organizer(client)
    events = [await create_event(client, org, title=f"开放活动 {i}") for i in range(4)]
    [person] = await residents(1)
    ids = [(await _register(client, e["id"], person)).json()["id"] for e in events[:3]]
    assert (await _register(client, events[3]["id"], person)).status_code == 422
    assert (
        await client.delete(f"/api/v1/registrations/{ids[0]}", headers=person["headers"])
    ).status_code == 200
    assert (await _register(client, events[3]["id"], person)).status_code == 201


async def test_monthly_cap_is_configurable(client):
    service.configure(places_per_month=1)
    org = await organizer(client)
    a = await create_event(client, org, title="甲")
    b = await create_event(client, org, title="乙")
    [person] = await residents(1)
    assert (await _register(client, a["id"], person)).status_code == 201
    assert (await _register(client, b["id"], person)).status_code == 422


async def test_resident_may_register_again_after_cancelling(client):
    org = await organizer(client)
    event = await create_event(client, org)
    [person] = await residents(1)
    first = (await _register(client, event["id"], person)).json()
    await client.delete(f"/api/v1/registrations/{first['id']}", headers=person["headers"])
    again = await _register(client, event["id"], person)
    assert again.status_code == 201
    assert again.json()["id"] == first["id"]
    assert again.json()["ticket_code"] != first["ticket_code"]


async def test_minimum_age_is_checked_against_the_birth_year(client):
    from canyu.accounts.models import Resident

    org = await organizer(client)
    event = await create_event(client, org, min_age=18)
    young, adult = await residents(2)
    year = clock.local(clock.now()).year
    await Resident.filter(id=young["id"]).update(birth_year=year - 10)
    await Resident.filter(id=adult["id"]).update(birth_year=year - 40)
    r = await _register(client, event["id"], young)
    assert r.status_code == 422 and r.json()["error"]["code"] == "under_age"
    assert (await _register(client, event["id"], adult)).status_code == 201


async def test_staff_tokens_cannot_register(client):
    org = await organizer(client)
    event = await create_event(client, org)
    r = await client.post(f"/api/v1/events/{event['id']}/registrations", json={}, headers=org)
    assert r.status_code == 403
    r = await client.post(f"/api/v1/events/{event['id']}/registrations", json={})
    assert r.status_code == 401


async def test_crash_in_the_middle_of_a_registration_leaves_no_half_taken_place(
    client, monkeypatch
):
    org = await organizer(client)
    event = await create_event(client, org, capacity=5)
    [person] = await residents(1)

    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    # The mail is queued after the place was taken and the registration written.
    monkeypatch.setattr(service.notify, "mail_statement", broken)
    r = await _register(client, event["id"], person)
    assert r.status_code == 500
    assert (await OpenEvent.get(id=event["id"])).taken == 0
    assert await Registration.all().count() == 0
    assert [m.places for m in await MonthlyPlaces.all()] in ([], [0])
    assert await service.reconcile() == []
    monkeypatch.undo()
    assert (await _register(client, event["id"], person)).json()["status"] == "confirmed"


async def test_reconciliation_reports_a_counter_that_differs_from_rows(client):
    org = await organizer(client)
    event = await create_event(client, org, capacity=5)
    [person] = await residents(1)
    await _register(client, event["id"], person)
    assert await service.reconcile() == []
    await OpenEvent.filter(id=event["id"]).update(taken=3)
    [mismatch] = await service.reconcile()
    assert mismatch == {"event_id": event["id"], "counter": 3, "rows": 1, "capacity": 5}
