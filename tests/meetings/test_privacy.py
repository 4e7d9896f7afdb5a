"""A resident's applications: in their data download only; anonymized when the account is
deleted (the published draw still verifies and agrees with the rows); purged after the
retention period, with an audit entry."""

from __future__ import annotations

import json
from datetime import timedelta

from canyu.accounts import privacy
from canyu.accounts import service as accounts
from canyu.accounts.models import Resident
from canyu.audit.models import AuditEntry
from canyu.core import clock
from canyu.core.permissions import Principal
from canyu.meetings import selection, service
from canyu.meetings.models import Application, Invitation, Suggestion
from canyu.notify.models import OutboxMail
from conftest import html_staff_sign_in, staff_headers
from meetings.helpers import STAFF, application_body, meeting_body


async def _residents(n: int) -> list[dict]:
    """Verified residents with API tokens (the mailed-code flow has its own tests)."""
    now = clock.now()
    made = []
    for i in range(n):
        email = f"daibiao{i}@example.com"
        resident = await Resident.create(
            email_hmac=accounts.email_identity(email),
            email=email,
            name=f"代表{i}",
            created_at=now,
            verified_at=now,
        )
        token = await accounts.issue_token(resident=resident, kind="api")
        made.append(
            {
                "id": resident.id,
                "principal": Principal("resident", resident.id, email),
                "headers": {"Authorization": f"Bearer {token}"},
            }
        )
    return made


async def _apply_all(meeting_id: int, people: list[dict]) -> dict[int, dict]:
    """Each person applies and is qualified; the answer maps application id to the person."""
    by_application = {}
    for i, person in enumerate(people):
        app = await service.apply(person["principal"], meeting_id, application_body(i))
        await service.review(STAFF, app.id, "qualified")
        by_application[app.id] = person
    return by_application


def _pool_rows(meeting, applications) -> list[dict]:
    day = service.close_day(meeting)
    return [
        {
            "id": a.id,
            "category": a.category,
            "gender": a.gender,
            "district": a.district,
            "age_band": service.age_band(a.birth_year, day),
        }
        for a in sorted(applications, key=lambda a: a.id)
    ]


async def test_export_holds_own_applications_only_and_deletion_keeps_the_draw_verifiable(
    client, mailbox
):
    meeting = await service.create_meeting(STAFF, meeting_body())
    people = await _residents(7)
    by_application = await _apply_all(meeting.id, people)
    clock.travel(timedelta(days=5, minutes=1))
    await service.start_commitment(STAFF, meeting.id, 120, wait=True)
    record = await service.draw_delegates(STAFF, meeting.id, "42 17 3")
    delegate_app = record["selected"][0]
    me = by_application[delegate_app]
    invitation = await Invitation.get(application_id=delegate_app)
    await service.respond(invitation.token, accept=True)
    topic = (await service.topics_of(meeting))[0]
    suggestion = await service.add_suggestion(
        me["principal"], meeting.id, {"topic_id": topic.id, "body": "补贴应覆盖低层住户"}
    )
    # A later meeting whose pool is not frozen yet.
    later = await service.create_meeting(STAFF, meeting_body(title="公共停车收费听取意见会"))
    later_app = await service.apply(me["principal"], later.id, application_body(0, name="李明"))
    my_name = (await Application.get(id=delegate_app)).name

    r = await client.get("/api/v1/me/data", headers=me["headers"])
    assert r.status_code == 200
    mine = r.json()["meetings"]
    assert [(a["id"], a["name"]) for a in mine] == [(delegate_app, my_name), (later_app.id, "李明")]
    first = mine[0]
    assert first["email"] == f"daibiao{people.index(me)}@example.com"
    assert first["drawn_as"] == "selected" and first["invitation"]["status"] == "accepted"
    assert [s["body"] for s in first["suggestions"]] == ["补贴应覆盖低层住户"]
    others = [a for a in await Application.filter(meeting_id=meeting.id) if a.id != delegate_app]
    text = json.dumps(r.json(), ensure_ascii=False)
    assert all(a.name not in text and a.email not in text for a in others)

    assert (await client.delete("/api/v1/me", headers=me["headers"])).status_code == 200

    row = await Application.get(id=delegate_app)
    assert (row.name, row.email, row.occupation, row.reason, row.review_reason) == ("",) * 5
    assert row.resident_id == -row.id and row.keep_in_pool is False
    assert row.status == "qualified"  # in the frozen pool, as published
    assert not await Application.filter(resident_id=me["id"]).exists()
    assert (await Application.get(id=later_app.id)).status == "withdrawn"
    assert (await Application.get(id=later_app.id)).name == ""
    # The seat is given back; the next alternate in the recorded order is invited.
    assert (await Invitation.get(application_id=delegate_app)).status == "declined"
    await service.expire_invitations()
    alternate = await Invitation.get(meeting_id=meeting.id, kind="alternate")
    assert alternate.application_id == record["alternates"][0]
    # The draw: the record is unchanged, verifies, and still agrees with the rows.
    meeting = await service.get_meeting(meeting.id)
    assert meeting.record == record and selection.verify_record(meeting.record) == []
    assert _pool_rows(meeting, await Application.filter(meeting_id=meeting.id)) == record["pool"]
    # The suggestion stays, attached to the anonymous application.
    kept = await Suggestion.get(id=suggestion.id)
    assert (kept.body, kept.application_id) == ("补贴应覆盖低层住户", delegate_app)
    # The others are untouched.
    for a in others:
        again = await Application.get(id=a.id)
        assert (again.name, again.email, again.resident_id) == (a.name, a.email, a.resident_id)


async def test_retention_purge_clears_held_meetings_only_and_is_audited(client, mailbox):
    old = await service.create_meeting(STAFF, meeting_body())
    recent = await service.create_meeting(
        STAFF,
        meeting_body(
            title="公共停车收费听取意见会",
            meets_at=(clock.now() + timedelta(days=400)).isoformat(),
        ),
    )
    people = await _residents(7)
    await _apply_all(old.id, people)
    await _apply_all(recent.id, people[:2])
    clock.travel(timedelta(days=5, minutes=1))
    await service.start_commitment(STAFF, old.id, 120, wait=True)
    record = await service.draw_delegates(STAFF, old.id, "42 17 3")
    await Application.filter(meeting_id=old.id).update(review_reason="材料齐全")

    clock.travel(timedelta(days=5 + 365 + 1))
    result = await privacy.purge_expired(365)
    assert result["meetings"] == 7
    for a in await Application.filter(meeting_id=old.id):
        assert (a.name, a.email, a.occupation, a.reason, a.review_reason) == ("",) * 5
        assert a.keep_in_pool is False and a.resident_id > 0
    assert all(a.name for a in await Application.filter(meeting_id=recent.id))
    old = await service.get_meeting(old.id)
    assert old.record == record and selection.verify_record(old.record) == []
    assert _pool_rows(old, await Application.filter(meeting_id=old.id)) == record["pool"]
    [entry] = await AuditEntry.filter(action="privacy.purged", target_type="meetings")
    assert entry.details["records"] == 7

    assert (await privacy.purge_expired(365))["meetings"] == 0
    assert await AuditEntry.filter(action="privacy.purged", target_type="meetings").count() == 1


async def _declines() -> list[AuditEntry]:
    return await AuditEntry.filter(action="meeting.invitation_declined").order_by("id")


async def test_a_drawn_applicant_who_deleted_the_account_is_declined_and_the_alternate_invited(
    client, mailbox
):
    meeting = await service.create_meeting(STAFF, meeting_body())
    people = await _residents(7)
    by_application = await _apply_all(meeting.id, people)
    clock.travel(timedelta(days=5, minutes=1))
    await service.start_commitment(STAFF, meeting.id, 120, wait=True)
    meeting = await service.get_meeting(meeting.id)
    expected = selection.draw(meeting.commitment, "42 17 3")  # the draw is a pure function
    gone_app = expected["selected"][0]
    gone = by_application[gone_app]
    # The pool is frozen: the application stays in it, without name, email or account.
    assert (await client.delete("/api/v1/me", headers=gone["headers"])).status_code == 200
    await mailbox.deliver()
    mailbox.clear()

    record = await service.draw_delegates(STAFF, meeting.id, "42 17 3")

    # The lottery result is the one published and verifiable, not a re-draw without the person.
    assert record == expected and selection.verify_record(record) == []
    meeting = await service.get_meeting(meeting.id)
    assert meeting.record == expected
    declined = await Invitation.get(application_id=gone_app)
    assert (declined.kind, declined.status) == ("selected", "declined")
    assert declined.responded_at is not None
    [entry] = await _declines()
    assert entry.target_id == str(declined.id) and entry.actor_kind == "system"
    assert entry.details["reason"] == "account_deleted"
    assert entry.details["application_id"] == gone_app
    # The seat goes to the first alternate in the recorded order, in the same step.
    alternate = await Invitation.get(meeting_id=meeting.id, kind="alternate")
    assert (alternate.application_id, alternate.status) == (record["alternates"][0], "invited")
    holding = await Invitation.filter(meeting_id=meeting.id, status="invited").count()
    assert holding == meeting.seats
    # No mail to an empty address: every invitation mail reaches its person.
    assert not await OutboxMail.filter(to_addr="").exists()
    await mailbox.deliver()
    assert await OutboxMail.filter(status__not="sent").count() == 0
    invited = [*record["selected"][1:], record["alternates"][0]]
    for app_id in invited:
        assert len(mailbox.to(by_application[app_id]["principal"].name)) == 1
    assert len(mailbox.messages) == len(invited)
    # The organizer's roster says who is gone and that the seat was declined.
    await html_staff_sign_in(client, "guanli", "admin")
    page = (await client.get(f"/staff/meetings/{meeting.id}")).text
    assert f"<tr><td>{gone_app}</td><td>（已注销账号）</td>" in page
    assert "<tr><td>（已注销账号）</td><td>入选</td><td>已谢绝</td>" in page


async def test_the_invitation_job_skips_an_alternate_who_deleted_the_account(client, mailbox):
    meeting = await service.create_meeting(STAFF, meeting_body())
    people = await _residents(7)
    by_application = await _apply_all(meeting.id, people)
    clock.travel(timedelta(days=5, minutes=1))
    await service.start_commitment(STAFF, meeting.id, 120, wait=True)
    record = await service.draw_delegates(STAFF, meeting.id, "42 17 3")
    silent, leaving, coming = record["selected"]
    first_alternate, second_alternate = record["alternates"]
    await mailbox.deliver()
    mailbox.clear()
    # The first alternate deletes the account before their turn comes.
    headers = by_application[first_alternate]["headers"]
    assert (await client.delete("/api/v1/me", headers=headers)).status_code == 200
    # A delegate who had accepted deletes the account: the seat is declined, with the reason.
    await service.respond((await Invitation.get(application_id=leaving)).token, accept=True)
    await service.respond((await Invitation.get(application_id=coming)).token, accept=True)
    headers = by_application[leaving]["headers"]
    assert (await client.delete("/api/v1/me", headers=headers)).status_code == 200
    assert (await Invitation.get(application_id=leaving)).status == "declined"
    [entry] = await _declines()
    assert entry.details["reason"] == "account_deleted"
    assert entry.details["application_id"] == leaving

    # The silent one's deadline passes: the every-minute job moves the alternates up.
    clock.travel(timedelta(hours=73))
    await service.expire_invitations()

    assert (await Invitation.get(application_id=silent)).status == "expired"
    skipped = await Invitation.get(application_id=first_alternate)
    assert (skipped.kind, skipped.status) == ("alternate", "declined")
    assert [e.details["application_id"] for e in await _declines()] == [leaving, first_alternate]
    assert all(e.details["reason"] == "account_deleted" for e in await _declines())
    moved_up = await Invitation.get(application_id=second_alternate)
    assert (moved_up.kind, moved_up.status) == ("alternate", "invited")
    assert not await OutboxMail.filter(to_addr="").exists()
    await mailbox.deliver()
    assert await OutboxMail.filter(status__not="sent").count() == 0
    assert len(mailbox.to(by_application[second_alternate]["principal"].name)) == 1
    assert len(mailbox.messages) == 1
    # The next runs find nothing more to do: the declined alternate is not looked at again.
    invitations = await Invitation.filter(meeting_id=meeting.id).count()
    await service.expire_invitations()
    assert await Invitation.filter(meeting_id=meeting.id).count() == invitations
    assert len(await _declines()) == 2
    meeting = await service.get_meeting(meeting.id)
    assert meeting.record == record and selection.verify_record(meeting.record) == []


async def test_an_application_whose_author_deleted_the_account_cannot_be_reviewed(client, mailbox):
    meeting = await service.create_meeting(STAFF, meeting_body())
    [person] = await _residents(1)
    app = await service.apply(person["principal"], meeting.id, application_body(0))
    await service.review(STAFF, app.id, "rejected", "材料不全")
    assert (await client.delete("/api/v1/me", headers=person["headers"])).status_code == 200
    await mailbox.deliver()
    mailbox.clear()
    before = await OutboxMail.all().count()
    headers = await staff_headers(client, "guanli", "admin")

    r = await client.post(
        f"/api/v1/applications/{app.id}/review", json={"decision": "qualified"}, headers=headers
    )

    assert r.status_code == 409
    assert r.json()["error"]["code"] == "applicant_deleted"
    assert "注销" in r.json()["error"]["message"]
    row = await Application.get(id=app.id)
    assert (row.status, row.review_reason, row.resident_id) == ("rejected", "", -app.id)
    assert await OutboxMail.all().count() == before
    pool, _ = await service.frozen_pool(meeting)
    assert pool == []
