"""A resident's comments, supports, questions and subscription: in their data download only,
anonymized (not removed) when the account is deleted, and unlinked after the retention period."""

from __future__ import annotations

import json
from datetime import timedelta

from canyu.accounts import privacy
from canyu.audit.models import AuditEntry
from canyu.consultations import service
from canyu.consultations.models import (
    BoardQuestion,
    Comment,
    CommentSupport,
    DigestItem,
    Subscription,
)
from canyu.core import clock
from canyu.core.permissions import Principal
from conftest import sign_in, staff_headers
from consultations.helpers import iso, make_consultation

UNIT = "区建设和交通委员会"
ADMIN = Principal("staff", 1, "管理员", role="admin")


async def _resident(client, mailbox, address, name):
    who = await sign_in(client, mailbox, address)
    r = await client.put("/api/v1/me", json={"name": name}, headers=who["headers"])
    assert r.status_code == 200, r.text
    who["principal"] = Principal("resident", who["resident_id"], address)
    return who


async def _published_comment(client, mod, who, cid, body):
    r = await client.post(
        f"/api/v1/consultations/{cid}/comments", json={"body": body}, headers=who["headers"]
    )
    assert r.status_code == 201, r.text
    comment_id = r.json()["id"]
    r = await client.post(
        f"/api/v1/comments/{comment_id}/moderation", json={"decision": "publish"}, headers=mod
    )
    assert r.status_code == 200, r.text
    return comment_id


async def _support(client, who, comment_id):
    r = await client.post(f"/api/v1/comments/{comment_id}/support", headers=who["headers"])
    assert r.status_code == 200, r.text


async def test_export_holds_own_data_only_and_deletion_leaves_anonymous_contributions(
    client, mailbox
):
    org = await staff_headers(client, "org", "organizer", UNIT)
    mod = await staff_headers(client, "mod", "moderator", "区政务公开办")
    c = await make_consultation(client, org)
    li = await _resident(client, mailbox, "li@example.com", "李小明")
    wang = await _resident(client, mailbox, "wang@example.com", "王芳")
    zhao = await _resident(client, mailbox, "zhao@example.com", "赵强")
    li_comment = await _published_comment(client, mod, li, c["id"], "建议提高补贴标准。")
    wang_comment = await _published_comment(client, mod, wang, c["id"], "建议简化申请材料。")
    # Two residents who will both delete their accounts support the same comment.
    await _support(client, li, wang_comment)
    await _support(client, zhao, wang_comment)
    await _support(client, wang, li_comment)
    question = await service.ask_question(li["principal"], c["id"], "补贴何时发放？")
    await service.ask_question(wang["principal"], c["id"], "低层住户如何分摊？")
    sub = await service.save_subscription(li["principal"], ["住房"], ["livelihood"], "daily")
    await DigestItem.create(
        subscription=sub,
        line="开始征求意见",
        path=f"/consultations/{c['id']}",
        created_at=clock.now(),
    )

    r = await client.get("/api/v1/me/data", headers=li["headers"])
    assert r.status_code == 200
    mine = r.json()["consultations"]
    assert [(x["id"], x["body"], x["author_name"]) for x in mine["comments"]] == [
        (li_comment, "建议提高补贴标准。", "李小明")
    ]
    assert [x["comment_id"] for x in mine["supports"]] == [wang_comment]
    assert [(x["id"], x["body"]) for x in mine["questions"]] == [(question.id, "补贴何时发放？")]
    assert mine["subscription"]["email"] == "li@example.com"
    assert mine["subscription"]["mode"] == "daily"
    text = json.dumps(r.json(), ensure_ascii=False)
    assert "王芳" not in text and "建议简化申请材料" not in text and "低层住户" not in text

    for who in (li, zhao):
        assert (await client.delete("/api/v1/me", headers=who["headers"])).status_code == 200

    row = await Comment.get(id=li_comment)
    assert (row.resident_id, row.author_name) == (0, "")
    assert (row.body, row.status, row.supports) == ("建议提高补贴标准。", "published", 1)
    q = await BoardQuestion.get(id=question.id)
    assert (q.resident_id, q.author_name, q.body) == (0, "", "补贴何时发放？")
    assert not await Comment.filter(
        resident_id__in=(li["resident_id"], zhao["resident_id"])
    ).exists()
    assert not await CommentSupport.filter(
        resident_id__in=(li["resident_id"], zhao["resident_id"])
    ).exists()
    # Supports stay counted, and the counter still equals the rows.
    assert await CommentSupport.filter(comment_id=wang_comment).count() == 2
    assert (await Comment.get(id=wang_comment)).supports == 2
    assert await Subscription.filter(resident_id=li["resident_id"]).count() == 0
    assert await DigestItem.all().count() == 0
    # The public page shows the comment as anonymous; the others are untouched.
    items = (await client.get(f"/api/v1/consultations/{c['id']}/comments")).json()["items"]
    assert {i["body"]: i["author"] for i in items} == {
        "建议提高补贴标准。": "匿名",
        "建议简化申请材料。": "王*",
    }
    assert (await Comment.get(id=wang_comment)).author_name == "王芳"
    assert (
        await BoardQuestion.filter(resident_id=wang["resident_id"], author_name="王芳").count() == 1
    )
    theirs = (await client.get("/api/v1/me/data", headers=wang["headers"])).json()["consultations"]
    assert [x["comment_id"] for x in theirs["supports"]] == [li_comment]


async def test_retention_purge_unlinks_old_contributions_keeps_recent_ones_and_is_audited(
    client, mailbox
):
    org = await staff_headers(client, "org", "organizer", UNIT)
    mod = await staff_headers(client, "mod", "moderator", "区政务公开办")
    old = await make_consultation(client, org, closes_at=iso(timedelta(days=20)))
    recent = await make_consultation(
        client, org, title="浦东新区公共停车收费管理办法", closes_at=iso(timedelta(days=300))
    )
    li = await _resident(client, mailbox, "li@example.com", "李小明")
    wang = await _resident(client, mailbox, "wang@example.com", "王芳")
    old_comment = await _published_comment(client, mod, li, old["id"], "建议提高补贴标准。")
    recent_comment = await _published_comment(client, mod, li, recent["id"], "夜间停车应减免。")
    await _support(client, wang, old_comment)
    await _support(client, wang, recent_comment)
    quiet = await service.ask_question(li["principal"], old["id"], "补贴何时发放？")
    talking = await service.ask_question(wang["principal"], old["id"], "低层住户如何分摊？")
    await service.answer_question(ADMIN, talking.id, "按楼层系数分摊。")
    await service.save_subscription(li["principal"], [], [], "immediate")

    clock.travel(timedelta(days=20 + 365 + 1))
    await service.follow_up_question(wang["principal"], talking.id, "系数如何确定？")
    late = await service.ask_question(li["principal"], recent["id"], "收费标准何时公布？")

    result = await privacy.purge_expired(365)
    # The old comment, its support and the quiet question.
    assert result["consultations"] == 3
    row = await Comment.get(id=old_comment)
    assert (row.resident_id, row.author_name, row.body) == (0, "", "建议提高补贴标准。")
    assert await CommentSupport.filter(comment_id=old_comment, resident_id__lt=0).count() == 1
    assert (await Comment.get(id=old_comment)).supports == 1
    kept = await Comment.get(id=recent_comment)
    assert (kept.resident_id, kept.author_name) == (li["resident_id"], "李小明")
    assert await CommentSupport.filter(
        comment_id=recent_comment, resident_id=wang["resident_id"]
    ).exists()
    q = await BoardQuestion.get(id=quiet.id)
    assert (q.resident_id, q.author_name) == (0, "")
    # A question with a recent follow-up, and a recent question, keep their author.
    assert (await BoardQuestion.get(id=talking.id)).author_name == "王芳"
    assert (await BoardQuestion.get(id=late.id)).resident_id == li["resident_id"]
    assert await Subscription.filter(resident_id=li["resident_id"]).exists()
    [entry] = await AuditEntry.filter(action="privacy.purged", target_type="consultations")
    assert entry.details["records"] == 3

    # Nothing left to purge: no second audit entry.
    assert (await privacy.purge_expired(365))["consultations"] == 0
    assert (
        await AuditEntry.filter(action="privacy.purged", target_type="consultations").count() == 1
    )


async def test_unsubscribed_subscriptions_are_deleted_a_retention_period_after_unsubscribing(
    client, mailbox
):
    li = await _resident(client, mailbox, "li@example.com", "李小明")
    wang = await _resident(client, mailbox, "wang@example.com", "王芳")
    zhao = await _resident(client, mailbox, "zhao@example.com", "赵强")
    gone = await service.save_subscription(li["principal"], ["住房"], [], "daily")
    await DigestItem.create(
        subscription=gone, line="开始征求意见", path="/", created_at=clock.now()
    )
    link = service.unsubscribe_path(gone.id)
    # The signed link's button records the moment; the page alone changes nothing.
    assert (await client.get(link)).status_code == 200
    assert (await Subscription.get(id=gone.id)).unsubscribed_at is None
    clicked = clock.now()
    assert (await client.post(link)).status_code == 200
    row = await Subscription.get(id=gone.id)
    left_at = row.unsubscribed_at
    assert row.active is False and clicked <= left_at <= clock.now()
    mine = (await client.get("/api/v1/me/data", headers=li["headers"])).json()["consultations"]
    assert mine["subscription"]["active"] is False
    assert mine["subscription"]["unsubscribed_at"] == left_at.isoformat()
    # A second click later does not move the moment (nor the end of its retention).
    clock.travel(timedelta(days=100))
    assert (await client.post(link)).status_code == 200
    assert (await Subscription.get(id=gone.id)).unsubscribed_at == left_at
    # Subscribing again clears it: an active subscription is kept.
    back = await service.save_subscription(wang["principal"], [], [], "immediate")
    assert await service.unsubscribe(back.id, service.unsubscribe_token(back.id))
    assert (await Subscription.get(id=back.id)).unsubscribed_at is not None
    back = await service.save_subscription(wang["principal"], [], [], "immediate")
    assert (back.active, back.unsubscribed_at) == (True, None)
    later = await service.save_subscription(zhao["principal"], [], [], "immediate")
    assert await service.unsubscribe(later.id, service.unsubscribe_token(later.id))
    # A subscription left before the moment was recorded.
    legacy = await Subscription.create(
        resident_id=zhao["resident_id"] + 1000,
        email="old@example.com",
        active=False,
        created_at=clock.now(),
    )

    clock.travel(timedelta(days=365 - 100 + 1))
    started = clock.now()
    result = await privacy.purge_expired(365)
    ended = clock.now()

    assert result["consultations"] == 1
    assert not await Subscription.filter(id=gone.id).exists()
    assert not await Subscription.filter(email="li@example.com").exists()
    assert not await DigestItem.filter(subscription_id=gone.id).exists()
    assert await Subscription.filter(id=back.id, active=True).exists()
    assert await Subscription.filter(id=later.id, active=False).exists()
    # The old one starts its retention period now.
    assert started <= (await Subscription.get(id=legacy.id)).unsubscribed_at <= ended
    [entry] = await AuditEntry.filter(action="privacy.purged", target_type="consultations")
    assert entry.details["records"] == 1
    assert (await privacy.purge_expired(365))["consultations"] == 0
    # The old link of the deleted subscription still answers, and changes nothing.
    assert (await client.post(link)).status_code == 200
    assert not await Subscription.filter(id=gone.id).exists()

    clock.travel(timedelta(days=366))
    assert (await privacy.purge_expired(365))["consultations"] == 2
    remaining = await Subscription.all().values_list("id", flat=True)
    assert list(remaining) == [back.id]
