"""Apply → qualified → commitment and draw → invitation accepted → suggestion answered →
public meeting page; axe finds nothing on the way."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta

import httpx

from conftest import code_in, text_of
from e2e.conftest import assert_accessible, create_staff, wait_for_mail

PASSWORD = "correct horse battery"
WINDOW = 25  # seconds: the live server runs on the real clock
LINK = re.compile(r"(http://\S+/meetings/invitations/\S+)")


def _staff(live_server, username: str, role: str = "organizer") -> str:
    return create_staff(live_server, username, role, "区建设和交通委员会", PASSWORD)


def _api_resident(live_server, mailbox, address: str) -> dict:
    httpx.post(live_server.url + "/api/v1/auth/code", json={"email": address})
    code = code_in(wait_for_mail(mailbox, address)[-1])
    r = httpx.post(live_server.url + "/api/v1/auth/token", json={"email": address, "code": code})
    return {"Authorization": f"Bearer {r.json()['token']}"}


def _invitation_link(mailbox, address: str, timeout: float = 45.0) -> str:
    """The link of the newest invitation mailed to ``address``, waiting for it to arrive (mail
    other than sign-in codes may wait a few seconds while the server is busy)."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for message in reversed(mailbox.to(address)):
            match = LINK.search(text_of(message))
            if match:
                return match.group(1)
        time.sleep(0.1)
    raise AssertionError(f"no invitation link for {address} within {timeout}s")


def _first_invited(mailbox, addresses: tuple[str, ...], timeout: float = 45.0) -> str:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for address in addresses:
            if any(LINK.search(text_of(m)) for m in mailbox.to(address)):
                return address
        time.sleep(0.1)
    raise AssertionError("nobody was invited")


def test_apply_to_answered_suggestion_journey(page, browser, live_server, e2e_mailbox):
    token = _staff(live_server, "mt-org")
    now = datetime.now(UTC)
    closes_at = now + timedelta(seconds=WINDOW)
    r = httpx.post(
        live_server.url + "/api/v1/meetings",
        headers={"Authorization": f"Bearer {token}"},
        json={
            "title": "浦东新区老旧小区加装电梯工作推进会",
            "meets_at": (now + timedelta(days=2)).isoformat(),
            "topics": [{"title": "加装电梯补贴标准", "materials": "补贴标准（征求意见稿）"}],
            "applications_open_at": (now - timedelta(minutes=1)).isoformat(),
            "applications_close_at": closes_at.isoformat(),
            "seats": 1,
            "alternates": 1,
            "quotas": {},
        },
    )
    assert r.status_code == 201, r.text
    mid = r.json()["id"]

    # A resident applies through the browser.
    resident = "li.na@example.com"
    page.goto(live_server.url + "/meetings")
    assert_accessible(page)
    page.get_by_role("link", name="浦东新区老旧小区加装电梯工作推进会").click()
    assert_accessible(page)
    page.goto(live_server.url + f"/signin?next=/meetings/{mid}/apply")
    page.get_by_label("电子邮箱").fill(resident)
    page.get_by_role("button", name="发送验证码").click()
    page.get_by_label("6 位验证码").fill(code_in(wait_for_mail(e2e_mailbox, resident)[-1]))
    page.get_by_role("button", name="登录").click()
    page.wait_for_load_state()
    page.goto(live_server.url + f"/meetings/{mid}/apply")
    assert_accessible(page)
    page.get_by_label("姓名").fill("李娜")
    page.get_by_label("性别").select_option("女")
    page.get_by_label("出生年份").fill("1975")
    page.get_by_label("居住或工作所在街镇").select_option("花木街道")
    page.get_by_label("职业").fill("社区医生")
    page.get_by_label("报名类别").select_option("市民")
    page.get_by_label("报名理由").fill("小区正在筹备加装电梯。")
    page.get_by_label("我声明与会议议题无利益冲突。").check()
    page.get_by_role("button", name="提交报名").click()
    page.get_by_text("请阅读个人信息处理告知并同意后再提交。").wait_for()
    assert page.get_by_label("职业").input_value() == "社区医生"
    page.get_by_label("我已阅读上述告知，同意为此目的处理我的个人信息。").check()
    page.get_by_role("button", name="提交报名").click()
    page.get_by_text("报名已提交").wait_for()
    assert_accessible(page)

    # A second applicant through the API.
    other = "zhou.li@example.com"
    headers = _api_resident(live_server, e2e_mailbox, other)
    r = httpx.post(
        live_server.url + f"/api/v1/meetings/{mid}/applications",
        headers=headers,
        json={
            "name": "周丽",
            "gender": "女",
            "birth_year": 1980,
            "district": "张江镇",
            "occupation": "工程师",
            "category": "企业",
            "reason": "关心施工安排。",
            "no_conflict": True,
            "consent": True,
        },
    )
    assert r.status_code == 201, r.text

    # The organizer qualifies both, freezes the pool after the close and draws.
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN")
    staff = context.new_page()
    staff.set_default_timeout(30_000)
    staff.goto(live_server.url + "/staff/signin")
    staff.get_by_label("用户名").fill("mt-org")
    staff.get_by_label("密码").fill(PASSWORD)
    staff.get_by_role("button", name="登录").click()
    staff.wait_for_url("**/staff")
    staff.goto(live_server.url + f"/staff/meetings/{mid}")
    assert_accessible(staff)
    for _ in range(2):
        staff.get_by_role("button", name="通过", exact=True).first.click()
        staff.get_by_text("审查结论已保存").wait_for()
    time.sleep(max(0.0, (closes_at - datetime.now(UTC)).total_seconds() + 1))
    staff.reload()
    staff.get_by_role("button", name="冻结候选名单并计算抽签名单").click()
    staff.get_by_text("已公示").wait_for()  # htmx polls the status while it computes
    staff.reload()
    assert_accessible(staff)
    staff.get_by_label("随机种子", exact=True).fill("03 09 14 21 26 31 12")
    staff.get_by_role("button", name="抽签", exact=True).click()
    staff.get_by_text("抽签完成").wait_for()

    # If the other applicant was drawn, she declines and the alternate (our resident) is invited.
    if _first_invited(e2e_mailbox, (resident, other)) == other:
        page.goto(_invitation_link(e2e_mailbox, other))
        page.get_by_role("button", name="谢绝").click()
        page.get_by_text("感谢您的答复。").wait_for()
    page.goto(_invitation_link(e2e_mailbox, resident))
    assert_accessible(page)
    page.get_by_role("button", name="确认参会").click()
    page.get_by_text("已确认参会").wait_for()

    # The delegate makes a suggestion; the organizer answers it; the answer is mailed.
    page.goto(live_server.url + f"/meetings/{mid}")
    page.get_by_label("我的意见建议").fill("建议对一楼住户给予适当补偿。")
    page.get_by_role("button", name="提交意见建议").click()
    page.get_by_text("意见建议已提交").wait_for()
    staff.goto(live_server.url + f"/staff/meetings/{mid}")
    staff.get_by_label("办理结果").select_option("partly_adopted")
    staff.get_by_label("答复", exact=True).fill("补贴办法增加低层住户协商补偿条款。")
    staff.get_by_role("button", name="公开答复").click()
    staff.get_by_text("答复已公开").wait_for()
    context.close()
    mails = wait_for_mail(e2e_mailbox, resident, 4)
    assert any("低层住户协商补偿条款" in text_of(m) for m in mails) or any(
        "低层住户协商补偿条款" in text_of(m) for m in wait_for_mail(e2e_mailbox, resident, 5)
    )

    # The public meeting page: masked roster, draw record, suggestion with its answer.
    page.goto(live_server.url + f"/meetings/{mid}")
    body = page.locator("main").inner_text()
    assert "李*" in body and "李娜" not in body
    assert "补贴办法增加低层住户协商补偿条款。" in body and "03 09 14 21 26 31 12" in body
    assert_accessible(page)
    record = httpx.get(live_server.url + f"/api/v1/meetings/{mid}/draw").json()
    assert record["seed"] == "03 09 14 21 26 31 12" and len(record["panels"]) == 1000


def test_staff_meeting_pages_and_english_page_are_accessible(browser, live_server):
    _staff(live_server, "mt-admin", "admin")
    context = browser.new_context(viewport={"width": 360, "height": 740}, locale="zh-CN")
    staff = context.new_page()
    staff.goto(live_server.url + "/staff/signin")
    staff.get_by_label("用户名").fill("mt-admin")
    staff.get_by_label("密码").fill(PASSWORD)
    staff.get_by_role("button", name="登录").click()
    staff.wait_for_url("**/staff")
    for path in ("/staff/meetings", "/staff/meetings/overdue", "/staff/meetings/pool", "/"):
        staff.goto(live_server.url + path)
        assert staff.evaluate("document.documentElement.scrollWidth") <= 360, path
        assert_accessible(staff)
    staff.goto(live_server.url + "/meetings")
    staff.get_by_role("button", name="English").click()
    staff.get_by_role(
        "heading", name="Public representatives at government decision meetings"
    ).wait_for()
    assert_accessible(staff)
    context.close()
