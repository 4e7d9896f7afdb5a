"""A resident signs in with the mailed code, fills the profile; axe finds nothing."""

from __future__ import annotations

from conftest import code_in
from e2e.conftest import assert_accessible, wait_for_mail


def test_resident_signs_in_with_mailed_code(page, live_server, e2e_mailbox):
    page.goto(live_server.url + "/")
    assert_accessible(page)
    page.get_by_role("link", name="用邮箱验证码登录").click()
    assert_accessible(page)
    page.get_by_label("电子邮箱").fill("chen.jing@example.com")
    page.get_by_role("button", name="发送验证码").click()
    page.get_by_label("6 位验证码").wait_for()
    assert_accessible(page)
    code = code_in(wait_for_mail(e2e_mailbox, "chen.jing@example.com")[-1])
    page.get_by_label("6 位验证码").fill(code)
    page.get_by_role("button", name="登录").click()
    page.wait_for_url("**/me**")
    assert_accessible(page)
    page.get_by_label("姓名").fill("陈静")
    page.get_by_label("所在街镇").select_option("花木街道")
    page.get_by_label("出生年份").fill("1958")
    page.get_by_role("button", name="保存").click()
    page.get_by_text("资料已保存。").wait_for()
    assert page.get_by_label("所在街镇").input_value() == "花木街道"


def test_large_text_mode_is_remembered_and_works_without_javascript(browser, live_server):
    context = browser.new_context(java_script_enabled=False, viewport={"width": 360, "height": 740})
    page = context.new_page()
    page.goto(live_server.url + "/signin")
    page.get_by_role("button", name="大字模式").click()
    assert "large-text" in (page.locator("html").get_attribute("class") or "")
    page.goto(live_server.url + "/")
    assert "large-text" in (page.locator("html").get_attribute("class") or "")
    context.close()


def test_large_text_pages_fit_a_360px_phone(page, live_server):
    page.set_viewport_size({"width": 360, "height": 740})
    page.goto(live_server.url + "/signin")
    page.get_by_role("button", name="大字模式").click()
    page.wait_for_load_state()
    assert "large-text" in (page.locator("html").get_attribute("class") or "")
    for path in ("/", "/signin", "/privacy"):
        page.goto(live_server.url + path)
        assert page.evaluate("document.documentElement.scrollWidth") <= 360, path
        assert_accessible(page)


def test_english_is_available(page, live_server):
    page.goto(live_server.url + "/signin")
    page.get_by_role("button", name="English").click()
    page.get_by_role("heading", name="Sign in with an email code").wait_for()
