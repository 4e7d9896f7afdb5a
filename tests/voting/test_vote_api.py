"""The JSON API of the vote (API.md "Vote"): ballots, daily limit, window, choices, results."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from canyu.core import clock
from canyu.voting.models import Ballot, BallotAudit
from conftest import sign_in, staff_headers
from voting.helpers import make_campaign


async def test_admin_creates_campaign_with_event_and_free_candidates(client, mailbox):
    admin = await staff_headers(client, "admin1", "admin")
    now = clock.now()
    r = await client.post(
        "/api/v1/campaigns",
        headers=admin,
        json={
            "title": "评选",
            "opens_at": now.isoformat(),
            "closes_at": (now + timedelta(days=1)).isoformat(),
            "ballots_per_day": 2,
            "choices_per_ballot": 2,
            "public_weight": 0.7,
            "expert_weight": 0.3,
            "candidates": [{"title": "张江科学城开放日", "event_id": 12}, {"title": "市民议事厅"}],
        },
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert set(body) >= {"id", "candidates"}
    assert [c["title"] for c in body["candidates"]] == ["张江科学城开放日", "市民议事厅"]
    got = (await client.get(f"/api/v1/campaigns/{body['id']}")).json()
    assert got["candidates"][0]["event_id"] == 12
    assert got["ballots_per_day"] == 2


async def test_only_admins_create_campaigns(client, mailbox):
    reviewer = await staff_headers(client, "rev", "reviewer")
    now = clock.now()
    body = {
        "title": "x",
        "opens_at": now.isoformat(),
        "closes_at": (now + timedelta(days=1)).isoformat(),
        "candidates": [{"title": "a"}],
    }
    assert (await client.post("/api/v1/campaigns", headers=reviewer, json=body)).status_code == 403
    assert (await client.post("/api/v1/campaigns", json=body)).status_code == 401


async def test_bad_campaigns_are_refused_in_chinese(client, mailbox):
    admin = await staff_headers(client, "admin1", "admin")
    now = clock.now()
    base = {
        "title": "x",
        "opens_at": now.isoformat(),
        "closes_at": (now + timedelta(days=1)).isoformat(),
        "candidates": [{"title": "a"}],
    }
    for change in (
        {"closes_at": (now - timedelta(days=1)).isoformat()},
        {"public_weight": 0.9, "expert_weight": 0.3},
        {"candidates": []},
        {"ballots_per_day": 0},
        {"candidates": [{"title": "a"}, {"title": "a"}]},
    ):
        r = await client.post("/api/v1/campaigns", headers=admin, json={**base, **change})
        assert r.status_code == 422, (change, r.text)
        assert r.json()["error"]["message"]
    assert (await client.get("/api/v1/campaigns")).json()["items"] == []


async def test_resident_casts_one_ballot_then_daily_limit_is_409(client, mailbox):
    c = await make_campaign(client)
    me = await sign_in(client, mailbox, "li.ming@example.com")
    url = f"/api/v1/campaigns/{c['id']}/ballots"
    r = await client.post(url, headers=me["headers"], json={"candidate_ids": [c["cids"][0]]})
    assert r.status_code == 201, r.text
    assert set(r.json()) == {"id"}
    r = await client.post(url, headers=me["headers"], json={"candidate_ids": [c["cids"][1]]})
    assert r.status_code == 409
    assert r.json()["error"]["code"] == "daily_limit"
    assert "明天" in r.json()["error"]["message"]
    assert await Ballot.filter(campaign_id=c["id"]).count() == 1


async def test_bad_choices_are_422_and_store_nothing(client, mailbox):
    c = await make_campaign(client, choices=2)
    me = await sign_in(client, mailbox, "li.ming@example.com")
    other = await make_campaign(client)
    url = f"/api/v1/campaigns/{c['id']}/ballots"
    for ids in ([], [c["cids"][0], c["cids"][0]], c["cids"][:3], [other["cids"][0]], [999999]):
        r = await client.post(url, headers=me["headers"], json={"candidate_ids": ids})
        assert r.status_code == 422, (ids, r.text)
        assert r.json()["error"]["message"]
    assert await Ballot.all().count() == 0
    r = await client.post(url, headers=me["headers"], json={"candidate_ids": c["cids"][:2]})
    assert r.status_code == 201


async def test_ballots_outside_the_window_are_422(client, mailbox):
    upcoming = await make_campaign(client, opens=timedelta(hours=1))
    me = await sign_in(client, mailbox, "li.ming@example.com")
    r = await client.post(
        f"/api/v1/campaigns/{upcoming['id']}/ballots",
        headers=me["headers"],
        json={"candidate_ids": [upcoming["cids"][0]]},
    )
    assert r.status_code == 422
    assert r.json()["error"]["code"] == "outside_window"
    clock.travel(timedelta(days=4))
    r = await client.post(
        f"/api/v1/campaigns/{upcoming['id']}/ballots",
        headers=me["headers"],
        json={"candidate_ids": [upcoming["cids"][0]]},
    )
    assert r.status_code == 422
    assert await Ballot.all().count() == 0


async def test_staff_and_anonymous_cannot_vote(client, mailbox):
    c = await make_campaign(client)
    url = f"/api/v1/campaigns/{c['id']}/ballots"
    assert (await client.post(url, json={"candidate_ids": [c["cids"][0]]})).status_code == 401
    r = await client.post(url, headers=c["admin"], json={"candidate_ids": [c["cids"][0]]})
    assert r.status_code == 403


async def test_unknown_campaign_is_404(client, mailbox):
    me = await sign_in(client, mailbox, "li.ming@example.com")
    assert (await client.get("/api/v1/campaigns/999")).status_code == 404
    r = await client.post(
        "/api/v1/campaigns/999/ballots", headers=me["headers"], json={"candidate_ids": [1]}
    )
    assert r.status_code == 404
    assert (await client.get("/api/v1/campaigns/999/results")).status_code == 404


async def test_day_boundary_is_midnight_in_shanghai(client, mailbox):
    # 23:59:30 Shanghai on 1 October = 15:59:30 UTC.
    clock.freeze(datetime(2026, 10, 1, 15, 59, 30, tzinfo=UTC))
    c = await make_campaign(client, opens=timedelta(hours=-2), closes=timedelta(days=10))
    me = await sign_in(client, mailbox, "li.ming@example.com")
    url = f"/api/v1/campaigns/{c['id']}/ballots"
    vote = {"candidate_ids": [c["cids"][0]]}
    assert (await client.post(url, headers=me["headers"], json=vote)).status_code == 201
    clock.travel(timedelta(seconds=20))  # 23:59:50, still 1 October in Shanghai
    assert (await client.post(url, headers=me["headers"], json=vote)).status_code == 409
    clock.travel(timedelta(seconds=15))  # 00:00:05 on 2 October in Shanghai, still 1 October UTC
    assert (await client.post(url, headers=me["headers"], json=vote)).status_code == 201
    clock.travel(timedelta(hours=8))  # 2 October UTC too: no new day in Shanghai yet
    assert (await client.post(url, headers=me["headers"], json=vote)).status_code == 409
    days = sorted(str(d) for d in await Ballot.all().values_list("local_day", flat=True))
    assert days == ["2026-10-01", "2026-10-02"]


async def test_several_ballots_per_day_are_counted_exactly(client, mailbox):
    c = await make_campaign(client, per_day=3)
    me = await sign_in(client, mailbox, "li.ming@example.com")
    url = f"/api/v1/campaigns/{c['id']}/ballots"
    codes = [
        (
            await client.post(url, headers=me["headers"], json={"candidate_ids": [c["cids"][0]]})
        ).status_code
        for _ in range(4)
    ]
    assert codes == [201, 201, 201, 409]
    slots = sorted(await Ballot.all().values_list("slot", flat=True))
    assert slots == [0, 1, 2]


async def test_every_ballot_leaves_an_audit_row_without_raw_ip(client, mailbox):
    c = await make_campaign(client)
    me = await sign_in(client, mailbox, "li.ming@example.com")
    r = await client.post(
        f"/api/v1/campaigns/{c['id']}/ballots",
        headers={**me["headers"], "User-Agent": "TestAgent/1"},
        json={"candidate_ids": [c["cids"][0]]},
    )
    row = await BallotAudit.get(ballot_id=r.json()["id"])
    assert row.pow_result == "off"
    assert 0 <= row.seconds_since_verification < 60
    assert "127.0.0" not in row.network_hash and len(row.network_hash) == 32
    assert row.agent_hash and "TestAgent" not in row.agent_hash
    assert row.disposable_domain is False


async def test_results_are_hidden_from_everyone_until_the_close(client, mailbox):
    c = await make_campaign(client)
    me = await sign_in(client, mailbox, "li.ming@example.com")
    await client.post(
        f"/api/v1/campaigns/{c['id']}/ballots",
        headers=me["headers"],
        json={"candidate_ids": [c["cids"][0]]},
    )
    for headers in ({}, me["headers"], c["admin"]):
        r = await client.get(f"/api/v1/campaigns/{c['id']}/results", headers=headers)
        assert r.status_code == 200
        assert r.json() == {"status": "open", "results": None}
    page = await client.get(f"/campaigns/{c['id']}")
    assert "评选结果" not in page.text
    assert (await client.get(f"/campaigns/{c['id']}/results.csv")).status_code == 404


async def test_results_combine_public_share_and_expert_mean_with_shared_ranks(client, mailbox):
    c = await make_campaign(client, candidates=4, choices=2)
    a, b, cc, d = c["cids"]
    url = f"/api/v1/campaigns/{c['id']}/ballots"
    # Votes: a=4, b=2, c=2, d=0
    picks = [[a, b], [a, cc], [a], [a], [b, cc]]
    for i, ids in enumerate(picks):
        me = await sign_in(client, mailbox, f"voter{i}@example.com")
        assert (
            await client.post(url, headers=me["headers"], json={"candidate_ids": ids})
        ).status_code == 201
    # votes: a=4, b=2, c=2, d=0. Invalidate the last ballot -> b=1, c=1
    last = (await Ballot.all().order_by("-id").first()).id
    r = await client.post(
        f"/api/v1/campaigns/{c['id']}/invalidations",
        headers=c["admin"],
        json={"ballot_ids": [last], "reason": "同一网段集中投票"},
    )
    assert r.status_code == 200 and r.json()["invalidated"] == 1
    reviewer = await staff_headers(client, "expert1", "reviewer")
    r = await client.post(
        f"/api/v1/campaigns/{c['id']}/expert-scores",
        headers=c["admin"],
        json={
            "scores": [
                {"candidate_id": a, "score": 50},
                {"candidate_id": b, "score": 100},
                {"candidate_id": cc, "score": 100},
                {"candidate_id": d, "score": 0},
            ]
        },
    )
    assert r.status_code == 200, r.text
    r = await client.post(
        f"/api/v1/campaigns/{c['id']}/expert-scores",
        headers=reviewer,
        json={
            "scores": [
                {"candidate_id": a, "score": 70},
                {"candidate_id": b, "score": 80},
                {"candidate_id": cc, "score": 80},
            ]
        },
    )
    assert r.status_code == 200
    assert (await client.get(f"/api/v1/campaigns/{c['id']}/results")).json()["results"] is None
    clock.travel(timedelta(days=4))
    body = (await client.get(f"/api/v1/campaigns/{c['id']}/results")).json()
    assert body["status"] == "closed"
    rows = {r["candidate_id"]: r for r in body["results"]}
    for r in body["results"]:
        assert set(r) >= {
            "candidate_id",
            "votes",
            "invalidated",
            "expert_score",
            "final_score",
            "rank",
        }
    assert (
        rows[a]["votes"] == 4
        and rows[b]["votes"] == 1
        and rows[cc]["votes"] == 1
        and rows[d]["votes"] == 0
    )
    assert (
        rows[b]["invalidated"] == 1 and rows[cc]["invalidated"] == 1 and rows[a]["invalidated"] == 0
    )
    assert (
        rows[a]["expert_score"] == 60
        and rows[b]["expert_score"] == 90
        and rows[d]["expert_score"] == 0
    )
    # final: a = 0.7*100 + 0.3*60 = 88, b = c = 0.7*25 + 0.3*90 = 44.5, d = 0
    assert abs(rows[a]["final_score"] - 88) < 1e-6
    assert abs(rows[b]["final_score"] - 44.5) < 1e-6
    assert [r["rank"] for r in body["results"]] == [1, 2, 2, 4]
    assert body["results"][0]["candidate_id"] == a
    csv = await client.get(f"/campaigns/{c['id']}/results.csv")
    assert csv.status_code == 200 and "88.00" in csv.text
    page = await client.get(f"/campaigns/{c['id']}")
    assert "<svg" in page.text and "<caption" in page.text


async def test_nobody_voted_gives_public_score_zero(client, mailbox):
    c = await make_campaign(client, candidates=2)
    clock.travel(timedelta(days=4))
    body = (await client.get(f"/api/v1/campaigns/{c['id']}/results")).json()
    assert [r["votes"] for r in body["results"]] == [0, 0]
    assert [r["final_score"] for r in body["results"]] == [0, 0]
    assert [r["rank"] for r in body["results"]] == [1, 1]


async def test_expert_scores_must_be_0_to_100_and_from_staff(client, mailbox):
    c = await make_campaign(client)
    me = await sign_in(client, mailbox, "li.ming@example.com")
    url = f"/api/v1/campaigns/{c['id']}/expert-scores"
    r = await client.post(
        url, headers=me["headers"], json={"scores": [{"candidate_id": c["cids"][0], "score": 50}]}
    )
    assert r.status_code == 403
    for score in (-1, 101):
        r = await client.post(
            url,
            headers=c["admin"],
            json={"scores": [{"candidate_id": c["cids"][0], "score": score}]},
        )
        assert r.status_code == 422
    r = await client.post(
        url, headers=c["admin"], json={"scores": [{"candidate_id": 99999, "score": 5}]}
    )
    assert r.status_code == 422


async def test_invalidation_needs_a_reason_and_deletes_nothing(client, mailbox):
    c = await make_campaign(client)
    me = await sign_in(client, mailbox, "li.ming@example.com")
    bid = (
        await client.post(
            f"/api/v1/campaigns/{c['id']}/ballots",
            headers=me["headers"],
            json={"candidate_ids": [c["cids"][0]]},
        )
    ).json()["id"]
    url = f"/api/v1/campaigns/{c['id']}/invalidations"
    assert (
        await client.post(url, headers=c["admin"], json={"ballot_ids": [bid], "reason": ""})
    ).status_code == 422
    assert (
        await client.post(url, headers=me["headers"], json={"ballot_ids": [bid], "reason": "x"})
    ).status_code == 403
    assert (
        await client.post(url, headers=c["admin"], json={"ballot_ids": [bid], "reason": "刷票"})
    ).status_code == 200
    ballot = await Ballot.get(id=bid)
    assert ballot.invalidated_at is not None and ballot.invalidation_reason == "刷票"
    # An invalidated ballot still occupies its slot: no second ballot today.
    r = await client.post(
        f"/api/v1/campaigns/{c['id']}/ballots",
        headers=me["headers"],
        json={"candidate_ids": [c["cids"][1]]},
    )
    assert r.status_code == 409


async def test_results_wait_for_the_publication_time_when_one_is_set(client, mailbox):
    admin = await staff_headers(client, "admin1", "admin")
    now = clock.now()
    r = await client.post("/api/v1/campaigns", headers=admin, json={
        "title": "评选", "opens_at": now.isoformat(), "closes_at": (now + timedelta(days=1)).isoformat(),
        "results_at": (now + timedelta(days=2)).isoformat(), "candidates": [{"title": "甲"}],
    })
    assert r.status_code == 201
    url = f"/api/v1/campaigns/{r.json()['id']}/results"
    clock.travel(timedelta(days=1, hours=1))
    assert (await client.get(url)).json() == {"status": "closed", "results": None}
    clock.travel(timedelta(days=1))
    assert (await client.get(url)).json()["results"][0]["rank"] == 1


async def test_campaigns_with_unreadable_text_or_impossible_event_ids_are_422(client, mailbox):
    admin = await staff_headers(client, "admin1", "admin")
    now = clock.now()
    base = {"title": "x", "opens_at": now.isoformat(), "closes_at": (now + timedelta(days=1)).isoformat()}
    for candidates in (
        [{"title": "a\udb3c"}],
        [{"title": "a", "event_id": 6469693229}],
        [{"title": "a", "event_id": -5}],
        [{"title": "a", "photo_url": "javascript:alert(1)"}],
    ):
        r = await client.post(
            "/api/v1/campaigns",
            headers={**admin, "Content-Type": "application/json"},
            content=json.dumps({**base, "candidates": candidates}),  # lone surrogates escaped
        )
        assert r.status_code == 422, (candidates, r.text)
