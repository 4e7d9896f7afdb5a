"""A resident's registrations and ratings: in their data download only; anonymized when the
account is deleted (an upcoming place goes to the waiting list, counters still reconcile);
purged after the retention period with an audit entry, counts and ratings kept."""

from __future__ import annotations

import json
from datetime import timedelta

from canyu.accounts import privacy
from canyu.audit.models import AuditEntry
from canyu.core import clock
from canyu.core.permissions import Principal
from canyu.notify.models import OutboxMail
from canyu.openmonth import service
from canyu.openmonth.models import MonthlyPlaces, OpenEvent, Rating, Registration
from canyu.openmonth.privacy import export_personal_data
from openmonth.conftest import create_event, iso, organizer, principal, residents

ADMIN = Principal("staff", 1, "管理员", role="admin")


async def _register(client, event_id, person, **body):
    if "id_number" in body:
        body.setdefault("id_number_consent", True)
    r = await client.post(
        f"/api/v1/events/{event_id}/registrations", json=body, headers=person["headers"]
    )
    assert r.status_code == 201, r.text
    return await Registration.get(id=r.json()["id"])


async def _profile(client, person, name, phone):
    r = await client.put(
        "/api/v1/me", json={"name": name, "phone": phone}, headers=person["headers"]
    )
    assert r.status_code == 200, r.text


async def test_export_holds_own_registrations_only_and_deletion_keeps_counts_exact(client, mailbox):
    service.configure(places_per_month=6)
    org = await organizer(client)
    me, other = await residents(2)
    await _profile(client, me, "孙悦", "13800001111")
    await _profile(client, other, "钱多", "13900002222")
    past = await create_event(client, org, capacity=5, max_companions=2)
    mine_past = await _register(client, past["id"], me, companions=1)
    theirs_past = await _register(client, past["id"], other)
    await service.check_in(ADMIN, mine_past.ticket_code)
    await service.check_in(ADMIN, theirs_past.ticket_code)
    clock.travel(timedelta(days=10, hours=3))
    await service.rate_event(principal(me), past["id"], 4, "讲解清楚")
    await service.rate_event(principal(other), past["id"], 2, "时间太短")
    upcoming = await create_event(client, org, title="走进张江科学城", capacity=2, max_companions=1)
    mine_next = await _register(
        client, upcoming["id"], me, companions=1, child_companions=1, guardian_consent=True
    )
    waiting = await _register(client, upcoming["id"], other)
    assert (mine_next.status, waiting.status) == ("confirmed", "waitlisted")

    r = await client.get("/api/v1/me/data", headers=me["headers"])
    assert r.status_code == 200
    data = r.json()["openmonth"]
    assert [
        (x["id"], x["name"], x["phone"], x["status"], x["companions"], x["ticket_code"])
        for x in data["registrations"]
    ] == [
        (mine_past.id, "孙悦", "13800001111", "confirmed", 1, mine_past.ticket_code),
        (mine_next.id, "孙悦", "13800001111", "confirmed", 1, mine_next.ticket_code),
    ]
    assert data["registrations"][1]["child_companions"] == 1
    assert data["registrations"][0]["checked_in_at"] is not None
    assert [(x["stars"], x["comment"]) for x in data["ratings"]] == [(4, "讲解清楚")]
    text = json.dumps(r.json(), ensure_ascii=False)
    assert "钱多" not in text and "13900002222" not in text and "时间太短" not in text
    assert theirs_past.ticket_code not in text

    mails_to_me = await OutboxMail.filter(to_addr=me["email"]).count()
    assert (await client.delete("/api/v1/me", headers=me["headers"])).status_code == 200

    for row in await Registration.filter(id__in=(mine_past.id, mine_next.id)):
        assert (row.name, row.phone, row.email, row.resident_id) == ("", "", "", None)
        assert row.person_key == f"anon:{row.id}"
    assert not await Registration.filter(resident_id=me["id"]).exists()
    # The past registration keeps what the counts need.
    kept = await Registration.get(id=mine_past.id)
    assert (kept.status, kept.places, kept.companions) == ("confirmed", 2, 1)
    assert kept.checked_in_at is not None
    # The upcoming place was given up and offered to the waiting list; counters reconcile.
    assert (await Registration.get(id=mine_next.id)).status == "cancelled"
    assert (await Registration.get(id=waiting.id)).status == "offered"
    assert (await OpenEvent.get(id=upcoming["id"])).taken == 1
    assert (await OpenEvent.get(id=past["id"])).taken == 3
    assert await service.reconcile() == []
    # Ratings stay, anonymous: the average and attendance are unchanged.
    assert await Rating.filter(event_id=past["id"]).count() == 2
    assert not await Rating.filter(person_key=f"r{me['id']}").exists()
    brief = await service.event_brief(past["id"])
    assert (brief["average_rating"], brief["rating_count"], brief["attendee_count"]) == (3.0, 2, 3)
    assert not await MonthlyPlaces.filter(person_key=f"r{me['id']}").exists()
    # No mail went to the erased address; the other person's rows are untouched.
    assert await OutboxMail.filter(to_addr=me["email"]).count() == mails_to_me
    assert (await Registration.get(id=theirs_past.id)).name == "钱多"
    assert await export_personal_data(me["id"]) == {"registrations": [], "ratings": []}


async def test_retention_purge_clears_ended_events_only_and_is_audited(client, mailbox):
    org = await organizer(client)
    [me] = await residents(1)
    await _profile(client, me, "孙悦", "13800001111")
    now = clock.now()
    old = await create_event(client, org, capacity=5, max_companions=1)
    recent = await create_event(
        client,
        org,
        title="走进张江科学城",
        starts_at=iso(now + timedelta(days=500)),
        ends_at=iso(now + timedelta(days=500, hours=2)),
    )
    mine_old = await _register(client, old["id"], me, companions=1)
    mine_recent = await _register(client, recent["id"], me)
    by_phone = await service.register_by_phone(ADMIN, old["id"], name="周敏", phone="13700003333")
    await service.check_in(ADMIN, mine_old.ticket_code)
    clock.travel(timedelta(days=10, hours=3))
    await service.rate_event(principal(me), old["id"], 5, "很有收获")
    assert await MonthlyPlaces.all().count() == 3

    # 40 more days: the cutoff falls in a later month than the old event's.
    clock.travel(timedelta(days=365 + 40))
    result = await privacy.purge_expired(365)
    # Two registrations and a rating of the old event, two month counters of its month.
    assert result["openmonth"] == 5
    for row in await Registration.filter(id__in=(mine_old.id, by_phone.id)):
        assert (row.name, row.phone, row.email, row.resident_id) == ("", "", "", None)
        assert row.person_key == f"anon:{row.id}"
        assert row.status == "confirmed"
    assert (await Registration.get(id=mine_old.id)).places == 2
    [rating] = await Rating.filter(event_id=old["id"])
    assert (rating.stars, rating.comment, rating.person_key) == (5, "很有收获", f"anon:{rating.id}")
    brief = await service.event_brief(old["id"])
    assert (brief["average_rating"], brief["attendee_count"]) == (5.0, 2)
    kept = await Registration.get(id=mine_recent.id)
    assert (kept.name, kept.phone, kept.resident_id) == ("孙悦", "13800001111", me["id"])
    assert [m.person_key for m in await MonthlyPlaces.all()] == [f"r{me['id']}"]
    assert await service.reconcile() == []
    [entry] = await AuditEntry.filter(action="privacy.purged", target_type="openmonth")
    assert entry.details["records"] == 5

    assert (await privacy.purge_expired(365))["openmonth"] == 0
    assert await AuditEntry.filter(action="privacy.purged", target_type="openmonth").count() == 1


async def test_id_numbers_are_exported_masked_and_cleared_by_deletion_and_the_purge(
    client, mailbox
):
    from canyu.core.id_numbers import check_character
    from canyu.core.security import decrypt

    def number(first17: str) -> str:
        return first17 + check_character(first17)

    mine_id, other_id, caller_id = (
        number("31011519700101123"),
        number("31011519800202234"),
        number("31011519900303345"),
    )
    org = await organizer(client)
    me, other = await residents(2)
    now = clock.now()
    old = await create_event(client, org, id_check=True, capacity=5)
    upcoming = await create_event(
        client,
        org,
        id_check=True,
        title="走进张江科学城",
        starts_at=iso(now + timedelta(days=500)),
        ends_at=iso(now + timedelta(days=500, hours=2)),
    )
    mine_old = await _register(client, old["id"], me, id_number=mine_id)
    mine_next = await _register(client, upcoming["id"], me, id_number=mine_id)
    theirs = await _register(client, upcoming["id"], other, id_number=other_id)
    by_phone = await service.register_by_phone(
        ADMIN, old["id"], name="周敏", phone="13700003333", id_number=caller_id,
        id_number_consent=True,
    )

    # The data download shows the resident's own number masked, never whole, nobody else's.
    r = await client.get("/api/v1/me/data", headers=me["headers"])
    rows = r.json()["openmonth"]["registrations"]
    masked = mine_id[:4] + "**********" + mine_id[-4:]
    assert [(x["id"], x["id_number"]) for x in rows] == [
        (mine_old.id, masked),
        (mine_next.id, masked),
    ]
    for whole in (mine_id, mine_id[4:14], other_id[4:14], caller_id[4:14]):
        assert whole not in r.text

    # Deleting the account clears the encrypted number and its hash of every registration.
    assert (await client.delete("/api/v1/me", headers=me["headers"])).status_code == 200
    for row in await Registration.filter(id__in=(mine_old.id, mine_next.id)):
        assert (row.id_number_encrypted, row.id_number_hash) == ("", None)
    kept = await Registration.get(id=theirs.id)
    assert decrypt(kept.id_number_encrypted) == other_id and kept.id_number_hash

    # The retention purge clears it for the ended event only (the hotline caller here).
    clock.travel(timedelta(days=365 + 40))
    await privacy.purge_expired(365)
    purged = await Registration.get(id=by_phone.id)
    assert (purged.id_number_encrypted, purged.id_number_hash) == ("", None)
    assert decrypt((await Registration.get(id=theirs.id)).id_number_encrypted) == other_id
