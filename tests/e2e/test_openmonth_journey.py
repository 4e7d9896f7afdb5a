"""Open month in a real browser: register → mail with ticket → cancel → the waiting person is
offered the place and confirms → staff check in the ticket. axe finds nothing on the way."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from playwright.sync_api import expect

from conftest import code_in, text_of
from e2e.conftest import assert_accessible, create_staff, wait_for_mail

STAFF_PASSWORD = "open-month-e2e-2026"


@pytest.fixture(scope="module")
def event(live_server):
    token = create_staff(live_server, "chengyun", "organizer", "区城运中心", STAFF_PASSWORD)
    now = datetime.now(UTC)
    r = httpx.post(
        live_server.url + "/api/v1/events",
        headers={"Authorization": f"Bearer {token}"},
        json={
            "title": "走进浦东城运中心",
            "summary": "参观城市运行指挥大厅。",
            "theme": "城市治理",
            "mode": "offline",
            "location": "浦东新区合欢路 2 号（花木街道）",
            "starts_at": (now + timedelta(days=5)).isoformat(),
            "ends_at": (now + timedelta(days=5, hours=2)).isoformat(),
            "capacity": 1,
            "max_companions": 1,
            "published": True,
        },
    )
    assert r.status_code == 201, r.text
    return r.json()


def _sign_in(page, live_server, mailbox, address: str, name: str) -> None:
    page.goto(live_server.url + "/signin")
    page.get_by_label("电子邮箱").fill(address)
    page.get_by_role("button", name="发送验证码").click()
    page.get_by_label("6 位验证码").wait_for()
    code = code_in(wait_for_mail(mailbox, address, timeout=45)[-1])
    page.get_by_label("6 位验证码").fill(code)
    page.get_by_role("button", name="登录").click()
    page.wait_for_url("**/me**")
    page.get_by_label("姓名").fill(name)
    page.get_by_label("所在街镇").select_option("花木街道")
    page.get_by_role("button", name="保存").click()
    page.get_by_text("资料已保存。").wait_for()


def _subjects(mailbox, address: str) -> list[str]:
    return [str(m["Subject"]) for m in mailbox.to(address)]


def test_register_cancel_offer_confirm_and_check_in(browser, live_server, e2e_mailbox, event):
    url = f"{live_server.url}/events/{event['id']}"
    first_ctx = browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN")
    second_ctx = browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN")
    staff_ctx = browser.new_context(viewport={"width": 360, "height": 740}, locale="zh-CN")
    try:
        first, second, staff = first_ctx.new_page(), second_ctx.new_page(), staff_ctx.new_page()
        for pg in (first, second, staff):
            pg.set_default_timeout(30_000)

        # The catalogue shows the event and its places.
        first.goto(live_server.url + "/events")
        first.get_by_role("link", name="走进浦东城运中心").wait_for()
        assert_accessible(first)

        # The first resident takes the only place and receives the ticket by mail.
        _sign_in(first, live_server, e2e_mailbox, "lin.hui@example.com", "林慧")
        first.goto(url)
        assert_accessible(first)
        first.get_by_role("button", name="报名", exact=True).click()
        first.get_by_text("报名成功！电子票已发送到您的邮箱。").wait_for()
        assert_accessible(first)
        mails = wait_for_mail(e2e_mailbox, "lin.hui@example.com", count=2, timeout=45)
        ticket_mail = next(m for m in mails if "报名成功" in str(m["Subject"]))
        names = [p.get_filename() for p in ticket_mail.iter_attachments()]
        assert any(n.endswith(".png") for n in names) and f"event-{event['id']}.ics" in names
        assert "电子票号" in text_of(ticket_mail)

        # The second resident finds the event full and joins the waiting list.
        _sign_in(second, live_server, e2e_mailbox, "gu.ming@example.com", "顾明")
        second.goto(url)
        second.get_by_role("button", name="加入候补").click()
        second.get_by_text("名额已满，您已进入候补名单。").wait_for()
        assert_accessible(second)

        # The first resident cancels: the place is offered to the waiting person.
        first.goto(live_server.url + "/me/events")
        assert_accessible(first)
        first.get_by_role("button", name="取消报名").click()
        first.get_by_text("报名已取消。").wait_for()
        offer = wait_for_mail(e2e_mailbox, "gu.ming@example.com", count=3, timeout=45)
        assert any("候补递补" in str(m["Subject"]) for m in offer), _subjects(
            e2e_mailbox, "gu.ming@example.com"
        )

        # The waiting person confirms and gets a ticket.
        second.goto(live_server.url + "/me/events")
        assert_accessible(second)
        second.get_by_role("button", name="确认名额").click()
        second.get_by_text("名额已确认！电子票已发送到您的邮箱。").wait_for()
        ticket = second.locator(".om-ticket-code").first.inner_text().strip()
        assert len(ticket) == 10

        # Staff check the ticket in on a phone-sized page; a second scan says when.
        staff.goto(live_server.url + "/staff/signin")
        staff.get_by_label("用户名").fill("chengyun")
        staff.get_by_label("密码").fill(STAFF_PASSWORD)
        staff.get_by_role("button", name="登录").click()
        staff.wait_for_url("**/staff")
        staff.goto(f"{live_server.url}/staff/events/{event['id']}")
        assert_accessible(staff)
        staff.get_by_role("link", name="现场签到").click()
        assert_accessible(staff)
        assert staff.evaluate("document.documentElement.scrollWidth") <= 360
        staff.get_by_label("电子票号").fill(ticket)
        staff.get_by_role("button", name="签到", exact=True).click()
        staff.get_by_text("签到成功（1 人）").wait_for()
        assert_accessible(staff)
        staff.get_by_label("电子票号").fill(ticket)
        staff.get_by_role("button", name="签到", exact=True).click()
        staff.get_by_text("已于").wait_for()
        staff.get_by_label("电子票号").fill("WRONGCODE1")
        staff.get_by_role("button", name="签到", exact=True).click()
        staff.get_by_text("无效的电子票号。").wait_for()
    finally:
        for ctx in (first_ctx, second_ctx, staff_ctx):
            ctx.close()


def test_check_in_works_without_javascript(browser, live_server, event):
    context = browser.new_context(java_script_enabled=False, viewport={"width": 360, "height": 740})
    page = context.new_page()
    try:
        page.goto(live_server.url + "/staff/signin")
        page.get_by_label("用户名").fill("chengyun")
        page.get_by_label("密码").fill(STAFF_PASSWORD)
        page.get_by_role("button", name="登录").click()
        page.wait_for_url("**/staff")
        page.goto(f"{live_server.url}/staff/events/{event['id']}/checkin")
        page.get_by_label("电子票号").fill("NOTATICKET")
        page.get_by_role("button", name="签到", exact=True).click()
        page.get_by_text("无效的电子票号。").wait_for()
    finally:
        context.close()


def test_open_month_pages_pass_axe_and_fit_a_phone_in_large_text(browser, live_server, event):
    context = browser.new_context(viewport={"width": 360, "height": 740}, locale="zh-CN")
    page = context.new_page()
    page.set_default_timeout(30_000)
    try:
        page.goto(live_server.url + "/events")
        page.get_by_role("button", name="大字模式").click()
        page.wait_for_load_state()
        for path in ("/events", "/events?view=calendar", f"/events/{event['id']}"):
            page.goto(live_server.url + path)
            assert_accessible(page)
            assert page.evaluate("document.documentElement.scrollWidth") <= 360, path
        page.goto(live_server.url + "/staff/signin")
        page.get_by_label("用户名").fill("chengyun")
        page.get_by_label("密码").fill(STAFF_PASSWORD)
        page.get_by_role("button", name="登录").click()
        page.wait_for_url("**/staff")
        for path in ("/staff/events", "/staff/events/new"):
            page.goto(live_server.url + path)
            assert_accessible(page)
            assert page.evaluate("document.documentElement.scrollWidth") <= 360, path
    finally:
        context.close()


def test_scans_made_offline_are_uploaded_later_and_counted_once(
    browser, live_server, e2e_mailbox, event
):
    now = datetime.now(UTC)
    staff_token = httpx.post(
        live_server.url + "/api/v1/staff/token",
        json={"username": "chengyun", "password": STAFF_PASSWORD},
    ).json()["token"]
    created = httpx.post(
        live_server.url + "/api/v1/events",
        headers={"Authorization": f"Bearer {staff_token}"},
        json={
            "title": "离线签到演练",
            "summary": "演练",
            "mode": "offline",
            "location": "浦东新区合欢路 2 号",
            "starts_at": (now + timedelta(days=2)).isoformat(),
            "ends_at": (now + timedelta(days=2, hours=1)).isoformat(),
            "capacity": 5,
            "published": True,
        },
    ).json()
    address = "offline.scan@example.com"
    httpx.post(live_server.url + "/api/v1/auth/code", json={"email": address})
    code = code_in(wait_for_mail(e2e_mailbox, address, timeout=45)[-1])
    token = httpx.post(
        live_server.url + "/api/v1/auth/token", json={"email": address, "code": code}
    ).json()["token"]
    ticket = httpx.post(
        f"{live_server.url}/api/v1/events/{created['id']}/registrations",
        json={},
        headers={"Authorization": f"Bearer {token}"},
    ).json()["ticket_code"]

    context = browser.new_context(viewport={"width": 360, "height": 740}, locale="zh-CN")
    page = context.new_page()
    page.set_default_timeout(30_000)
    try:
        page.goto(live_server.url + "/staff/signin")
        page.get_by_label("用户名").fill("chengyun")
        page.get_by_label("密码").fill(STAFF_PASSWORD)
        page.get_by_role("button", name="登录").click()
        page.wait_for_url("**/staff")
        page.goto(f"{live_server.url}/staff/events/{created['id']}/checkin")
        context.set_offline(True)
        for queued in ("1", "2"):  # the same ticket scanned twice while offline
            page.get_by_label("电子票号").fill(ticket)
            page.get_by_role("button", name="签到", exact=True).click()
            expect(page.locator("#om-queue-count")).to_have_text(queued, timeout=30_000)
        page.get_by_text("网络中断").wait_for()
        context.set_offline(False)
        page.get_by_text("离线签到已全部上传。").wait_for()
        mine = httpx.get(
            live_server.url + "/api/v1/me/registrations",
            headers={"Authorization": f"Bearer {token}"},
        ).json()["items"]
        assert mine[0]["checked_in_at"] is not None
        page.reload()
        page.get_by_text("已签到 1 / 1 份报名").wait_for()
    finally:
        context.close()
