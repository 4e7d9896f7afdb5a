"""The HTML pages of the vote: plain forms without JavaScript, errors in Chinese, staff pages."""

from __future__ import annotations

from datetime import timedelta

from canyu.core import clock
from canyu.voting.models import Ballot, ExpertScore
from conftest import csrf_of, html_sign_in, html_staff_sign_in
from voting.helpers import make_campaign


async def test_resident_votes_with_a_plain_form_then_is_told_to_come_back_tomorrow(client, mailbox):
    c = await make_campaign(client)
    await html_sign_in(client, mailbox, "wang.fang@example.com")
    page = await client.get(f"/campaigns/{c['id']}")
    assert page.status_code == 200
    assert "投票规则" in page.text and "开放活动1" in page.text
    r = await client.post(
        f"/campaigns/{c['id']}/ballots",
        data={"candidate_id": str(c["cids"][1]), "csrf_token": csrf_of(page.text)},
    )
    assert r.status_code == 303
    page = await client.get(r.headers["location"])
    assert "投票成功" in page.text
    assert "明天再来" in page.text
    assert "提交选票" not in page.text
    assert await Ballot.filter(campaign_id=c["id"]).count() == 1
    clock.travel(timedelta(days=1))
    page = await client.get(f"/campaigns/{c['id']}")
    assert "提交选票" in page.text


async def test_a_ballot_without_a_choice_re_renders_with_a_chinese_error(client, mailbox):
    c = await make_campaign(client, choices=2)
    await html_sign_in(client, mailbox, "wang.fang@example.com")
    page = await client.get(f"/campaigns/{c['id']}")
    token = csrf_of(page.text)
    r = await client.post(f"/campaigns/{c['id']}/ballots", data={"csrf_token": token})
    assert r.status_code == 422
    assert "请至少选择一个候选活动" in r.text
    r = await client.post(
        f"/campaigns/{c['id']}/ballots",
        data={"csrf_token": token, "candidate_id": [str(i) for i in c["cids"]]},
    )
    assert r.status_code == 422
    assert "最多选择 2 个" in r.text
    assert r.text.count("checked") == 3  # what the resident ticked is kept
    assert await Ballot.all().count() == 0


async def test_anonymous_visitors_are_invited_to_sign_in(client, mailbox):
    c = await make_campaign(client)
    page = await client.get(f"/campaigns/{c['id']}")
    assert f"/signin?next=/campaigns/{c['id']}" in page.text
    listing = await client.get("/campaigns")
    assert "2026年最受欢迎的政府开放活动评选" in listing.text
    # The home-page block of the open campaign (rendered alone: other features add theirs).
    from canyu.core import nav
    from canyu.core.templating import render_string

    section = next(s for s in nav.HOME if s.template == "voting/home_section.html")
    html = render_string(section.template, await section.loader())  # type: ignore[operator]
    assert f"/campaigns/{c['id']}" in html
    assert (await client.get("/campaigns/9999")).status_code == 404


async def test_admin_creates_a_campaign_with_the_form(client, mailbox):
    await html_staff_sign_in(client, "vote-admin", "admin")
    page = await client.get("/staff/campaigns")
    assert page.status_code == 200
    token = csrf_of(page.text)
    form = {
        "csrf_token": token, "title": "最受欢迎的开放活动", "rules": "每人每天一票",
        "opens_at": "2026-10-01T09:00", "closes_at": "2026-10-31T18:00",
        "ballots_per_day": "1", "choices_per_ballot": "1",
        "public_weight": "0.7", "expert_weight": "0.3",
        "candidates": "12|张江科学城开放日\n市民议事厅",
    }
    r = await client.post("/staff/campaigns", data={**form, "expert_weight": "0.5"})
    assert r.status_code == 422
    assert "合计为 1" in r.text and "最受欢迎的开放活动" in r.text
    r = await client.post("/staff/campaigns", data=form)
    assert r.status_code == 303
    detail = await client.get(r.headers["location"])
    assert "异常投票报告" in detail.text
    public = await client.get("/api/v1/campaigns")
    item = public.json()["items"][0]
    assert item["opens_at"].startswith("2026-10-01T09:00:00+08:00")
    assert [c["event_id"] for c in item["candidates"]] == [12, None]


async def test_reviewer_scores_with_the_form(client, mailbox):
    c = await make_campaign(client)
    await html_staff_sign_in(client, "expert-li", "reviewer")
    listing = await client.get("/staff/reviews")
    assert f"/staff/campaigns/{c['id']}/scores" in listing.text
    page = await client.get(f"/staff/campaigns/{c['id']}/scores")
    token = csrf_of(page.text)
    r = await client.post(
        f"/staff/campaigns/{c['id']}/scores",
        data={"csrf_token": token, f"score_{c['cids'][0]}": "120"},
    )
    assert r.status_code == 422 and "0 到 100" in r.text and 'value="120"' in r.text
    r = await client.post(
        f"/staff/campaigns/{c['id']}/scores",
        data={"csrf_token": token, f"score_{c['cids'][0]}": "85.5"},
    )
    assert r.status_code == 303
    assert (await ExpertScore.get(candidate_id=c["cids"][0])).score == 85.5
    # A reviewer sees neither the anomaly report nor the admin pages.
    assert (await client.get(f"/staff/campaigns/{c['id']}")).status_code == 403


async def test_admin_invalidates_ballots_with_a_reason_from_the_report(client, mailbox):
    c = await make_campaign(client)
    from conftest import sign_in

    me = await sign_in(client, mailbox, "new@mailinator.com")
    bid = (
        await client.post(
            f"/api/v1/campaigns/{c['id']}/ballots",
            headers=me["headers"],
            json={"candidate_ids": [c["cids"][0]]},
        )
    ).json()["id"]
    await html_staff_sign_in(client, "vote-admin", "admin")
    page = await client.get(f"/staff/campaigns/{c['id']}")
    assert f'value="{bid}"' in page.text
    token = csrf_of(page.text)
    url = f"/staff/campaigns/{c['id']}/invalidations"
    r = await client.post(url, data={"csrf_token": token, "ballot_id": str(bid), "reason": ""})
    assert r.status_code == 422
    r = await client.post(url, data={"csrf_token": token, "ballot_id": str(bid), "reason": "一次性邮箱"})
    assert r.status_code == 303
    assert (await Ballot.get(id=bid)).invalidation_reason == "一次性邮箱"
