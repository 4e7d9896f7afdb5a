"""Comment periods through the JSON API (API.md "Comment periods"), every rule with the moved clock."""

from __future__ import annotations

from datetime import timedelta

from canyu.consultations.models import Comment, Consultation
from canyu.core import clock
from conftest import sign_in, staff_headers, text_of
from consultations.helpers import iso, make_consultation

UNIT = "区建设和交通委员会"


async def _setup(client, mailbox, **overrides):
    org = await staff_headers(client, "org", "organizer", UNIT)
    mod = await staff_headers(client, "mod", "moderator", "区政务公开办")
    c = await make_consultation(client, org, **overrides)
    return org, mod, c


async def _comment(client, headers, cid, body="建议提高补贴标准。", section_id=None):
    r = await client.post(f"/api/v1/consultations/{cid}/comments", json={"body": body, "section_id": section_id}, headers=headers)
    return r


async def test_create_answers_id_and_sections(client, mailbox):
    org = await staff_headers(client, "org", "organizer", UNIT)
    c = await make_consultation(client, org)
    assert set(c) == {"id", "sections"}
    assert [s["title"] for s in c["sections"]] == ["第一条 适用范围", "第二条 补贴标准"]
    assert set(c["sections"][0]) == {"id", "title"}


async def test_residents_and_anonymous_cannot_create(client, mailbox):
    resident = await sign_in(client, mailbox, "a@example.com")
    body = {"title": "x", "kind": "other", "opens_at": iso(timedelta(0)), "closes_at": iso(timedelta(days=1))}
    assert (await client.post("/api/v1/consultations", json=body)).status_code == 401
    assert (await client.post("/api/v1/consultations", json=body, headers=resident["headers"])).status_code == 403
    mod = await staff_headers(client, "mod", "moderator", "区政务公开办")
    assert (await client.post("/api/v1/consultations", json=body, headers=mod["Authorization"] and mod)).status_code == 403
    assert await Consultation.all().count() == 0


async def test_unknown_kind_is_refused(client, mailbox):
    org = await staff_headers(client, "org", "organizer", UNIT)
    r = await client.post("/api/v1/consultations", json={"title": "x", "kind": "law", "opens_at": iso(timedelta(0)), "closes_at": iso(timedelta(days=40))}, headers=org)
    assert r.status_code == 422


async def test_major_decision_below_30_days_needs_a_reason(client, mailbox):
    org = await staff_headers(client, "org", "organizer", UNIT)
    body = {"title": "重大决策", "kind": "major_decision", "opens_at": iso(timedelta(0)), "closes_at": iso(timedelta(days=29, hours=23))}
    r = await client.post("/api/v1/consultations", json=body, headers=org)
    assert r.status_code == 422 and r.json()["error"]["code"] == "period_reason_required"
    assert await Consultation.all().count() == 0
    body["period_reason"] = "涉及汛期安全，须尽快出台。"
    assert (await client.post("/api/v1/consultations", json=body, headers=org)).status_code == 201
    body.update(period_reason="", kind="rule", closes_at=iso(timedelta(days=30, minutes=1)))
    assert (await client.post("/api/v1/consultations", json=body, headers=org)).status_code == 201


async def test_normative_document_needs_seven_working_days(client, mailbox):
    from datetime import UTC, datetime

    # Monday 2026-03-02 10:00 Shanghai. Seven working days later is Wednesday 2026-03-11.
    clock.freeze(datetime(2026, 3, 2, 2, 0, tzinfo=UTC))
    org = await staff_headers(client, "org", "organizer", UNIT)
    body = {"title": "规范性文件", "kind": "normative", "opens_at": iso(timedelta(0)), "closes_at": iso(timedelta(days=8))}
    r = await client.post("/api/v1/consultations", json=body, headers=org)
    assert r.status_code == 422 and r.json()["error"]["code"] == "period_reason_required"
    body["closes_at"] = iso(timedelta(days=9))
    assert (await client.post("/api/v1/consultations", json=body, headers=org)).status_code == 201


async def test_working_days_follow_the_holiday_calendar(client, mailbox, tmp_path):
    from datetime import UTC, datetime

    from canyu.core import workdays

    calendar = tmp_path / "holidays.txt"
    calendar.write_text("2026-03-03\n2026-03-04\n", encoding="utf-8")
    workdays.configure(calendar)
    try:
        clock.freeze(datetime(2026, 3, 2, 2, 0, tzinfo=UTC))
        org = await staff_headers(client, "org", "organizer", UNIT)
        body = {"title": "规范性文件", "kind": "normative", "opens_at": iso(timedelta(0)), "closes_at": iso(timedelta(days=9))}
        r = await client.post("/api/v1/consultations", json=body, headers=org)
        assert r.status_code == 422
    finally:
        workdays.configure(None)


async def test_closing_before_opening_is_refused(client, mailbox):
    org = await staff_headers(client, "org", "organizer", UNIT)
    r = await client.post("/api/v1/consultations", json={"title": "x", "kind": "other", "opens_at": iso(timedelta(days=2)), "closes_at": iso(timedelta(days=1))}, headers=org)
    assert r.status_code == 422


async def test_comment_is_pending_and_hidden_until_published(client, mailbox):
    _org, mod, c = await _setup(client, mailbox)
    resident = await sign_in(client, mailbox, "li@example.com")
    await client.put("/api/v1/me", json={"name": "李小明"}, headers=resident["headers"])
    r = await _comment(client, resident["headers"], c["id"], section_id=c["sections"][1]["id"])
    assert r.status_code == 201 and r.json() == {"id": r.json()["id"], "status": "pending"}
    listed = await client.get(f"/api/v1/consultations/{c['id']}/comments")
    assert listed.json() == {"items": []}
    m = await client.post(f"/api/v1/comments/{r.json()['id']}/moderation", json={"decision": "publish", "reason": ""}, headers=mod)
    assert m.status_code == 200
    [item] = (await client.get(f"/api/v1/consultations/{c['id']}/comments")).json()["items"]
    assert set(item) == {"id", "section_id", "body", "author", "supports", "created_at"}
    assert item["author"] == "李**" and item["section_id"] == c["sections"][1]["id"] and item["supports"] == 0


async def test_comment_outside_the_period_is_refused(client, mailbox):
    _org, _mod, c = await _setup(client, mailbox, opens_at=iso(timedelta(days=1)), closes_at=iso(timedelta(days=20)))
    resident = await sign_in(client, mailbox, "a@example.com")
    r = await _comment(client, resident["headers"], c["id"])
    assert r.status_code == 422 and r.json()["error"]["code"] == "outside_period"
    clock.travel(timedelta(days=1, seconds=1))
    assert (await _comment(client, resident["headers"], c["id"])).status_code == 201
    clock.travel(timedelta(days=19))
    assert (await _comment(client, resident["headers"], c["id"])).status_code == 422
    assert await Comment.all().count() == 1


async def test_bad_comments_are_refused_and_not_stored(client, mailbox):
    org, _mod, c = await _setup(client, mailbox)
    resident = await sign_in(client, mailbox, "a@example.com")
    assert (await _comment(client, resident["headers"], c["id"], body="   ")).status_code == 422
    assert (await _comment(client, resident["headers"], c["id"], body="长" * 2001)).status_code == 422
    assert (await _comment(client, resident["headers"], c["id"], section_id=999999)).status_code == 422
    assert (await _comment(client, org, c["id"])).status_code == 403
    assert (await client.post(f"/api/v1/consultations/{c['id']}/comments", json={"body": "x"})).status_code == 401
    assert await Comment.all().count() == 0


async def test_draft_consultation_is_not_public(client, mailbox):
    _org, _mod, c = await _setup(client, mailbox, published=False)
    resident = await sign_in(client, mailbox, "a@example.com")
    assert (await _comment(client, resident["headers"], c["id"])).status_code == 404
    assert (await client.get(f"/api/v1/consultations/{c['id']}/comments")).status_code == 404


async def test_moderation_needs_the_role_and_a_reason_to_reject(client, mailbox):
    org, mod, c = await _setup(client, mailbox)
    resident = await sign_in(client, mailbox, "a@example.com")
    cid = (await _comment(client, resident["headers"], c["id"])).json()["id"]
    assert (await client.post(f"/api/v1/comments/{cid}/moderation", json={"decision": "publish"}, headers=org)).status_code == 403
    assert (await client.post(f"/api/v1/comments/{cid}/moderation", json={"decision": "publish"}, headers=resident["headers"])).status_code == 403
    assert (await client.post(f"/api/v1/comments/{cid}/moderation", json={"decision": "reject", "reason": ""}, headers=mod)).status_code == 422
    assert (await client.post(f"/api/v1/comments/{cid}/moderation", json={"decision": "maybe"}, headers=mod)).status_code == 422
    assert (await Comment.get(id=cid)).status == "pending"


async def test_rejected_commenter_is_told_why(client, mailbox):
    _org, mod, c = await _setup(client, mailbox)
    resident = await sign_in(client, mailbox, "wang@example.com")
    cid = (await _comment(client, resident["headers"], c["id"], body="请访问赌博网站了解详情")).json()["id"]
    assert (await Comment.get(id=cid)).sensitive_hits == ["赌博网站"]
    r = await client.post(f"/api/v1/comments/{cid}/moderation", json={"decision": "reject", "reason": "含有广告内容"}, headers=mod)
    assert r.status_code == 200
    await mailbox.deliver()
    mail = mailbox.to("wang@example.com")[-1]
    assert "含有广告内容" in text_of(mail)
    again = await client.post(f"/api/v1/comments/{cid}/moderation", json={"decision": "publish"}, headers=mod)
    assert again.status_code == 409


async def test_moderation_works_after_the_close(client, mailbox):
    _org, mod, c = await _setup(client, mailbox)
    resident = await sign_in(client, mailbox, "a@example.com")
    cid = (await _comment(client, resident["headers"], c["id"])).json()["id"]
    clock.travel(timedelta(days=21))
    assert (await client.post(f"/api/v1/comments/{cid}/moderation", json={"decision": "publish"}, headers=mod)).status_code == 200


async def test_html_in_a_comment_is_shown_as_text(client, mailbox):
    _org, mod, c = await _setup(client, mailbox)
    resident = await sign_in(client, mailbox, "a@example.com")
    cid = (await _comment(client, resident["headers"], c["id"], body="<script>alert(1)</script>")).json()["id"]
    await client.post(f"/api/v1/comments/{cid}/moderation", json={"decision": "publish"}, headers=mod)
    page = await client.get(f"/consultations/{c['id']}")
    assert "<script>alert(1)</script>" not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text


async def test_support_counts_once_per_resident(client, mailbox):
    _org, mod, c = await _setup(client, mailbox)
    a = await sign_in(client, mailbox, "a@example.com")
    b = await sign_in(client, mailbox, "b@example.com")
    cid = (await _comment(client, a["headers"], c["id"])).json()["id"]
    assert (await client.post(f"/api/v1/comments/{cid}/support", headers=b["headers"])).status_code == 404
    await client.post(f"/api/v1/comments/{cid}/moderation", json={"decision": "publish"}, headers=mod)
    assert (await client.post(f"/api/v1/comments/{cid}/support", headers=b["headers"])).status_code == 200
    assert (await client.post(f"/api/v1/comments/{cid}/support", headers=b["headers"])).status_code == 409
    [item] = (await client.get(f"/api/v1/consultations/{c['id']}/comments")).json()["items"]
    assert item["supports"] == 1


async def test_disposition_needs_organizer_of_the_unit(client, mailbox):
    org, mod, c = await _setup(client, mailbox)
    other = await staff_headers(client, "other", "organizer", "张江镇")
    admin = await staff_headers(client, "admin", "admin", "区政务公开办")
    a = await sign_in(client, mailbox, "a@example.com")
    cid = (await _comment(client, a["headers"], c["id"])).json()["id"]
    body = {"outcome": "adopted", "reason": "已修改第二条"}
    assert (await client.post(f"/api/v1/comments/{cid}/disposition", json=body, headers=org)).status_code == 409  # still pending
    await client.post(f"/api/v1/comments/{cid}/moderation", json={"decision": "publish"}, headers=mod)
    assert (await client.post(f"/api/v1/comments/{cid}/disposition", json=body, headers=mod)).status_code == 403
    assert (await client.post(f"/api/v1/comments/{cid}/disposition", json=body, headers=other)).status_code == 403
    assert (await client.post(f"/api/v1/comments/{cid}/disposition", json={"outcome": "maybe", "reason": "x"}, headers=org)).status_code == 422
    assert (await client.post(f"/api/v1/comments/{cid}/disposition", json={"outcome": "not_adopted", "reason": ""}, headers=org)).status_code == 422
    assert (await Comment.get(id=cid)).outcome is None
    assert (await client.post(f"/api/v1/comments/{cid}/disposition", json=body, headers=org)).status_code == 200
    assert (await client.post(f"/api/v1/comments/{cid}/disposition", json={"outcome": "partly_adopted", "reason": "部分采纳"}, headers=admin)).status_code == 200
    assert (await Comment.get(id=cid)).outcome == "partly_adopted"


async def test_report_rules_and_mail_to_every_commenter(client, mailbox):
    org, mod, c = await _setup(client, mailbox)
    a = await sign_in(client, mailbox, "a@example.com")
    b = await sign_in(client, mailbox, "b@example.com")
    ca = (await _comment(client, a["headers"], c["id"], section_id=c["sections"][0]["id"])).json()["id"]
    cb = (await _comment(client, b["headers"], c["id"], body="无关广告")).json()["id"]
    cid = c["id"]
    assert (await client.get(f"/api/v1/consultations/{cid}/report")).status_code == 404
    assert (await client.post(f"/api/v1/consultations/{cid}/report", headers=org)).status_code == 409  # still open
    clock.travel(timedelta(days=21))
    assert (await _comment(client, a["headers"], cid)).status_code == 422
    r = await client.post(f"/api/v1/consultations/{cid}/report", headers=org)
    assert r.status_code == 409 and r.json()["error"]["code"] == "pending_comments"
    await client.post(f"/api/v1/comments/{ca}/moderation", json={"decision": "publish"}, headers=mod)
    await client.post(f"/api/v1/comments/{cb}/moderation", json={"decision": "reject", "reason": "与本政策无关"}, headers=mod)
    r = await client.post(f"/api/v1/consultations/{cid}/report", json={}, headers=org)
    assert r.status_code == 409 and r.json()["error"]["code"] == "undisposed_comments"
    assert (await client.post(f"/api/v1/comments/{ca}/disposition", json={"outcome": "adopted", "reason": "已采纳"}, headers=org)).status_code == 200
    mailbox.clear()
    assert (await client.post(f"/api/v1/consultations/{cid}/report", headers=mod)).status_code == 403
    assert (await client.post(f"/api/v1/consultations/{cid}/report", headers=org)).status_code == 200
    assert (await client.post(f"/api/v1/consultations/{cid}/report", headers=org)).status_code == 409
    report = (await client.get(f"/api/v1/consultations/{cid}/report")).json()
    assert report["received"] == 2
    assert (report["adopted"], report["partly_adopted"], report["not_adopted"]) == (1, 0, 0)
    assert isinstance(report["items"], list) and report["items"][0]["outcome"] == "adopted"
    await mailbox.deliver()
    assert "采纳" in text_of(mailbox.to("a@example.com")[-1])
    assert "与本政策无关" in text_of(mailbox.to("b@example.com")[-1])
    # Nothing moves after the report.
    assert (await client.post(f"/api/v1/comments/{ca}/disposition", json={"outcome": "not_adopted", "reason": "x"}, headers=org)).status_code == 409
    page = await client.get(f"/consultations/{cid}/report")
    assert page.status_code == 200 and "第一条 适用范围" in page.text


async def test_report_on_a_consultation_without_comments(client, mailbox):
    org, _mod, c = await _setup(client, mailbox)
    clock.travel(timedelta(days=21))
    assert (await client.post(f"/api/v1/consultations/{c['id']}/report", headers=org)).status_code == 200
    report = (await client.get(f"/api/v1/consultations/{c['id']}/report")).json()
    assert report["received"] == 0 and report["items"] == []


async def test_plain_text_mail_shows_the_comment_as_typed(client, mailbox):
    _org, mod, c = await _setup(client, mailbox)
    resident = await sign_in(client, mailbox, "he@example.com")
    cid = (await _comment(client, resident["headers"], c["id"], body="A&B <不是标签>")).json()["id"]
    await client.post(f"/api/v1/comments/{cid}/moderation", json={"decision": "reject", "reason": "重复 & 无关"}, headers=mod)
    await mailbox.deliver()
    body = text_of(mailbox.to("he@example.com")[-1])
    assert "A&B <不是标签>" in body and "重复 & 无关" in body


async def test_simultaneous_supports_count_once(client, mailbox):
    import asyncio

    from canyu.consultations.models import CommentSupport

    _org, mod, c = await _setup(client, mailbox)
    a = await sign_in(client, mailbox, "a@example.com")
    cid = (await _comment(client, a["headers"], c["id"])).json()["id"]
    await client.post(f"/api/v1/comments/{cid}/moderation", json={"decision": "publish"}, headers=mod)
    statuses = sorted(
        r.status_code
        for r in await asyncio.gather(*(client.post(f"/api/v1/comments/{cid}/support", headers=a["headers"]) for _ in range(5)))
    )
    assert statuses == [200, 409, 409, 409, 409]
    assert await CommentSupport.filter(comment_id=cid).count() == 1
    assert (await Comment.get(id=cid)).supports == 1


async def test_simultaneous_report_publications_publish_once(client, mailbox):
    import asyncio

    org, _mod, c = await _setup(client, mailbox)
    clock.travel(timedelta(days=21))
    statuses = sorted(
        r.status_code
        for r in await asyncio.gather(*(client.post(f"/api/v1/consultations/{c['id']}/report", headers=org) for _ in range(4)))
    )
    assert statuses == [200, 409, 409, 409]
