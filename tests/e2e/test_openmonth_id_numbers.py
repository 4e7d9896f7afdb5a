"""An event that checks ID on site, in a real browser: the resident reads the notice, gets a
Chinese refusal for a mistyped number, registers, sees the number masked; at the door the
check-in page (its JavaScript) shows the same masked number to compare with the card. axe finds
nothing on the way."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from canyu.core.id_numbers import check_character
from conftest import code_in
from e2e.conftest import assert_accessible, create_staff, wait_for_mail

STAFF_PASSWORD = "id-check-e2e-2026"
FIRST17 = "31011519881109217"
ID_NUMBER = FIRST17 + check_character(FIRST17)
MASKED = ID_NUMBER[:4] + "*" * 10 + ID_NUMBER[-4:]


@pytest.fixture(scope="module")
def event(live_server):
    token = create_staff(live_server, "shuiwu", "organizer", "区水务局", STAFF_PASSWORD)
    now = datetime.now(UTC)
    r = httpx.post(
        live_server.url + "/api/v1/events",
        headers={"Authorization": f"Bearer {token}"},
        json={
            "title": "白龙港污水处理厂开放日",
            "summary": "沿着工艺流程看一滴污水如何变清。",
            "theme": "生态环境",
            "mode": "offline",
            "location": "浦东新区合庆镇白龙港",
            "starts_at": (now + timedelta(days=5)).isoformat(),
            "ends_at": (now + timedelta(days=5, hours=3)).isoformat(),
            "capacity": 10,
            "id_check": True,
            "published": True,
        },
    )
    assert r.status_code == 201, r.text
    return r.json()


def test_register_with_an_id_number_and_compare_it_at_the_door(
    browser, live_server, e2e_mailbox, event
):
    url = f"{live_server.url}/events/{event['id']}"
    resident_ctx = browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN")
    staff_ctx = browser.new_context(viewport={"width": 360, "height": 740}, locale="zh-CN")
    try:
        resident, staff = resident_ctx.new_page(), staff_ctx.new_page()
        for pg in (resident, staff):
            pg.set_default_timeout(30_000)

        resident.goto(live_server.url + "/signin")
        resident.get_by_label("电子邮箱").fill("tang.jie@example.com")
        resident.get_by_role("button", name="发送验证码").click()
        resident.get_by_label("6 位验证码").wait_for()
        code = code_in(wait_for_mail(e2e_mailbox, "tang.jie@example.com", timeout=45)[-1])
        resident.get_by_label("6 位验证码").fill(code)
        resident.get_by_role("button", name="登录").click()
        resident.wait_for_url("**/me**")

        resident.goto(url)
        resident.get_by_text("用途：仅用于入场时与您出示的证件核对").wait_for()
        assert_accessible(resident)
        field = resident.get_by_label("居民身份证号码")
        field.fill(ID_NUMBER[:17] + ("0" if ID_NUMBER[-1] != "0" else "1"))
        resident.get_by_label("我单独同意主办单位按上述用途和期限处理我的身份证号码").check()
        resident.get_by_role("button", name="报名", exact=True).click()
        resident.get_by_text("身份证号码的校验位（最后一位）不正确").wait_for()
        assert resident.get_by_label("居民身份证号码").get_attribute("aria-invalid") == "true"
        assert_accessible(resident)
        resident.get_by_label("居民身份证号码").fill(ID_NUMBER)
        resident.get_by_role("button", name="报名", exact=True).click()
        resident.get_by_text("报名成功！电子票已发送到您的邮箱。").wait_for()
        resident.get_by_text(MASKED).wait_for()
        assert ID_NUMBER not in resident.content()
        ticket = resident.locator(".om-ticket-code").first.inner_text().strip()

        staff.goto(live_server.url + "/staff/signin")
        staff.get_by_label("用户名").fill("shuiwu")
        staff.get_by_label("密码").fill(STAFF_PASSWORD)
        staff.get_by_role("button", name="登录").click()
        staff.wait_for_url("**/staff")
        staff.goto(f"{live_server.url}/staff/events/{event['id']}")
        staff.get_by_role("cell", name=MASKED).wait_for()
        assert_accessible(staff)
        staff.goto(f"{live_server.url}/staff/events/{event['id']}/checkin")
        staff.get_by_label("电子票号").fill(ticket)
        staff.get_by_role("button", name="签到", exact=True).click()
        staff.get_by_text("签到成功（1 人）").wait_for()
        result = staff.locator("#om-result").inner_text()
        assert MASKED in result and "请与证件核对" in result and ID_NUMBER not in result
        assert_accessible(staff)
    finally:
        for ctx in (resident_ctx, staff_ctx):
            ctx.close()
