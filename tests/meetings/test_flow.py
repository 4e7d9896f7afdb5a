"""Invitations and alternates, check-in, suggestions tracked to an answer, the re-selection rule,
editing and withdrawing, and the HTML pages (public page masked, forms without JavaScript)."""

from __future__ import annotations

from datetime import timedelta

from canyu.core import clock
from canyu.core.errors import DomainError
from canyu.core.permissions import Principal
from canyu.meetings import service
from canyu.meetings.models import Application, Invitation, Meeting, Suggestion
from conftest import csrf_of, html_sign_in, text_of
from meetings.helpers import STAFF, application_body, fill_pool, meeting_body


async def _drawn_meeting(n: int = 7, **overrides) -> tuple:
    meeting = await service.create_meeting(STAFF, meeting_body(**overrides))
    await fill_pool(meeting.id, n)
    clock.travel(timedelta(days=5, minutes=1))
    await service.start_commitment(STAFF, meeting.id, 120, wait=True)
    record = await service.draw_delegates(STAFF, meeting.id, "42 17 3")
    return await service.get_meeting(meeting.id), record


async def test_decline_invites_next_alternate_in_recorded_order(db, mailbox):
    meeting, record = await _drawn_meeting()
    first = await Invitation.filter(meeting_id=meeting.id).order_by("id").first()
    await service.respond(first.token, accept=False)
    alternate = await Invitation.get(meeting_id=meeting.id, kind="alternate")
    assert alternate.application_id == record["alternates"][0]
    await mailbox.deliver()
    chosen = await Application.get(id=record["alternates"][0])
    assert any("列席代表" in text_of(m) for m in mailbox.to(chosen.email))


async def test_silence_past_deadline_expires_and_invites_next(db):
    meeting, record = await _drawn_meeting()
    invitations = await Invitation.filter(meeting_id=meeting.id).order_by("id")
    await service.respond(invitations[0].token, accept=True)
    await service.respond(invitations[1].token, accept=True)
    clock.travel(timedelta(hours=meeting.confirm_hours + 1))
    assert await service.expire_invitations() == 1
    assert (await Invitation.get(id=invitations[2].id)).status == "expired"
    alternates = await Invitation.filter(meeting_id=meeting.id, kind="alternate")
    assert [a.application_id for a in alternates] == record["alternates"][:1]


async def test_answer_twice_is_refused_and_checkin_only_once(db):
    meeting, _ = await _drawn_meeting()
    invitation = await Invitation.filter(meeting_id=meeting.id).order_by("id").first()
    await service.respond(invitation.token, accept=True)
    try:
        await service.respond(invitation.token, accept=False)
        raise AssertionError("second answer accepted")
    except DomainError as exc:
        assert exc.status == 409
    await service.check_in(STAFF, invitation.id)
    try:
        await service.check_in(STAFF, invitation.id)
        raise AssertionError("second check-in accepted")
    except DomainError as exc:
        assert exc.code == "already_checked_in"


async def test_suggestion_answered_is_mailed_and_overdue_listed(db, mailbox):
    meeting, _ = await _drawn_meeting()
    invitation = (
        await Invitation.filter(meeting_id=meeting.id)
        .order_by("id")
        .first()
        .prefetch_related("application")
    )
    await service.respond(invitation.token, accept=True)
    delegate = Principal("resident", invitation.application.resident_id, "代表")
    topic = (await service.topics_of(meeting))[0]
    suggestion = await service.add_suggestion(
        delegate, meeting.id, {"topic_id": topic.id, "body": "补贴应覆盖低层住户"}
    )
    outsider = Principal("resident", 999999, "路人")
    try:
        await service.add_suggestion(outsider, meeting.id, {"topic_id": topic.id, "body": "x"})
        raise AssertionError("non-delegate suggestion accepted")
    except DomainError as exc:
        assert exc.status == 403
    clock.travel(timedelta(days=31))
    assert [s.id for s in await service.overdue_suggestions(STAFF)] == [suggestion.id]
    try:
        await service.answer_suggestion(STAFF, suggestion.id, "processing", "x")
        raise AssertionError
    except DomainError:
        pass
    await service.answer_suggestion(STAFF, suggestion.id, "partly_adopted", "低层住户按比例分摊。")
    assert await service.overdue_suggestions(STAFF) == []
    await mailbox.deliver()
    # The outbox may deliver in any order: look for the answer among the delegate's mails.
    assert any("低层住户按比例分摊" in text_of(m) for m in mailbox.to(invitation.application.email))
    assert (await Suggestion.get(id=suggestion.id)).status == "partly_adopted"


async def test_recently_selected_delegate_is_left_out_of_next_pool(db):
    meeting, _ = await _drawn_meeting()
    invitation = (
        await Invitation.filter(meeting_id=meeting.id)
        .order_by("id")
        .first()
        .prefetch_related("application")
    )
    await service.respond(invitation.token, accept=True)
    clock.reset()
    later = await service.create_meeting(
        STAFF, meeting_body(meets_at=(clock.now() + timedelta(days=40)).isoformat())
    )
    await fill_pool(later.id, 7)
    pool, excluded = await service.frozen_pool(later)
    again = await Application.get(
        meeting_id=later.id, resident_id=invitation.application.resident_id
    )
    assert excluded == [again.id] and again.id not in [r["id"] for r in pool]


async def test_edit_and_withdraw_until_close(db):
    meeting = await service.create_meeting(STAFF, meeting_body())
    me = Principal("resident", 5, "居民")
    app = await service.apply(me, meeting.id, application_body(), email="x@example.com")
    await service.update_application(me, app.id, application_body(occupation="医生"))
    assert (await Application.get(id=app.id)).occupation == "医生"
    await service.withdraw_application(me, app.id)
    assert (await Application.get(id=app.id)).status == "withdrawn"
    clock.travel(timedelta(days=6))
    try:
        await service.update_application(me, app.id, application_body())
        raise AssertionError
    except DomainError as exc:
        assert exc.code == "closed"


async def test_public_page_shows_masked_roster_record_and_answers(client, db):
    meeting, record = await _drawn_meeting()
    invitation = (
        await Invitation.filter(meeting_id=meeting.id)
        .order_by("id")
        .first()
        .prefetch_related("application")
    )
    await service.respond(invitation.token, accept=True)
    topic = (await service.topics_of(meeting))[0]
    s = await service.add_suggestion(
        STAFF, meeting.id, {"topic_id": topic.id, "body": "增加无障碍坡道"}
    )
    await service.answer_suggestion(STAFF, s.id, "adopted", "已纳入实施方案。")
    page = (await client.get(f"/meetings/{meeting.id}")).text
    name = invitation.application.name
    assert name not in page and name[0] + "*" in page
    assert (
        record["commitment_sha256"] in page
        and "已纳入实施方案" in page
        and "增加无障碍坡道" in page
    )
    r = await client.get(f"/meetings/{meeting.id}/draw.json")
    assert r.status_code == 200 and r.json()["seed"] == "42 17 3"
    assert (await client.get("/meetings/999999")).status_code == 404
    assert (await client.get(f"/meetings/{meeting.id}/other.json")).status_code == 404
    assert (await client.get(f"/meetings/{meeting.id}/commitment.json")).json()["status"] == "ready"
    assert "meetings" in (await client.get("/meetings")).text


async def test_html_application_form_rerenders_with_error_and_keeps_input(client, mailbox, db):
    meeting = await service.create_meeting(STAFF, meeting_body())
    await html_sign_in(client, mailbox, "h@example.com")
    page = await client.get(f"/meetings/{meeting.id}/apply")
    assert page.status_code == 200
    token = csrf_of(page.text)
    form = {
        k: str(v) for k, v in application_body(occupation="快递员").items() if k not in ("consent",)
    }
    form["no_conflict"] = "1"
    r = await client.post(f"/meetings/{meeting.id}/apply", data={**form, "csrf_token": token})
    assert r.status_code == 422 and "快递员" in r.text and "同意" in r.text
    assert await Application.all().count() == 0
    r = await client.post(
        f"/meetings/{meeting.id}/apply", data={**form, "consent": "1", "csrf_token": token}
    )
    assert r.status_code == 303
    assert await Application.filter(occupation="快递员").count() == 1
    assert "资格审查" in (await client.get(f"/meetings/{meeting.id}")).text


async def test_staff_pages_review_draw_checkin_without_javascript(client, db, mailbox):
    from conftest import html_staff_sign_in

    await html_staff_sign_in(client, "admin1", "admin")
    page = await client.get("/staff/meetings")
    assert page.status_code == 200
    token = csrf_of(page.text)
    now = clock.local()
    form = {
        "title": "张江科学城交通组织方案论证会",
        "meets_at": (now + timedelta(days=9)).strftime("%Y-%m-%dT%H:%M"),
        "applications_open_at": (now - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"),
        "applications_close_at": (now + timedelta(days=9)).strftime("%Y-%m-%dT%H:%M"),
        "seats": "3",
        "alternates": "1",
        "topics": "公交线路调整\n非机动车停放",
        "quotas": "{}",
        "csrf_token": token,
    }
    r = await client.post("/staff/meetings", data=form)
    assert r.status_code == 422 and "张江科学城交通组织方案论证会" in r.text
    form["applications_close_at"] = (now + timedelta(days=5)).strftime("%Y-%m-%dT%H:%M")
    r = await client.post("/staff/meetings", data=form)
    assert r.status_code == 303
    meeting_id = int(r.headers["location"].rsplit("/", 1)[1])
    ids = await fill_pool(meeting_id, 5, qualify=False)
    r = await client.post(
        f"/staff/meetings/{meeting_id}/applications/{ids[0]}/review",
        data={"decision": "rejected", "reason": "", "csrf_token": token},
    )
    assert r.status_code == 422
    for app_id in ids:
        r = await client.post(
            f"/staff/meetings/{meeting_id}/applications/{app_id}/review",
            data={"decision": "qualified", "csrf_token": token},
        )
        assert r.status_code == 303
    clock.travel(timedelta(days=5, minutes=1))
    await service.start_commitment(STAFF, meeting_id, 120, wait=True)
    r = await client.post(
        f"/staff/meetings/{meeting_id}/draw", data={"seed": "", "csrf_token": token}
    )
    assert r.status_code == 422
    r = await client.post(
        f"/staff/meetings/{meeting_id}/draw", data={"seed": "7 7 7", "csrf_token": token}
    )
    assert r.status_code == 303
    invitation = await Invitation.filter(meeting_id=meeting_id).order_by("id").first()
    await service.respond(invitation.token, accept=True)
    r = await client.post(
        f"/staff/meetings/{meeting_id}/invitations/{invitation.id}/checkin",
        data={"csrf_token": token},
    )
    assert r.status_code == 303
    page = await client.get(f"/staff/meetings/{meeting_id}")
    assert page.status_code == 200 and "7 7 7" in page.text
    for path in (
        "/staff/meetings/overdue",
        "/staff/meetings/pool",
        f"/meetings/{meeting_id}/commitment-status",
    ):
        assert (await client.get(path)).status_code == 200


async def test_scheduler_fills_a_seat_left_open_by_a_race(db):
    meeting, record = await _drawn_meeting()
    first = await Invitation.filter(meeting_id=meeting.id).order_by("id").first()
    await Invitation.filter(id=first.id).update(
        status="declined"
    )  # as if the alternate insert lost a race
    await service.expire_invitations()
    alternates = await Invitation.filter(meeting_id=meeting.id, kind="alternate")
    assert [a.application_id for a in alternates] == record["alternates"][:1]
    await service.expire_invitations()
    assert await Invitation.filter(meeting_id=meeting.id, kind="alternate").count() == 1


async def test_maximin_over_budget_falls_back_to_legacy_and_says_so(db, monkeypatch):
    from canyu.meetings import selection

    monkeypatch.setattr(service, "LEGACY_BUDGET_FACTOR", 600)
    meeting = await service.create_meeting(STAFF, meeting_body())
    await fill_pool(meeting.id, 7)
    clock.travel(timedelta(days=5, minutes=1))
    await service.start_commitment(STAFF, meeting.id, 0.1, wait=True)  # no process starts in 0.1 s
    meeting = await service.get_meeting(meeting.id)
    assert meeting.commitment_status == "ready"
    assert (
        meeting.commitment["algorithm"] == "legacy"
        and meeting.commitment["fallback_from"] == "maximin"
    )
    record = await service.draw_delegates(STAFF, meeting.id, "1 2 3")
    assert selection.verify_record(record) == []


async def test_quotas_change_until_the_pool_is_frozen(client, db):
    from conftest import html_staff_sign_in

    await html_staff_sign_in(client, "admin2", "admin")
    meeting = await service.create_meeting(STAFF, meeting_body())
    page = await client.get(f"/staff/meetings/{meeting.id}")
    token = csrf_of(page.text)
    assert "男" in page.text
    url = f"/staff/meetings/{meeting.id}/quotas"
    r = await client.post(url, data={"quotas": "{not json", "csrf_token": token})
    assert r.status_code == 422
    r = await client.post(
        url, data={"quotas": '{"category": {"市民": {"min": 1, "max": 3}}}', "csrf_token": token}
    )
    assert r.status_code == 303
    assert (await service.get_meeting(meeting.id)).quotas == {
        "category": {"市民": {"min": 1, "max": 3}}
    }
    await fill_pool(meeting.id, 5)
    clock.travel(timedelta(days=5, minutes=1))
    await service.start_commitment(STAFF, meeting.id, 120, wait=True)
    r = await client.post(url, data={"quotas": "{}", "csrf_token": token})
    assert r.status_code == 409


async def test_quotas_that_conflict_across_features_fail_visibly_and_can_be_fixed(db):
    # Each quota alone is possible, together they are not: every 市民 in this pool is 男.
    quotas = {"category": {"市民": {"min": 2, "max": 3}}, "gender": {"男": {"min": 0, "max": 0}}}
    meeting = await service.create_meeting(STAFF, meeting_body(quotas=quotas))
    await fill_pool(meeting.id, 8)
    clock.travel(timedelta(days=5, minutes=1))
    await service.start_commitment(STAFF, meeting.id, 120, wait=True)
    meeting = await service.get_meeting(meeting.id)
    assert meeting.commitment_status == "failed" and "配额" in meeting.commitment_error
    await service.update_quotas(STAFF, meeting.id, {"category": {"市民": {"min": 1, "max": 3}}})
    await service.start_commitment(STAFF, meeting.id, 120, wait=True)
    assert (await service.get_meeting(meeting.id)).commitment_status == "ready"


async def test_personal_data_is_erased_after_the_retention_period(client, db):
    meeting, record = await _drawn_meeting()
    from canyu.accounts import privacy

    clock.travel(timedelta(days=300))
    assert (await privacy.purge_expired(365))["meetings"] == 0
    clock.travel(timedelta(days=80))
    assert (await privacy.purge_expired(365))["meetings"] == 7
    assert await Application.filter(meeting_id=meeting.id).exclude(name="").count() == 0
    r = await client.get(f"/api/v1/meetings/{meeting.id}/draw")
    assert r.json()["commitment_sha256"] == record["commitment_sha256"]
    assert (await client.get(f"/meetings/{meeting.id}")).status_code == 200


async def test_resident_sees_own_applications_with_invitation_deadline(client, mailbox, db):
    meeting = await service.create_meeting(STAFF, meeting_body())
    await html_sign_in(client, mailbox, "mine@example.com")
    page = await client.get(f"/meetings/{meeting.id}/apply")
    form = {k: str(v) for k, v in application_body().items()}
    form.update(no_conflict="1", consent="1")
    r = await client.post(
        f"/meetings/{meeting.id}/apply", data={**form, "csrf_token": csrf_of(page.text)}
    )
    assert r.status_code == 303
    page = await client.get("/meetings/mine")
    assert page.status_code == 200 and meeting.title in page.text and "已提交" in page.text
    assert "/meetings/mine" in (await client.get("/meetings")).text


async def test_the_district_pool_shows_full_names_only_to_the_unit_applied_to(db):
    meeting = await service.create_meeting(STAFF, meeting_body())
    await fill_pool(meeting.id, 2)
    await Application.filter(meeting_id=meeting.id).update(keep_in_pool=True)
    year = clock.today().year
    own = Principal("staff", 2, "本单位", role="organizer", unit_id=meeting.unit_id)
    other = Principal("staff", 3, "外单位", role="organizer", unit_id=(meeting.unit_id or 0) + 1000)
    assert all(a.pool_name_visible for a in await service.pool_members(STAFF, year))
    assert all(a.pool_name_visible for a in await service.pool_members(own, year))
    members = await service.pool_members(other, year)
    assert len(members) == 2 and not any(a.pool_name_visible for a in members)


async def test_staff_home_counts_only_applications_a_review_would_still_take(db):
    meeting = await service.create_meeting(STAFF, meeting_body())
    ids = await fill_pool(meeting.id, 3, qualify=False)
    assert await service.waiting_reviews(STAFF) == 3
    await service.review(STAFF, ids[0], "qualified")
    await Application.filter(id=ids[1]).update(resident_id=-ids[1], email="")  # account deleted
    assert await service.waiting_reviews(STAFF) == 1
    await Meeting.filter(id=meeting.id).update(commitment_status="ready")  # pool frozen
    assert await service.waiting_reviews(STAFF) == 0
    other_unit = Principal("staff", 99, "他区", role="organizer", unit_id=424242)
    await Meeting.filter(id=meeting.id).update(commitment_status="none")
    assert await service.waiting_reviews(other_unit) == 0
