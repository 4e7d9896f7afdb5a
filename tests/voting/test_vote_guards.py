"""Anti-abuse: the ALTCHA proof of work, rate limits (shared through Redis), the anomaly report."""

from __future__ import annotations

import base64
import json
from dataclasses import replace

import httpx
import pytest

from canyu.app import create_app
from canyu.core import ratelimit
from canyu.voting import service
from canyu.voting.models import Ballot, BallotAudit
from conftest import sign_in
from voting.helpers import make_campaign, make_residents


def _solve(challenge: dict) -> str:
    from altcha import ChallengeV1, solve_challenge_v1

    ch = ChallengeV1(
        challenge["algorithm"],
        challenge["challenge"],
        challenge["maxNumber"],
        challenge["salt"],
        challenge["signature"],
    )
    solution = solve_challenge_v1(ch)
    assert solution is not None
    payload = {k: challenge[k] for k in ("algorithm", "challenge", "salt", "signature")}
    payload["number"] = solution.number
    return base64.b64encode(json.dumps(payload).encode()).decode()


@pytest.fixture
async def pow_client(settings, db):
    app = create_app(replace(settings, pow_difficulty=2000))
    transport = httpx.ASGITransport(
        app=app, raise_app_exceptions=False, client=("127.0.0.1", 50000)
    )
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


async def test_proof_of_work_is_required_checked_and_single_use(pow_client, mailbox):
    client = pow_client
    c = await make_campaign(client, per_day=3)
    me = await sign_in(client, mailbox, "li.ming@example.com")
    url = f"/api/v1/campaigns/{c['id']}/ballots"
    vote = {"candidate_ids": [c["cids"][0]]}
    r = await client.post(url, headers=me["headers"], json=vote)
    assert r.status_code == 422 and r.json()["error"]["code"] == "pow_required"
    challenge = (await client.get(f"/api/v1/campaigns/{c['id']}/challenge")).json()
    assert challenge["maxNumber"] == 2000 and challenge["signature"]
    good = _solve(challenge)
    forged = json.loads(base64.b64decode(good))
    forged["number"] += 1
    forged = base64.b64encode(json.dumps(forged).encode()).decode()
    r = await client.post(url, headers=me["headers"], json={**vote, "altcha": forged})
    assert r.status_code == 422 and r.json()["error"]["code"] == "pow_failed"
    r = await client.post(url, headers=me["headers"], json={**vote, "altcha": good})
    assert r.status_code == 201, r.text
    assert (await BallotAudit.get(ballot_id=r.json()["id"])).pow_result == "ok"
    r = await client.post(url, headers=me["headers"], json={**vote, "altcha": good})
    assert r.status_code == 422  # a solution buys one ballot
    assert await Ballot.all().count() == 1


async def test_challenge_says_disabled_when_difficulty_is_zero(client, mailbox):
    c = await make_campaign(client)
    assert (await client.get(f"/api/v1/campaigns/{c['id']}/challenge")).json() == {"enabled": False}


async def test_ballots_are_rate_limited_per_identity(client, mailbox):
    c = await make_campaign(client, per_day=50)
    me = await sign_in(client, mailbox, "li.ming@example.com")
    url = f"/api/v1/campaigns/{c['id']}/ballots"
    codes = [
        (
            await client.post(url, headers=me["headers"], json={"candidate_ids": [c["cids"][0]]})
        ).status_code
        for _ in range(12)
    ]
    assert codes[:10] == [201] * 10
    assert codes[10:] == [429, 429]


async def test_ballot_rate_limits_are_shared_through_redis(client, mailbox):
    """With CANYU_REDIS_URL the per-identity count of ballots lives in Redis: another worker
    (another limiter on the same Redis) sees the hits and refuses too."""
    redis_url = "redis://127.0.0.1:6379/15"
    shared = ratelimit.configure(redis_url, 1)
    other = ratelimit.RateLimiter(redis_url, 1)
    try:
        try:
            await shared.reset()
        except Exception as exc:  # pragma: no cover - depends on the machine
            pytest.skip(f"Redis not available: {exc}")
        c = await make_campaign(client, per_day=50)
        me = await sign_in(client, mailbox, "li.ming@example.com")
        url = f"/api/v1/campaigns/{c['id']}/ballots"
        codes = [
            (
                await client.post(
                    url, headers=me["headers"], json={"candidate_ids": [c["cids"][0]]}
                )
            ).status_code
            for _ in range(10)
        ]
        assert codes == [201] * 10
        key = str(me["resident_id"])
        assert not await other.test("ballot-identity", service.IDENTITY_RATE, key)
        r = await client.post(url, headers=me["headers"], json={"candidate_ids": [c["cids"][0]]})
        assert r.status_code == 429
        await shared.reset()
    finally:
        for limiter in (shared, other):
            await limiter.storage.bridge.storage.aclose()  # type: ignore[attr-defined]
        ratelimit.configure("", 1)


async def test_anomaly_report_finds_bursts_clusters_quick_votes_and_disposable_mail(
    client, mailbox
):
    ratelimit.configure("", 100_000)
    try:
        c = await make_campaign(client, candidates=2)
        residents = await make_residents(25, "burst")
        url = f"/api/v1/campaigns/{c['id']}/ballots"
        for h in residents:
            r = await client.post(
                url,
                headers={**h, "User-Agent": "BotAgent/9"},
                json={"candidate_ids": [c["cids"][1]]},
            )
            assert r.status_code == 201
        quick = await sign_in(client, mailbox, "temp123@mailinator.com")
        assert (
            await client.post(url, headers=quick["headers"], json={"candidate_ids": [c["cids"][0]]})
        ).status_code == 201
    finally:
        ratelimit.configure("", 1)
    report = (await client.get(f"/api/v1/campaigns/{c['id']}/anomalies", headers=c["admin"])).json()
    assert report["bursts"] and report["bursts"][0]["candidate_id"] == c["cids"][1]
    assert report["networks"][0]["count"] == 26
    assert report["agents"][0]["count"] == 25 and report["agents"][0]["identities"] == 25
    assert report["quick"]["count"] == 1
    assert report["disposable"]["count"] == 1
    page = await client.get(f"/api/v1/campaigns/{c['id']}/anomalies", headers=quick["headers"])
    assert page.status_code == 403


async def test_verification_time_is_read_from_the_resident(client, mailbox):
    me = await sign_in(client, mailbox, "li.ming@example.com")
    who = await service.verification_of(me["resident_id"])
    assert who.mail_domain == "example.com" and len(who.identity_hmac) == 64


async def test_ballots_are_rate_limited_per_network(client, mailbox):
    c = await make_campaign(client)
    residents = await make_residents(4, "net")
    ratelimit.configure("", 0.01)  # 300/minute per network becomes 3/minute
    try:
        codes = [
            (
                await client.post(
                    f"/api/v1/campaigns/{c['id']}/ballots",
                    headers=h,
                    json={"candidate_ids": [c["cids"][0]]},
                )
            ).status_code
            for h in residents
        ]
    finally:
        ratelimit.configure("", 1)
    assert codes == [201, 201, 201, 429]


async def test_spent_challenges_are_forgotten_after_they_expire(db):
    from datetime import timedelta

    from canyu.core import clock
    from canyu.voting.models import PowUse

    await PowUse.create(signature="a" * 64, used_at=clock.now())
    assert await service.forget_spent_challenges() == 0
    clock.travel(timedelta(minutes=30))
    assert await service.forget_spent_challenges() == 1
