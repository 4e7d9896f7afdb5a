"""An event image in a real browser: the organizer uploads it with the event form on a phone;
the browser decodes it on the event page and in the catalogue, scaled to the phone's width,
and axe finds nothing."""

from __future__ import annotations

import re

import pytest

from e2e.conftest import assert_accessible, create_staff
from images import png

STAFF_PASSWORD = "open-month-images-2026"
PHONE = 360


@pytest.fixture(scope="module")
def organizer(live_server):
    create_staff(live_server, "tupian", "organizer", "区档案馆", STAFF_PASSWORD)
    return "tupian"


def test_an_uploaded_event_image_fits_a_phone(browser, live_server, organizer):
    context = browser.new_context(viewport={"width": PHONE, "height": 740}, locale="zh-CN")
    page = context.new_page()
    page.set_default_timeout(30_000)
    try:
        page.goto(live_server.url + "/staff/signin")
        page.get_by_label("用户名").fill(organizer)
        page.get_by_label("密码").fill(STAFF_PASSWORD)
        page.get_by_role("button", name="登录").click()
        page.wait_for_url("**/staff")
        page.goto(live_server.url + "/staff/events/new")
        page.get_by_label("活动名称").fill("浦东档案馆开放日")
        page.get_by_label("活动简介").fill("参观档案库房和修复室。")
        page.get_by_label("活动地点").fill("浦东新区丁香路 1200 号")
        page.locator("#starts_at").fill("2031-08-12T09:30")
        page.locator("#ends_at").fill("2031-08-12T11:30")
        page.get_by_label("名额").fill("30")
        page.get_by_label("立即发布").check()
        page.get_by_label("活动图片（选填）").set_input_files(
            {"name": "档案馆.png", "mimeType": "image/png", "buffer": png(1600, 900)}
        )
        page.get_by_role("button", name="创建").click()
        page.wait_for_url(re.compile(r"/staff/events/\d+$"))
        event_id = page.url.rstrip("/").rsplit("/", 1)[-1]

        page.goto(f"{live_server.url}/events/{event_id}")
        image = page.get_by_role("img", name="浦东档案馆开放日")
        image.wait_for()
        assert image.evaluate("i => i.complete && i.naturalWidth") == 1600  # decoded
        assert 0 < image.bounding_box()["width"] <= PHONE
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE
        assert_accessible(page)

        page.goto(live_server.url + "/events")
        thumb = page.locator("img.om-thumb").first
        thumb.scroll_into_view_if_needed()
        thumb.evaluate("i => i.decode()")
        assert thumb.evaluate("i => i.naturalWidth") == 1600
        assert 0 < thumb.bounding_box()["width"] <= PHONE
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE
        assert_accessible(page)
    finally:
        context.close()
