"""A resident signs in, votes, is told to come back tomorrow, and sees the result after the
close; staff pages of the vote pass axe too."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest

from conftest import TEST_SECRET, code_in, run_sync
from e2e.conftest import assert_accessible, wait_for_mail

CLOSE_AFTER = 25  # seconds: the campaign closes while the test runs


async def _setup(url: str, close_after: int = CLOSE_AFTER) -> dict:
    from tortoise import Tortoise

    from canyu.accounts import service as accounts
    from canyu.core import clock, security
    from canyu.core.db import tortoise_config
    from canyu.core.permissions import Principal
    from canyu.voting import service
    from canyu.voting.models import Candidate

    security.configure(TEST_SECRET)
    await Tortoise.init(config=tortoise_config(url), _enable_global_fallback=True)
    try:
        admin = await accounts.create_staff("vote-admin", "admin", "correct horse battery")
        await accounts.create_staff("vote-expert", "reviewer", "correct horse battery")
        actor = Principal("staff", admin.id, "admin", role="admin")
        now = clock.now()
        campaign = await service.create_campaign(
            actor,
            {
                "title": "最受欢迎的政府开放活动评选",
                "rules": "每人每天一票。",
                "opens_at": now - timedelta(hours=1),
                "closes_at": now + timedelta(seconds=close_after),
                "ballots_per_day": 1,
                "choices_per_ballot": 1,
                "public_weight": 0.7,
                "expert_weight": 0.3,
                "candidates": [
                    {"title": "张江科学城开放日", "summary": "走进科创企业。"},
                    {"title": "城运中心开放日"},
                ],
            },
        )
        cands = await Candidate.filter(campaign_id=campaign.id).order_by("id")
        await service.submit_expert_scores(
            actor, campaign.id, [{"candidate_id": c.id, "score": 80} for c in cands]
        )
        return {"id": campaign.id, "deadline": time.monotonic() + close_after - 1}
    finally:
        await Tortoise.close_connections()


@pytest.fixture(scope="module")
def vote_setup(live_server) -> dict:
    return run_sync(_setup, live_server.env["CANYU_DATABASE_URL"])


def test_resident_votes_comes_back_tomorrow_and_sees_the_result(
    page, live_server, e2e_mailbox, vote_setup
):
    setup = vote_setup
    url = f"{live_server.url}/campaigns/{setup['id']}"
    page.goto(url)
    assert_accessible(page)
    page.get_by_role("link", name="登录后投票").click()
    page.get_by_label("电子邮箱").fill("zhao.lei@example.com")
    page.get_by_role("button", name="发送验证码").click()
    page.get_by_label("6 位验证码").wait_for()
    code = code_in(wait_for_mail(e2e_mailbox, "zhao.lei@example.com")[-1])
    page.get_by_label("6 位验证码").fill(code)
    page.get_by_role("button", name="登录").click()
    page.wait_for_url("**/me**")
    page.goto(url)
    page.get_by_label("张江科学城开放日").check()
    assert_accessible(page)
    page.get_by_role("button", name="提交选票").click()
    page.get_by_text("投票成功，感谢您的参与！").wait_for()
    page.get_by_text("明天再来").wait_for()
    assert page.get_by_role("button", name="提交选票").count() == 0
    assert page.get_by_role("heading", name="评选结果").count() == 0
    assert_accessible(page)
    time.sleep(max(0.0, setup["deadline"] - time.monotonic()) + 2)
    page.goto(url)
    page.get_by_role("heading", name="评选结果").wait_for()
    table = page.get_by_role("table")
    assert "张江科学城开放日" in table.inner_text()
    assert page.locator("svg[role=img]").count() == 1
    assert_accessible(page)
    csv = page.request.get(f"{url}/results.csv")
    assert csv.status == 200 and "张江科学城开放日" in csv.text()


def test_staff_vote_pages_pass_axe(page, live_server, vote_setup):
    page.goto(live_server.url + "/staff/signin")
    page.get_by_label("用户名").fill("vote-admin")
    page.get_by_label("密码").fill("correct horse battery")
    page.get_by_role("button", name="登录").click()
    page.wait_for_url("**/staff")
    page.goto(live_server.url + "/staff/campaigns")
    assert_accessible(page)
    page.get_by_role("link", name="最受欢迎的政府开放活动评选").first.click()
    page.get_by_role("heading", name="异常投票报告").wait_for()
    assert_accessible(page)
    page.get_by_role("link", name="专家评审").last.click()
    page.get_by_role("button", name="保存评分").wait_for()
    assert_accessible(page)


def test_vote_pages_fit_a_360px_phone_in_large_text_without_javascript(browser, live_server):
    context = browser.new_context(java_script_enabled=False, viewport={"width": 360, "height": 740})
    page = context.new_page()
    page.goto(live_server.url + "/campaigns")
    page.get_by_role("button", name="大字模式").click()
    first = page.locator("main a[href^='/campaigns/']").first.get_attribute("href")
    for path in ("/campaigns", first):
        page.goto(live_server.url + path)
        assert "large-text" in (page.locator("html").get_attribute("class") or "")
        assert page.evaluate("document.documentElement.scrollWidth") <= 360, path
    context.close()


def test_the_vendored_altcha_widget_solves_the_challenge_under_the_csp(browser, tmp_path, e2e_mailbox):
    """With the proof of work on, the widget fetches a challenge, solves it in a worker and the
    ballot is accepted."""
    from conftest import _migrate
    from live import LiveServer

    url = f"sqlite://{tmp_path / 'pow.sqlite3'}"
    run_sync(_migrate, url)
    setup = run_sync(_setup, url, 3600)
    server = LiveServer(url, e2e_mailbox.port, tmp_path / "var",
                        extra_env={"CANYU_POW_DIFFICULTY": "5000"}).start()
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN")
    page = context.new_page()
    page.set_default_timeout(20_000)
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    try:
        page.goto(f"{server.url}/signin?next=/campaigns/{setup['id']}")
        page.get_by_label("电子邮箱").fill("pow.user@example.com")
        page.get_by_role("button", name="发送验证码").click()
        page.get_by_label("6 位验证码").wait_for()
        code = code_in(wait_for_mail(e2e_mailbox, "pow.user@example.com")[-1])
        page.get_by_label("6 位验证码").fill(code)
        page.get_by_role("button", name="登录").click()
        page.wait_for_url("**/me**")
        page.goto(f"{server.url}/campaigns/{setup['id']}")
        page.get_by_label("城运中心开放日").check()
        page.get_by_label("我不是机器人").click()
        page.get_by_text("验证通过").wait_for()
        assert_accessible(page)
        page.get_by_role("button", name="提交选票").click()
        page.get_by_text("投票成功，感谢您的参与！").wait_for()
        assert not [e for e in errors if "Content Security Policy" in e], errors
    finally:
        context.close()
        server.stop()
