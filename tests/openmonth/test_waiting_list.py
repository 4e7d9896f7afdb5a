"""Cancellation, offers from the waiting list with a deadline, expiry passing the place on."""

from __future__ import annotations

from datetime import timedelta

from canyu.core import clock
from canyu.openmonth import service
from canyu.openmonth.models import OpenEvent, Registration
from openmonth.conftest import create_event, iso, organizer, residents


async def _register(client, event_id, person, **body):
    r = await client.post(
        f"/api/v1/events/{event_id}/registrations", json=body, headers=person["headers"]
    )
    assert r.status_code == 201, r.text
    return r.json()


async def _holding(event_id):
    event = await OpenEvent.get(id=event_id)
    rows = await Registration.filter(event_id=event_id, status__in=("confirmed", "offered"))
    assert event.taken == sum(r.places for r in rows) <= event.capacity
    return event.taken


async def test_cancellation_offers_the_place_to_the_first_waiting_person(client, mailbox):
    org = await organizer(client)
    event = await create_event(client, org, capacity=1)
    a, b, c = await residents(3)
    first = await _register(client, event["id"], a)
    second = await _register(client, event["id"], b)
    await _register(client, event["id"], c)
    r = await client.delete(f"/api/v1/registrations/{first['id']}", headers=a["headers"])
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    offered = await Registration.get(id=second["id"])
    assert offered.status == "offered"
    assert offered.offered_until == clock.now().replace(microsecond=0) + timedelta(hours=24) or (
        abs((offered.offered_until - clock.now() - timedelta(hours=24)).total_seconds()) < 5
    )
    assert await _holding(event["id"]) == 1
    shown = (await client.get(f"/api/v1/events/{event['id']}")).json()
    assert (shown["confirmed"], shown["offered"], shown["waitlisted"]) == (0, 1, 1)
    await mailbox.deliver()
    assert any("候补递补" in str(m["Subject"]) for m in mailbox.to(b["email"]))
    assert any("报名已取消" in str(m["Subject"]) for m in mailbox.to(a["email"]))
    assert not any("候补递补" in str(m["Subject"]) for m in mailbox.to(c["email"]))


async def test_offered_person_confirms_and_gets_a_ticket(client, mailbox):
    org = await organizer(client)
    event = await create_event(client, org, capacity=1)
    a, b = await residents(2)
    first = await _register(client, event["id"], a)
    second = await _register(client, event["id"], b)
    await client.delete(f"/api/v1/registrations/{first['id']}", headers=a["headers"])
    r = await client.post(f"/api/v1/registrations/{second['id']}/confirm", headers=b["headers"])
    assert r.status_code == 200
    assert r.json()["status"] == "confirmed" and len(r.json()["ticket_code"]) == 10
    assert await _holding(event["id"]) == 1
    again = await client.post(f"/api/v1/registrations/{second['id']}/confirm", headers=b["headers"])
    assert again.status_code == 409
    await mailbox.deliver()
    confirmation = [m for m in mailbox.to(b["email"]) if "报名成功" in str(m["Subject"])]
    assert (
        confirmation
        and r.json()["ticket_code"] in confirmation[0].get_body(("plain",)).get_content()
    )


async def test_only_the_owner_may_cancel_or_confirm(client):
    org = await organizer(client)
    event = await create_event(client, org, capacity=1)
    a, b = await residents(2)
    first = await _register(client, event["id"], a)
    assert (
        await client.delete(f"/api/v1/registrations/{first['id']}", headers=b["headers"])
    ).status_code == 403
    assert (
        await client.post(f"/api/v1/registrations/{first['id']}/confirm", headers=b["headers"])
    ).status_code == 403
    assert (
        await client.delete("/api/v1/registrations/999", headers=b["headers"])
    ).status_code == 404
    assert (await Registration.get(id=first["id"])).status == "confirmed"


async def test_cancelling_twice_is_a_conflict(client):
    org = await organizer(client)
    event = await create_event(client, org)
    [a] = await residents(1)
    first = await _register(client, event["id"], a)
    assert (
        await client.delete(f"/api/v1/registrations/{first['id']}", headers=a["headers"])
    ).status_code == 200
    r = await client.delete(f"/api/v1/registrations/{first['id']}", headers=a["headers"])
    assert r.status_code == 409


async def test_cancellation_after_the_cutoff_is_refused(client):
    org = await organizer(client)
    now = clock.now()
    event = await create_event(client, org, cancellation_closes_at=iso(now + timedelta(days=5)))
    [a] = await residents(1)
    first = await _register(client, event["id"], a)
    clock.travel(timedelta(days=5, seconds=1))
    r = await client.delete(f"/api/v1/registrations/{first['id']}", headers=a["headers"])
    assert r.status_code == 422 and r.json()["error"]["code"] == "cancellation_closed"
    assert (await Registration.get(id=first["id"])).status == "confirmed"


async def test_unanswered_offer_expires_and_passes_on(client, mailbox):
    org = await organizer(client)
    event = await create_event(client, org, capacity=1)
    a, b, c = await residents(3)
    first = await _register(client, event["id"], a)
    second = await _register(client, event["id"], b)
    third = await _register(client, event["id"], c)
    await client.delete(f"/api/v1/registrations/{first['id']}", headers=a["headers"])
    clock.travel(timedelta(hours=23, minutes=59))
    assert await service.expire_offers() == 0
    clock.travel(timedelta(minutes=2))
    assert await service.expire_offers() == 1
    assert await service.expire_offers() == 0
    assert (await Registration.get(id=second["id"])).status == "expired"
    assert (await Registration.get(id=third["id"])).status == "offered"
    assert await _holding(event["id"]) == 1
    late = await client.post(f"/api/v1/registrations/{second['id']}/confirm", headers=b["headers"])
    assert late.status_code == 409
    await mailbox.deliver()
    assert any("已过期" in str(m["Subject"]) for m in mailbox.to(b["email"]))
    assert any("候补递补" in str(m["Subject"]) for m in mailbox.to(c["email"]))


async def test_confirming_after_the_deadline_but_before_the_job_is_refused(client):
    org = await organizer(client)
    event = await create_event(client, org, capacity=1)
    a, b = await residents(2)
    first = await _register(client, event["id"], a)
    second = await _register(client, event["id"], b)
    await client.delete(f"/api/v1/registrations/{first['id']}", headers=a["headers"])
    clock.travel(timedelta(hours=24, seconds=1))
    r = await client.post(f"/api/v1/registrations/{second['id']}/confirm", headers=b["headers"])
    assert r.status_code == 422 and r.json()["error"]["code"] == "offer_expired"


async def test_offer_hours_are_configurable_and_never_outlast_the_start(client):
    service.configure(offer_hours=2)
    org = await organizer(client)
    event = await create_event(client, org, capacity=1)
    a, b = await residents(2)
    first = await _register(client, event["id"], a)
    second = await _register(client, event["id"], b)
    await client.delete(f"/api/v1/registrations/{first['id']}", headers=a["headers"])
    offered = await Registration.get(id=second["id"])
    assert abs((offered.offered_until - clock.now() - timedelta(hours=2)).total_seconds()) < 5
    service.configure(offer_hours=24 * 30)
    c = (await residents(1, prefix="late"))[0]
    await _register(client, event["id"], c)
    await client.delete(f"/api/v1/registrations/{second['id']}", headers=b["headers"])
    stored = await OpenEvent.get(id=event["id"])
    assert (await Registration.get(person_key=f"r{c['id']}")).offered_until == stored.starts_at


async def test_declining_an_offer_passes_it_on(client):
    org = await organizer(client)
    event = await create_event(client, org, capacity=1)
    a, b, c = await residents(3)
    first = await _register(client, event["id"], a)
    second = await _register(client, event["id"], b)
    third = await _register(client, event["id"], c)
    await client.delete(f"/api/v1/registrations/{first['id']}", headers=a["headers"])
    await client.delete(f"/api/v1/registrations/{second['id']}", headers=b["headers"])
    assert (await Registration.get(id=third["id"])).status == "offered"
    assert await _holding(event["id"]) == 1


async def test_cancelling_a_waiting_registration_frees_nothing(client):
    org = await organizer(client)
    event = await create_event(client, org, capacity=1)
    a, b = await residents(2)
    await _register(client, event["id"], a)
    second = await _register(client, event["id"], b)
    await client.delete(f"/api/v1/registrations/{second['id']}", headers=b["headers"])
    assert await _holding(event["id"]) == 1


async def test_monthly_cap_applies_when_accepting_an_offer(client):
    service.configure(places_per_month=1)
    org = await organizer(client)
    full = await create_event(client, org, capacity=1, title="满员活动")
    other = await create_event(client, org, title="另一个活动")
    a, b = await residents(2)
    first = await _register(client, full["id"], a)
    waiting = await _register(client, full["id"], b)
    await _register(client, other["id"], b)
    await client.delete(f"/api/v1/registrations/{first['id']}", headers=a["headers"])
    r = await client.post(f"/api/v1/registrations/{waiting['id']}/confirm", headers=b["headers"])
    assert r.status_code == 422 and r.json()["error"]["code"] == "monthly_limit"
    assert (await Registration.get(id=waiting["id"])).status == "offered"
