"""A resident comments on a section, a moderator publishes it, the organizer disposes of it,
the adoption report is published and the commenter's mail arrives; axe finds nothing."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import httpx

from conftest import code_in, text_of
from e2e.conftest import assert_accessible, create_staff, wait_for_mail

PASSWORD = "correct horse battery"
PERIOD = 40  # seconds: the live server runs on the real clock


def _staff(live_server, username: str, role: str, unit: str) -> str:
    return create_staff(live_server, username, role, unit, PASSWORD)


def _staff_sign_in(browser, live_server, username: str):
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN")
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.goto(live_server.url + "/staff/signin")
    page.get_by_label("用户名").fill(username)
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    page.wait_for_url("**/staff")
    return context, page


def test_comment_to_adoption_report_journey(page, browser, live_server, e2e_mailbox):
    token = _staff(live_server, "jt-org", "organizer", "区建设和交通委员会")
    _staff(live_server, "jt-mod", "moderator", "区政务公开办")
    now = datetime.now(UTC)
    closes_at = now + timedelta(seconds=PERIOD)
    r = httpx.post(
        live_server.url + "/api/v1/consultations",
        headers={"Authorization": f"Bearer {token}"},
        json={
            "title": "浦东新区既有多层住宅加装电梯补贴办法（征求意见稿）", "kind": "normative",
            "body": "为推进既有多层住宅加装电梯工作，制定本办法。", "basis": "《上海市既有多层住宅加装电梯操作指引》",
            "contact": "区建设和交通委员会 021-12345678", "interpretation": "本办法明确补贴标准和申请流程。",
            "opens_at": (now - timedelta(minutes=1)).isoformat(), "closes_at": closes_at.isoformat(),
            "period_reason": "浏览器测试用的短期限。", "published": True,
            "sections": [{"title": "第一条 适用范围", "body": "本办法适用于本区既有多层住宅。"}, {"title": "第二条 补贴标准", "body": "每台电梯补贴不超过 28 万元。"}],
        },
    )
    assert r.status_code == 201, r.text
    cid = r.json()["id"]

    # The resident signs in, reads the draft and comments on the second section.
    address = "lin.hui@example.com"
    page.goto(live_server.url + f"/signin?next=/consultations/{cid}")
    page.get_by_label("电子邮箱").fill(address)
    page.get_by_role("button", name="发送验证码").click()
    page.get_by_label("6 位验证码").fill(code_in(wait_for_mail(e2e_mailbox, address)[-1]))
    page.get_by_role("button", name="登录").click()
    page.wait_for_load_state()
    if "/me" in page.url:
        page.get_by_label("姓名").fill("林慧")
        page.get_by_role("button", name="保存").click()
    page.goto(live_server.url + f"/consultations/{cid}")
    assert_accessible(page)
    page.locator("#s2").get_by_role("link", name="对本条提出意见").click()
    assert page.get_by_label("针对").input_value() == str(r.json()["sections"][1]["id"])
    page.get_by_label("意见内容").fill("建议对一楼住户给予适当补偿。")
    page.get_by_role("button", name="提交意见").click()
    page.get_by_text("意见已提交，审核通过后公开显示。").wait_for()
    assert page.get_by_text("待审核").first.is_visible()
    assert_accessible(page)

    # The moderator publishes it.
    mod_context, mod = _staff_sign_in(browser, live_server, "jt-mod")
    mod.goto(live_server.url + "/staff/moderation")
    assert_accessible(mod)
    mod.get_by_role("button", name="发布").click()
    mod.get_by_text("没有待审核的意见。").wait_for()
    mod_context.close()

    # The organizer disposes of it, waits for the close and publishes the report.
    org_context, org = _staff_sign_in(browser, live_server, "jt-org")
    org.goto(live_server.url + f"/staff/consultations/{cid}")
    assert_accessible(org)
    org.get_by_text("建议对一楼住户给予适当补偿。").click()  # the label ticks the comment
    org.get_by_label("采纳情况").select_option("adopted")
    org.get_by_label("理由").fill("已在第二条增加一楼住户补偿条款。")
    org.get_by_role("button", name="保存采纳答复").click()
    org.get_by_text("采纳情况已保存。").wait_for()
    remaining = (closes_at - datetime.now(UTC)).total_seconds()
    if remaining > 0:
        time.sleep(remaining + 1)
    org.reload()
    org.get_by_role("button", name="公布采纳情况并通知提出意见的人").click()
    org.get_by_text("采纳情况已公布，已通知每位提出意见的人。").wait_for()
    org.goto(live_server.url + f"/consultations/{cid}/report")
    assert_accessible(org)
    org_context.close()

    # The commenter's mail arrives through real SMTP.
    mails = wait_for_mail(e2e_mailbox, address, count=2, timeout=45)
    body = text_of(mails[-1])
    assert "建议对一楼住户给予适当补偿。" in body and "采纳" in body
    page.goto(live_server.url + f"/consultations/{cid}/report")
    page.get_by_role("heading", name="意见采纳情况反馈").wait_for()
    assert_accessible(page)


def _open_consultation(live_server, username: str, unit: str) -> int:
    _staff(live_server, username, "organizer", unit)
    token = httpx.post(live_server.url + "/api/v1/staff/token", json={"username": username, "password": PASSWORD}).json()["token"]
    now = datetime.now(UTC)
    r = httpx.post(
        live_server.url + "/api/v1/consultations",
        headers={"Authorization": f"Bearer {token}"},
        json={
            "title": "张江镇社区公共空间微更新实施办法（征求意见稿）", "kind": "normative",
            "opens_at": (now - timedelta(minutes=1)).isoformat(), "closes_at": (now + timedelta(days=20)).isoformat(),
            "published": True, "interpretation": "| 项目 | 标准 |\n|---|---|\n| 口袋公园 | 每处不超过 50 万元 |",
            "sections": [{"title": "第一条 目的", "body": "为提升社区公共空间品质，制定本办法。"}],
        },
    )
    assert r.status_code == 201, r.text
    return r.json()["id"]


def _sign_in(page, live_server, mailbox, address: str, next_path: str) -> None:
    page.goto(live_server.url + f"/signin?next={next_path}")
    page.get_by_label("电子邮箱").fill(address)
    page.get_by_role("button", name="发送验证码").click()
    page.get_by_label("6 位验证码").fill(code_in(wait_for_mail(mailbox, address)[-1]))
    page.get_by_role("button", name="登录").click()
    page.wait_for_load_state()


def test_consultation_pages_fit_a_phone_in_large_text(page, live_server, e2e_mailbox):
    cid = _open_consultation(live_server, "jt-org2", "张江镇")
    page.set_viewport_size({"width": 360, "height": 740})
    page.goto(live_server.url + "/consultations")
    page.get_by_role("button", name="大字模式").click()
    page.wait_for_load_state()
    _sign_in(page, live_server, e2e_mailbox, "gu.min@example.com", f"/consultations/{cid}")
    for path in ("/consultations", f"/consultations/{cid}", "/board", "/subscriptions", "/me/consultations"):
        page.goto(live_server.url + path)
        assert "large-text" in (page.locator("html").get_attribute("class") or "")
        assert page.evaluate("document.documentElement.scrollWidth") <= 360, path
        assert_accessible(page)


def test_resident_comments_and_subscribes_without_javascript(browser, live_server, e2e_mailbox):
    cid = _open_consultation(live_server, "jt-org3", "花木街道")
    context = browser.new_context(java_script_enabled=False, viewport={"width": 360, "height": 740}, locale="zh-CN")
    page = context.new_page()
    page.set_default_timeout(15_000)
    _sign_in(page, live_server, e2e_mailbox, "xu.lan@example.com", f"/consultations/{cid}")
    page.goto(live_server.url + f"/consultations/{cid}")
    page.get_by_label("意见内容").fill("建议增加儿童游乐设施。")
    page.get_by_role("button", name="提交意见").click()
    page.get_by_text("意见已提交，审核通过后公开显示。").wait_for()
    page.goto(live_server.url + "/subscriptions")
    page.get_by_label("企业").check()
    page.get_by_label("每日汇总").check()
    page.get_by_role("button", name="保存订阅").click()
    page.get_by_text("订阅已保存。").wait_for()
    assert page.get_by_label("每日汇总").is_checked()
    context.close()
