"""Exactness under concurrency: 150 identities each send 3 ballots at once under a 1-per-day
rule; exactly 150 are counted (in process on SQLite; 2 workers on PostgreSQL)."""

from __future__ import annotations

import asyncio
import os
from collections import Counter
from datetime import timedelta

import httpx
import pytest

from canyu.core import clock, ratelimit
from canyu.voting.models import Ballot, BallotChoice
from conftest import POSTGRES_URL, TEST_SECRET, run_sync
from voting.helpers import make_campaign, make_residents

IDENTITIES = 150
TRIES = 3


async def test_150_identities_sending_3_ballots_at_once_count_exactly_150(client, mailbox):
    ratelimit.configure("", 100_000)  # the race is about the rule, not the rate limits
    try:
        c = await make_campaign(client, per_day=1)
        residents = await make_residents(IDENTITIES)
        url = f"/api/v1/campaigns/{c['id']}/ballots"
        body = {"candidate_ids": [c["cids"][0]]}
        answers = await asyncio.gather(
            *[client.post(url, headers=h, json=body) for h in residents for _ in range(TRIES)]
        )
    finally:
        ratelimit.configure("", 1)
    codes = Counter(r.status_code for r in answers)
    assert codes == {201: IDENTITIES, 409: IDENTITIES * (TRIES - 1)}, codes
    assert await Ballot.filter(campaign_id=c["id"]).count() == IDENTITIES
    assert await BallotChoice.filter(campaign_id=c["id"]).count() == IDENTITIES
    clock.travel(timedelta(days=4))
    results = (await client.get(f"/api/v1/campaigns/{c['id']}/results")).json()["results"]
    assert results[0]["votes"] == IDENTITIES


async def _prepare_live(url: str) -> tuple[int, list[int], list[dict[str, str]]]:
    from tortoise import Tortoise

    from canyu.accounts import service as accounts
    from canyu.core import security
    from canyu.core.db import tortoise_config
    from canyu.voting import service
    from canyu.voting.models import Candidate

    security.configure(TEST_SECRET)
    await Tortoise.init(config=tortoise_config(url), _enable_global_fallback=True)
    try:
        admin = await accounts.create_staff("race-admin", "admin", "correct horse battery")
        from canyu.core.permissions import Principal

        now = clock.now()
        campaign = await service.create_campaign(
            Principal("staff", admin.id, "admin", role="admin"),
            {
                "title": "并发评选",
                "opens_at": now - timedelta(hours=1),
                "closes_at": now + timedelta(days=1),
                "ballots_per_day": 1,
                "choices_per_ballot": 1,
                "public_weight": 0.7,
                "expert_weight": 0.3,
                "candidates": [{"title": "甲"}, {"title": "乙"}],
            },
        )
        cids = [c.id for c in await Candidate.filter(campaign_id=campaign.id).order_by("id")]
        residents = await make_residents(IDENTITIES, "live")
        return campaign.id, cids, residents
    finally:
        await Tortoise.close_connections()


async def _count_live(url: str, campaign_id: int) -> int:
    from tortoise import Tortoise

    from canyu.core.db import tortoise_config

    await Tortoise.init(config=tortoise_config(url), _enable_global_fallback=True)
    try:
        return await Ballot.filter(campaign_id=campaign_id).count()
    finally:
        await Tortoise.close_connections()


@pytest.mark.slow
@pytest.mark.skipif(not POSTGRES_URL, reason="needs CANYU_TEST_POSTGRES_URL")
def test_race_is_exact_with_two_workers_on_postgresql(tmp_path, mailbox):
    from conftest import _migrate, _pg_admin_url, _pg_exec
    from live import LiveServer

    dbname = f"canyu_vote_race_{os.getpid()}"
    run_sync(
        _pg_exec, POSTGRES_URL, f'DROP DATABASE IF EXISTS "{dbname}"', f'CREATE DATABASE "{dbname}"'
    )
    url = _pg_admin_url(POSTGRES_URL, dbname)
    server = None
    try:
        run_sync(_migrate, url)
        campaign_id, cids, residents = run_sync(_prepare_live, url)
        server = LiveServer(
            url,
            mailbox.port,
            tmp_path / "var",
            workers=2,
            extra_env={"CANYU_RATE_LIMIT_SCALE": "100000"},
        ).start()

        async def fire() -> Counter[int]:
            limits = httpx.Limits(max_connections=200)
            async with httpx.AsyncClient(base_url=server.url, timeout=60, limits=limits) as http:
                answers = await asyncio.gather(
                    *[
                        http.post(
                            f"/api/v1/campaigns/{campaign_id}/ballots",
                            headers=h,
                            json={"candidate_ids": [cids[0]]},
                        )
                        for h in residents
                        for _ in range(TRIES)
                    ]
                )
            return Counter(r.status_code for r in answers)

        codes = run_sync(fire)
        assert codes == {201: IDENTITIES, 409: IDENTITIES * (TRIES - 1)}, codes
        assert run_sync(_count_live, url, campaign_id) == IDENTITIES
    finally:
        if server is not None:
            server.stop()
        run_sync(_pg_exec, POSTGRES_URL, f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
