"""The JSON contract of decision meetings (API.md "Decision meetings")."""

from __future__ import annotations

from datetime import timedelta

from canyu.core import clock
from canyu.meetings import selection
from canyu.meetings.models import Application, Invitation
from conftest import sign_in, staff_headers, text_of
from meetings.helpers import application_body, fill_pool, meeting_body, wait_ready


async def _meeting(client, headers, **overrides) -> dict:
    r = await client.post("/api/v1/meetings", json=meeting_body(**overrides), headers=headers)
    assert r.status_code == 201, r.text
    return r.json()


async def test_organizer_creates_meeting_with_topics_and_quotas(client):
    headers = await staff_headers(client, "org", "organizer", "区发展改革委")
    data = await _meeting(client, headers)
    assert data["seats"] == 3 and [t["title"] for t in data["topics"]] == [
        "加装电梯补贴标准",
        "施工期间的出行安排",
    ]
    assert data["quotas"]["gender"]["女"] == {"min": 1, "max": 2}
    assert (await client.get(f"/api/v1/meetings/{data['id']}")).json()["title"] == data["title"]


async def test_window_must_close_a_day_before_the_meeting(client):
    headers = await staff_headers(client, "org", "organizer", "区发展改革委")
    now = clock.now()
    r = await client.post(
        "/api/v1/meetings",
        json=meeting_body(
            meets_at=(now + timedelta(days=5, hours=12)).isoformat(),
            applications_close_at=(now + timedelta(days=5)).isoformat(),
        ),
        headers=headers,
    )
    assert r.status_code == 422 and r.json()["error"]["code"] == "window_too_late"


async def test_unknown_quota_value_is_refused(client):
    headers = await staff_headers(client, "org", "organizer", "区发展改革委")
    r = await client.post(
        "/api/v1/meetings",
        json=meeting_body(quotas={"gender": {"X": {"min": 0, "max": 1}}}),
        headers=headers,
    )
    assert r.status_code == 422
    r = await client.post(
        "/api/v1/meetings", json=meeting_body(quotas={"height": {}}), headers=headers
    )
    assert r.status_code == 422


async def test_resident_cannot_create_meeting(client, mailbox):
    me = await sign_in(client, mailbox, "a@example.com")
    r = await client.post("/api/v1/meetings", json=meeting_body(), headers=me["headers"])
    assert r.status_code == 403


async def test_application_rules_under_age_consent_declaration_duplicate(client, mailbox):
    headers = await staff_headers(client, "org", "organizer", "区发展改革委")
    meeting = await _meeting(client, headers)
    me = await sign_in(client, mailbox, "a@example.com")
    url = f"/api/v1/meetings/{meeting['id']}/applications"
    year = clock.today().year
    for bad in (
        {"birth_year": year - 10},
        {"consent": False},
        {"no_conflict": False},
        {"district": "徐汇区"},
        {"category": "学生"},
    ):
        r = await client.post(url, json=application_body(**bad), headers=me["headers"])
        assert r.status_code == 422, (bad, r.text)
        assert r.json()["error"]["message"]
    assert await Application.all().count() == 0
    r = await client.post(url, json=application_body(), headers=me["headers"])
    assert r.status_code == 201 and r.json()["status"] == "submitted"
    r = await client.post(url, json=application_body(), headers=me["headers"])
    assert r.status_code == 409
    assert await Application.all().count() == 1


async def test_application_outside_window_is_refused(client, mailbox):
    headers = await staff_headers(client, "org", "organizer", "区发展改革委")
    meeting = await _meeting(client, headers)
    me = await sign_in(client, mailbox, "a@example.com")
    clock.travel(timedelta(days=6))
    r = await client.post(
        f"/api/v1/meetings/{meeting['id']}/applications",
        json=application_body(),
        headers=me["headers"],
    )
    assert r.status_code == 422 and r.json()["error"]["code"] == "closed"


async def test_review_mails_the_applicant_and_rejection_needs_reason(client, mailbox):
    headers = await staff_headers(client, "org", "organizer", "区发展改革委")
    meeting = await _meeting(client, headers)
    me = await sign_in(client, mailbox, "a@example.com")
    r = await client.post(
        f"/api/v1/meetings/{meeting['id']}/applications",
        json=application_body(),
        headers=me["headers"],
    )
    app_id = r.json()["id"]
    r = await client.post(
        f"/api/v1/applications/{app_id}/review", json={"decision": "rejected"}, headers=headers
    )
    assert r.status_code == 422
    r = await client.post(
        f"/api/v1/applications/{app_id}/review",
        json={"decision": "rejected", "reason": "居住地不在浦东"},
        headers=headers,
    )
    assert r.status_code == 200 and r.json()["status"] == "rejected"
    await mailbox.deliver()
    assert "居住地不在浦东" in text_of(mailbox.to("a@example.com")[-1])


async def test_organizer_of_another_unit_cannot_review(client, mailbox):
    headers = await staff_headers(client, "org", "organizer", "区发展改革委")
    other = await staff_headers(client, "org2", "organizer", "区民政局")
    meeting = await _meeting(client, headers)
    ids = await fill_pool(meeting["id"], 1)
    r = await client.post(
        f"/api/v1/applications/{ids[0]}/review", json={"decision": "qualified"}, headers=other
    )
    assert r.status_code == 403


async def test_commitment_before_close_and_draw_before_commitment_are_refused(client):
    headers = await staff_headers(client, "org", "admin")
    meeting = await _meeting(client, headers)
    await fill_pool(meeting["id"], 6)
    r = await client.post(f"/api/v1/meetings/{meeting['id']}/commitment", headers=headers)
    assert r.status_code == 409
    r = await client.post(
        f"/api/v1/meetings/{meeting['id']}/draw", json={"seed": "1 2 3"}, headers=headers
    )
    assert r.status_code == 409
    assert (await client.get(f"/api/v1/meetings/{meeting['id']}/draw")).status_code == 404


async def test_unmeetable_quota_is_refused_naming_the_numbers(client):
    headers = await staff_headers(client, "org", "admin")
    meeting = await _meeting(
        client, headers, seats=3, quotas={"category": {"媒体": {"min": 3, "max": 3}}}
    )
    await fill_pool(meeting["id"], 6)  # one of the six is 媒体
    clock.travel(timedelta(days=6))
    r = await client.post(f"/api/v1/meetings/{meeting['id']}/commitment", headers=headers)
    assert r.status_code == 422
    message = r.json()["error"]["message"]
    assert "媒体" in message and "3 人" in message and "1 人" in message
    assert (await client.get(f"/api/v1/meetings/{meeting['id']}/commitment")).status_code == 404


async def test_full_draw_publishes_commitment_then_record_and_invites(client, mailbox):
    headers = await staff_headers(client, "org", "admin")
    meeting = await _meeting(client, headers)
    ids = await fill_pool(meeting["id"], 7)
    clock.travel(timedelta(days=5, minutes=1))
    r = await client.post(f"/api/v1/meetings/{meeting['id']}/commitment", headers=headers)
    assert r.status_code == 202 and r.json()["status"] == "computing"
    assert (
        await client.post(f"/api/v1/meetings/{meeting['id']}/commitment", headers=headers)
    ).status_code == 409
    commitment = await wait_ready(client, meeting["id"])
    assert commitment["status"] == "ready" and len(commitment["sha256"]) == 64
    assert commitment["algorithm"] == "maximin" and len(commitment["panels"]) == 1000
    assert "seed" not in commitment and "name" not in commitment["pool"][0]
    r = await client.post(
        f"/api/v1/meetings/{meeting['id']}/draw", json={"seed": "  "}, headers=headers
    )
    assert r.status_code == 422
    r = await client.post(
        f"/api/v1/meetings/{meeting['id']}/draw",
        json={"seed": "03 11 19 24 27 32 + 09"},
        headers=headers,
    )
    assert r.status_code == 201, r.text
    record = r.json()
    for key in (
        "meeting_id",
        "seed",
        "algorithm",
        "library",
        "quotas",
        "pool",
        "pool_sha256",
        "panels",
        "commitment_sha256",
        "probabilities",
        "selected",
        "alternates",
    ):
        assert key in record
    assert record["commitment_sha256"] == commitment["sha256"]
    assert record["library"]["name"] == "sortition-algorithms" and record["library"]["version"]
    assert sorted(int(k) for k in record["probabilities"]) == ids
    assert len(record["selected"]) == 3 and len(record["alternates"]) == 2
    assert selection.verify_record(record) == []
    assert (await client.get(f"/api/v1/meetings/{meeting['id']}/draw")).json() == record
    r = await client.post(
        f"/api/v1/meetings/{meeting['id']}/draw", json={"seed": "again"}, headers=headers
    )
    assert r.status_code == 409
    assert await Invitation.filter(kind="selected").count() == 3
    await mailbox.deliver()
    invited = [m for m in mailbox.messages if "列席代表" in text_of(m)]
    assert len(invited) == 3


async def test_resident_reads_edits_and_withdraws_own_application(client, mailbox):
    headers = await staff_headers(client, "org", "admin")
    meeting = await _meeting(client, headers)
    me = await sign_in(client, mailbox, "a@example.com")
    other = await sign_in(client, mailbox, "b@example.com")
    app_id = (
        await client.post(
            f"/api/v1/meetings/{meeting['id']}/applications",
            json=application_body(),
            headers=me["headers"],
        )
    ).json()["id"]
    assert (
        await client.get(f"/api/v1/applications/{app_id}", headers=other["headers"])
    ).status_code == 404
    r = await client.put(
        f"/api/v1/applications/{app_id}",
        json=application_body(occupation="护士"),
        headers=me["headers"],
    )
    assert r.status_code == 200 and r.json()["occupation"] == "护士"
    r = await client.delete(f"/api/v1/applications/{app_id}", headers=me["headers"])
    assert r.status_code == 200
    assert (await client.get(f"/api/v1/applications/{app_id}", headers=me["headers"])).json()[
        "status"
    ] == "withdrawn"


async def test_home_page_lists_meetings_with_open_calls(client):
    headers = await staff_headers(client, "org", "admin")
    await _meeting(client, headers, title="陆家嘴滨江步道管理办法论证会")
    assert "陆家嘴滨江步道管理办法论证会" in (await client.get("/")).text


async def test_concurrent_duplicate_applications_store_exactly_one(client, mailbox):
    import asyncio

    headers = await staff_headers(client, "org", "admin")
    meeting = await _meeting(client, headers)
    me = await sign_in(client, mailbox, "a@example.com")
    url = f"/api/v1/meetings/{meeting['id']}/applications"
    answers = await asyncio.gather(
        *(client.post(url, json=application_body(), headers=me["headers"]) for _ in range(5))
    )
    assert sorted(r.status_code for r in answers) == [201, 409, 409, 409, 409]
    assert await Application.all().count() == 1


async def test_concurrent_draws_make_one_record(client):
    import asyncio

    headers = await staff_headers(client, "org", "admin")
    meeting = await _meeting(client, headers)
    await fill_pool(meeting["id"], 6)
    clock.travel(timedelta(days=5, minutes=1))
    await client.post(f"/api/v1/meetings/{meeting['id']}/commitment", headers=headers)
    await wait_ready(client, meeting["id"])
    url = f"/api/v1/meetings/{meeting['id']}/draw"
    answers = await asyncio.gather(
        *(client.post(url, json={"seed": f"seed {i}"}, headers=headers) for i in range(3))
    )
    assert sorted(r.status_code for r in answers) == [201, 409, 409]
    assert await Invitation.all().count() == 3
