"""HTML pages: organizer form, moderation queue, dispositions, exports, attachments, board,
subscriptions and the signed unsubscribe link."""

from __future__ import annotations

import io
import zipfile
from datetime import timedelta

from canyu.consultations import service
from canyu.consultations.models import (
    Attachment,
    BoardQuestion,
    Comment,
    Consultation,
    Subscription,
)
from canyu.core import clock
from conftest import csrf_of, html_sign_in, html_staff_sign_in, sign_in, staff_headers, text_of
from consultations.helpers import make_consultation

UNIT = "区建设和交通委员会"


async def _csrf(client, path="/consultations"):
    return csrf_of((await client.get(path)).text)


async def test_pages_render_for_everyone(client, mailbox):
    org = await staff_headers(client, "org", "organizer", UNIT)
    c = await make_consultation(client, org, topics=["住房"], audiences=["livelihood"])
    for path in ("/", "/consultations", f"/consultations/{c['id']}", "/board", "/consultations?phase=open&audience=livelihood&topic=住房"):
        r = await client.get(path)
        assert r.status_code == 200, path
    home = await client.get("/")
    assert "正在征求意见" in home.text and f'href="/consultations/{c["id"]}"' in home.text
    page = await client.get(f"/consultations/{c['id']}")
    assert 'id="s1"' in page.text and 'id="s2"' in page.text
    assert "本办法明确补贴标准" in page.text
    assert (await client.get("/consultations/999999")).status_code == 404
    assert (await client.get(f"/consultations/{c['id']}/report")).status_code == 404


async def test_organizer_creates_draft_by_form_then_publishes(client, mailbox):
    await html_staff_sign_in(client, "org", "organizer", UNIT)
    token = await _csrf(client, "/staff/consultations/new")
    opens = clock.local().strftime("%Y-%m-%dT%H:%M")
    closes = (clock.local() + timedelta(days=3)).strftime("%Y-%m-%dT%H:%M")
    form = {
        "csrf_token": token, "title": "浦东新区促进养老服务发展若干措施", "kind": "normative",
        "opens_at": opens, "closes_at": closes, "draft": "导语\n\n## 第一条\n\n内容一\n\n## 第二条\n\n内容二",
        "audiences": "special_groups", "topics": "养老，民生",
    }
    r = await client.post("/staff/consultations/new", data=form)
    assert r.status_code == 422 and "7 个工作日" in r.text
    assert "浦东新区促进养老服务发展若干措施" in r.text  # what was typed is kept
    assert await Consultation.all().count() == 0
    form["period_reason"] = "年底前须出台。"
    r = await client.post("/staff/consultations/new", data=form)
    assert r.status_code == 303
    c = await Consultation.get()
    assert c.published_at is None and c.topics == ["养老", "民生"] and c.audiences == ["special_groups"]
    assert [s.title for s in await service.sections_of(c.id)] == ["第一条", "第二条"]
    assert (await client.get(f"/staff/consultations/{c.id}")).status_code == 200
    r = await client.post(f"/staff/consultations/{c.id}/publish", data={"csrf_token": token})
    assert r.status_code == 303
    r = await client.post(f"/staff/consultations/{c.id}/publish", data={"csrf_token": token})
    assert r.status_code == 409
    # Once open, the draft cannot be edited any more.
    form["title"] = "改名"
    r = await client.post(f"/staff/consultations/{c.id}/edit", data=form)
    assert r.status_code == 409
    assert (await Consultation.get()).title != "改名"


async def test_organizer_of_another_unit_cannot_manage(client, mailbox):
    org = await staff_headers(client, "org", "organizer", UNIT)
    c = await make_consultation(client, org)
    await html_staff_sign_in(client, "other", "organizer", "张江镇")
    assert (await client.get(f"/staff/consultations/{c['id']}")).status_code == 403
    assert (await client.get(f"/staff/consultations/{c['id']}/export.csv")).status_code == 403


async def test_resident_comments_by_form_and_sees_status(client, mailbox):
    org = await staff_headers(client, "org", "organizer", UNIT)
    c = await make_consultation(client, org)
    await html_sign_in(client, mailbox, "zhao@example.com")
    token = await _csrf(client, f"/consultations/{c['id']}")
    r = await client.post(f"/consultations/{c['id']}/comments", data={"csrf_token": token, "body": "", "section_id": ""})
    assert r.status_code == 422 and "意见内容不能为空" in r.text
    r = await client.post(f"/consultations/{c['id']}/comments", data={"csrf_token": token, "body": "建议明确申请材料。", "section_id": str(c["sections"][0]["id"])})
    assert r.status_code == 303
    mine = await client.get("/me/consultations")
    assert "建议明确申请材料。" in mine.text and "待审核" in mine.text


async def test_moderator_queue_highlights_hits_and_rejects_with_reason(client, mailbox):
    org = await staff_headers(client, "org", "organizer", UNIT)
    c = await make_consultation(client, org)
    resident = await sign_in(client, mailbox, "qian@example.com")
    r = await client.post(f"/api/v1/consultations/{c['id']}/comments", json={"body": "有人在小区搞传销"}, headers=resident["headers"])
    cid = r.json()["id"]
    await html_staff_sign_in(client, "mod", "moderator", "区政务公开办")
    queue = await client.get("/staff/moderation")
    assert "<mark>传销</mark>" in queue.text
    token = csrf_of(queue.text)
    r = await client.post(f"/staff/moderation/{cid}", data={"csrf_token": token, "decision": "reject", "reason": ""})
    assert r.status_code == 422
    r = await client.post(f"/staff/moderation/{cid}", data={"csrf_token": token, "decision": "reject", "reason": "请向公安机关举报"})
    assert r.status_code == 303
    assert (await Comment.get(id=cid)).status == "rejected"


async def test_group_disposition_and_exports_neutralize_formulas(client, mailbox):
    org_headers = await staff_headers(client, "org", "organizer", UNIT)
    mod = await staff_headers(client, "mod", "moderator", "区政务公开办")
    c = await make_consultation(client, org_headers)
    resident = await sign_in(client, mailbox, "sun@example.com")
    ids = []
    for body in ("=HYPERLINK(\"http://evil\")", "建议二", "建议三"):
        r = await client.post(f"/api/v1/consultations/{c['id']}/comments", json={"body": body}, headers=resident["headers"])
        ids.append(r.json()["id"])
        await client.post(f"/api/v1/comments/{ids[-1]}/moderation", json={"decision": "publish"}, headers=mod)
    await html_staff_sign_in(client, "org", "organizer", UNIT)
    token = await _csrf(client, f"/staff/consultations/{c['id']}")
    r = await client.post(f"/staff/consultations/{c['id']}/dispositions", data={"csrf_token": token, "comment_ids": [str(i) for i in ids[:2]], "outcome": "not_adopted", "reason": "与上位法不符"})
    assert r.status_code == 303
    outcomes = [cm.outcome for cm in await Comment.filter(id__in=ids).order_by("id")]
    assert outcomes == ["not_adopted", "not_adopted", None]
    csv = await client.get(f"/staff/consultations/{c['id']}/export.csv")
    assert csv.status_code == 200 and "'=HYPERLINK" in csv.content.decode("utf-8-sig")
    xlsx = await client.get(f"/staff/consultations/{c['id']}/export.xlsx")
    from openpyxl import load_workbook

    sheet = load_workbook(io.BytesIO(xlsx.content)).active
    assert sheet.cell(row=2, column=3).value.startswith("'=")


def _docx() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("word/document.xml", "<w:document/>")
    return buf.getvalue()


async def test_attachments_are_checked_by_content_and_served_safely(client, mailbox, settings):
    org = await staff_headers(client, "org", "organizer", UNIT)
    c = await make_consultation(client, org)
    await html_staff_sign_in(client, "org", "organizer", UNIT)
    token = await _csrf(client, f"/staff/consultations/{c['id']}")
    url = f"/staff/consultations/{c['id']}/attachments"
    r = await client.post(url, data={"csrf_token": token}, files={"attachment": ("x.pdf", b"<html>not a pdf</html>", "application/pdf")})
    assert r.status_code == 415
    r = await client.post(url, data={"csrf_token": token}, files={"attachment": ("big.pdf", b"%PDF-1.4" + b"0" * (10 * 1024 * 1024), "application/pdf")})
    assert r.status_code in (413,)
    assert await Attachment.all().count() == 0
    r = await client.post(url, data={"csrf_token": token}, files={"attachment": ("../起草说明.pdf", b"%PDF-1.4 test", "application/pdf")})
    assert r.status_code == 303
    r = await client.post(url, data={"csrf_token": token}, files={"attachment": ("说明.docx", _docx(), "application/octet-stream")})
    assert r.status_code == 303
    first = await Attachment.all().order_by("id").first()
    assert first.filename == "起草说明.pdf"
    assert (settings.upload_dir / "consultations" / first.stored_name).exists()
    got = await client.get(f"/consultations/attachments/{first.id}")
    assert got.status_code == 200 and got.content == b"%PDF-1.4 test"
    assert got.headers["x-content-type-options"] == "nosniff"
    assert got.headers["content-disposition"].startswith("attachment")
    # Deleting an attachment removes its file too; the other one stays.
    second = await Attachment.filter(id__gt=first.id).first()
    page = await client.get(f"/staff/consultations/{c['id']}")
    r = await client.post(f"/staff/consultations/{c['id']}/attachments/{first.id}/delete",
                          data={"csrf_token": csrf_of(page.text)})
    assert r.status_code == 303
    assert not (settings.upload_dir / "consultations" / first.stored_name).exists()
    assert (settings.upload_dir / "consultations" / second.stored_name).exists()
    assert [a.id for a in await Attachment.all()] == [second.id]
    assert (await client.get(f"/consultations/attachments/{first.id}")).status_code == 404


async def test_faq_suggestions_group_similar_comments(client, mailbox):
    org = await staff_headers(client, "org", "organizer", UNIT)
    c = await make_consultation(client, org)
    resident = await sign_in(client, mailbox, "zhou@example.com")
    for body in ("加装电梯的补贴什么时候发放？", "请问加装电梯补贴什么时候发放", "低层住户的采光问题怎么解决"):
        await client.post(f"/api/v1/consultations/{c['id']}/comments", json={"body": body}, headers=resident["headers"])
    await html_staff_sign_in(client, "org", "organizer", UNIT)
    page = await client.get(f"/staff/consultations/{c['id']}")
    assert "2 条相似" in page.text
    token = csrf_of(page.text)
    r = await client.post(f"/staff/consultations/{c['id']}/faq", data={"csrf_token": token, "question": "补贴何时发放？", "answer": "竣工验收后 30 日内。"})
    assert r.status_code == 303
    assert "补贴何时发放？" in (await client.get(f"/consultations/{c['id']}")).text


async def test_board_question_answer_rating_and_follow_up(client, mailbox):
    org = await staff_headers(client, "org", "organizer", UNIT)
    c = await make_consultation(client, org)
    await html_sign_in(client, mailbox, "wu@example.com")
    token = await _csrf(client, "/board")
    r = await client.post("/board", data={"csrf_token": token, "consultation_id": str(c["id"]), "body": "<b>我家是一楼</b>，也要出资吗？"})
    assert r.status_code == 303
    q = await BoardQuestion.get()
    assert q.due_on > clock.today()
    # Not public before the answer.
    anon = await client.get("/board")
    assert "我家是一楼" not in anon.text
    # Other units may not answer. The unit answers, the asker is mailed.
    assert (await service.staff_questions(service.Principal("staff", 1, "x", role="admin"), overdue_only=True)) == []
    clock.travel(timedelta(days=10))
    admin = service.Principal("staff", 1, "x", role="admin")
    assert [x.id for x in await service.staff_questions(admin, overdue_only=True)] == [q.id]
    async_client_token = token
    await html_staff_sign_in(client, "org", "organizer", UNIT)
    staff_page = await client.get("/staff/board")
    assert "已超期" in staff_page.text
    r = await client.post(f"/staff/board/{q.id}/answer", data={"csrf_token": csrf_of(staff_page.text), "answer": "一楼住户可不出资。"})
    assert r.status_code == 303
    await mailbox.deliver()
    assert "一楼住户可不出资" in text_of(mailbox.to("wu@example.com")[-1])
    public = await client.get("/board")
    assert "&lt;b&gt;我家是一楼&lt;/b&gt;" in public.text
    await html_sign_in(client, mailbox, "wu@example.com")
    token = await _csrf(client, f"/board/{q.id}")
    assert token != async_client_token or token
    assert (await client.post(f"/board/{q.id}/rating", data={"csrf_token": token, "rating": "great"})).status_code == 422
    assert (await client.post(f"/board/{q.id}/rating", data={"csrf_token": token, "rating": "basically_satisfied"})).status_code == 303
    assert (await client.post(f"/board/{q.id}/rating", data={"csrf_token": token, "rating": "satisfied"})).status_code == 409
    assert (await client.post(f"/board/{q.id}/follow-up", data={"csrf_token": token, "follow_up": "二楼呢？"})).status_code == 303
    assert (await client.post(f"/board/{q.id}/follow-up", data={"csrf_token": token, "follow_up": "三楼呢？"})).status_code == 409
    q = await BoardQuestion.get()
    assert q.rating == "basically_satisfied" and q.follow_up == "二楼呢？"


async def test_subscribers_are_mailed_at_once_or_daily_and_unsubscribe_in_one_click(client, mailbox):
    org = await staff_headers(client, "org", "organizer", UNIT)
    await html_sign_in(client, mailbox, "feng@example.com")
    token = await _csrf(client, "/subscriptions")
    assert (await client.post("/subscriptions", data={"csrf_token": token, "audiences": "enterprise", "mode": "immediate"})).status_code == 303
    daily = await sign_in(client, mailbox, "chu@example.com")
    from canyu.core.permissions import Principal

    await service.save_subscription(Principal("resident", daily["resident_id"], ""), ["住房"], [], "daily")
    mailbox.clear()
    await make_consultation(client, org, audiences=["livelihood"], topics=["交通"])  # matches nobody
    await make_consultation(client, org, audiences=["enterprise"], topics=["住房"])
    await mailbox.deliver()
    [mail] = mailbox.to("feng@example.com")
    body = text_of(mail)
    assert "开始征求意见" in body and "/subscriptions/unsubscribe/" in body
    assert mailbox.to("chu@example.com") == []
    clock.travel(timedelta(days=1))
    await service.send_daily_digests()
    await mailbox.deliver()
    assert len(mailbox.to("chu@example.com")) == 1
    link = body[body.index("/subscriptions/unsubscribe/"):].split()[0]
    assert (await client.get(link[:-3] + "abc")).status_code == 403
    # Following the link (as a mail scanner would) changes nothing; its button does.
    assert (await client.get(link)).status_code == 200
    assert (await Subscription.get(resident_id__not=daily["resident_id"])).active
    assert (await client.post(link)).status_code == 200
    assert not (await Subscription.get(resident_id__not=daily["resident_id"])).active


async def test_consultation_opening_later_is_announced_by_the_job(client, mailbox):
    org = await staff_headers(client, "org", "organizer", UNIT)
    resident = await sign_in(client, mailbox, "han@example.com")
    from canyu.core.permissions import Principal

    await service.save_subscription(Principal("resident", resident["resident_id"], ""), [], [], "immediate")
    from consultations.helpers import iso

    await make_consultation(client, org, opens_at=iso(timedelta(days=1)), closes_at=iso(timedelta(days=20)))
    assert await service.announce_opened_consultations() == 0
    clock.travel(timedelta(days=1, minutes=1))
    assert await service.announce_opened_consultations() == 1
    assert await service.announce_opened_consultations() == 0
    mailbox.clear()
    await mailbox.deliver()
    assert len(mailbox.to("han@example.com")) == 1


async def test_draft_page_shows_the_most_supported_and_pages_the_rest(client, mailbox):
    org = await staff_headers(client, "org", "organizer", UNIT)
    c = await make_consultation(client, org)
    consultation = await Consultation.get(id=c["id"])
    section_id = c["sections"][0]["id"]
    for i in range(60):
        await Comment.create(
            consultation=consultation, section_id=section_id, resident_id=1, author_name="郑十",
            body=f"第{i:02d}号意见", status="published", supports=i, created_at=clock.now(),
        )
    page = await client.get(f"/consultations/{c['id']}")
    assert "第59号意见" in page.text and "第00号意见" not in page.text
    assert "查看本条全部 60 条意见" in page.text
    first = await client.get(f"/consultations/{c['id']}/comments?section={section_id}")
    assert "第00号意见" in first.text and "第50号意见" not in first.text
    second = await client.get(f"/consultations/{c['id']}/comments?section={section_id}&page=2")
    assert "第50号意见" in second.text and "第 2 / 2 页" in second.text
    assert (await client.get(f"/consultations/{c['id']}/comments?page=x")).status_code == 200


async def test_overdue_list_is_for_admins_only(client, mailbox):
    await html_staff_sign_in(client, "org", "organizer", UNIT)
    assert (await client.get("/staff/board/overdue")).status_code == 403
    assert (await client.get("/staff/board")).status_code == 200
    await html_staff_sign_in(client, "admin", "admin", "区政务公开办")
    assert (await client.get("/staff/board/overdue")).status_code == 200


async def test_faq_entry_is_mailed_to_subscribers(client, mailbox):
    org = await staff_headers(client, "org", "organizer", UNIT)
    c = await make_consultation(client, org, topics=["住房"])
    resident = await sign_in(client, mailbox, "ma@example.com")
    from canyu.core.permissions import Principal

    await service.save_subscription(Principal("resident", resident["resident_id"], ""), ["住房"], [], "immediate")
    await html_staff_sign_in(client, "org", "organizer", UNIT)
    token = await _csrf(client, f"/staff/consultations/{c['id']}")
    mailbox.clear()
    r = await client.post(f"/staff/consultations/{c['id']}/faq", data={"csrf_token": token, "question": "", "answer": "x"})
    assert r.status_code == 422
    r = await client.post(f"/staff/consultations/{c['id']}/faq", data={"csrf_token": token, "question": "何时实施？", "answer": "印发之日起。"})
    assert r.status_code == 303
    await mailbox.deliver()
    assert "更新常见问题解答" in text_of(mailbox.to("ma@example.com")[-1])


async def test_public_json_detail_and_list(client, mailbox):
    org = await staff_headers(client, "org", "organizer", UNIT)
    c = await make_consultation(client, org)
    draft = await make_consultation(client, org, published=False, title="内部草稿")
    listed = (await client.get("/api/v1/consultations")).json()["items"]
    assert [item["id"] for item in listed] == [c["id"]]
    detail = (await client.get(f"/api/v1/consultations/{c['id']}")).json()
    assert detail["phase"] == "open" and detail["sections"][1]["anchor"] == "s2"
    assert (await client.get(f"/api/v1/consultations/{draft['id']}")).status_code == 404
    assert (await client.get(f"/api/v1/consultations/{draft['id']}", headers=org)).status_code == 200


async def test_pages_are_available_in_english(client, mailbox):
    org = await staff_headers(client, "org", "organizer", UNIT)
    c = await make_consultation(client, org)
    client.cookies.set("canyu_lang", "en")
    listing = await client.get("/consultations")
    assert "Public comment periods" in listing.text
    page = await client.get(f"/consultations/{c['id']}")
    assert "Full text of the draft" in page.text


async def test_staff_home_links_follow_the_role(client, mailbox):
    await html_staff_sign_in(client, "mod", "moderator", "区政务公开办")
    home = await client.get("/staff")
    assert "/staff/moderation" in home.text and "/staff/consultations" not in home.text
    assert (await client.get("/staff/consultations")).status_code == 403
    await html_staff_sign_in(client, "org", "organizer", UNIT)
    home = await client.get("/staff")
    assert "/staff/consultations" in home.text and "/staff/board/overdue" not in home.text


async def test_staff_home_counts_what_waits_for_each_role(client, mailbox):
    import re

    org = await staff_headers(client, "org", "organizer", UNIT)
    c = await make_consultation(client, org)
    resident = await sign_in(client, mailbox, "he@example.com")
    for body in ("建议增加夜间办理。", "建议公开办理进度。"):
        r = await client.post(
            f"/api/v1/consultations/{c['id']}/comments", json={"body": body},
            headers=resident["headers"],
        )
        assert r.status_code == 201, r.text
    await html_sign_in(client, mailbox, "he@example.com")
    token = await _csrf(client, "/board")
    await client.post(
        "/board", data={"csrf_token": token, "consultation_id": str(c["id"]), "body": "何时施行？"}
    )
    assert await BoardQuestion.all().count() == 1

    def waiting(page: str, path: str) -> str:
        card = re.search(rf'<a href="{path}">.*?</li>', page, re.S)
        assert card, path
        found = re.search(r"(\d+) 项待办", card.group(0))
        return found.group(1) if found else "0"

    await html_staff_sign_in(client, "mod", "moderator", "区政务公开办")
    home = (await client.get("/staff")).text
    assert waiting(home, "/staff/moderation") == "2"
    await html_staff_sign_in(client, "org2", "organizer", UNIT)
    home = (await client.get("/staff")).text
    assert waiting(home, "/staff/board") == "1"
    assert waiting(home, "/staff/meetings") == "0"


async def test_an_unanswered_question_is_seen_only_by_the_asker_admins_and_its_units_organizers(
    client, mailbox
):
    import pytest

    from canyu.core.errors import NotFound

    org = await staff_headers(client, "org", "organizer", UNIT)
    c = await make_consultation(client, org)
    await html_sign_in(client, mailbox, "qiu@example.com")
    token = await _csrf(client, "/board")
    await client.post("/board", data={"csrf_token": token, "consultation_id": str(c["id"]), "body": "何时开工？"})
    q = await BoardQuestion.get()
    P = service.Principal
    assert (await service.get_question(P("staff", 1, "a", role="admin"), q.id)).id == q.id
    unit_id = q.unit_id
    assert unit_id is not None
    assert (await service.get_question(P("staff", 2, "o", role="organizer", unit_id=unit_id), q.id)).id == q.id
    for who in (
        P("staff", 3, "o2", role="organizer", unit_id=unit_id + 1000),
        P("staff", 4, "m", role="moderator", unit_id=unit_id),
        P("staff", 5, "r", role="reviewer", unit_id=None),
        None,
    ):
        with pytest.raises(NotFound):
            await service.get_question(who, q.id)
    # A question assigned to no unit belongs to no organizer, and never to the roles without a
    # unit (moderators, reviewers): only admins see it before it is answered.
    await BoardQuestion.filter(id=q.id).update(unit_id=None)
    for who in (
        P("staff", 4, "m", role="moderator", unit_id=None),
        P("staff", 5, "r", role="reviewer", unit_id=None),
        P("staff", 6, "o3", role="organizer", unit_id=None),
    ):
        with pytest.raises(NotFound):
            await service.get_question(who, q.id)
    assert (await service.get_question(P("staff", 1, "a", role="admin"), q.id)).id == q.id
