"""Helpers of the vote tests: an admin, a campaign, signed-in residents."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from canyu.core import clock
from conftest import staff_headers


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


async def make_campaign(
    client: httpx.AsyncClient,
    *,
    opens: timedelta = timedelta(hours=-1),
    closes: timedelta = timedelta(days=3),
    per_day: int = 1,
    choices: int = 1,
    candidates: int = 3,
    weights: tuple[float, float] = (0.7, 0.3),
) -> dict[str, Any]:
    admin = await staff_headers(client, "vote-admin", "admin")
    now = clock.now()
    r = await client.post(
        "/api/v1/campaigns",
        headers=admin,
        json={
            "title": "2026年最受欢迎的政府开放活动评选",
            "opens_at": iso(now + opens),
            "closes_at": iso(now + closes),
            "ballots_per_day": per_day,
            "choices_per_ballot": choices,
            "public_weight": weights[0],
            "expert_weight": weights[1],
            "candidates": [
                {"title": f"开放活动{i + 1}", "event_id": None} for i in range(candidates)
            ],
        },
    )
    assert r.status_code == 201, r.text
    data = r.json()
    data["admin"] = admin
    data["cids"] = [c["id"] for c in data["candidates"]]
    return data


async def make_residents(count: int, prefix: str = "r") -> list[dict[str, str]]:
    """Verified residents with API tokens, created directly (the mailed-code flow is tested
    elsewhere); each has a distinct identity."""
    from canyu.accounts import service as accounts
    from canyu.accounts.models import Resident

    out = []
    now = clock.now()
    for i in range(count):
        email = f"{prefix}{i}@example.com"
        resident = await Resident.create(
            email_hmac=accounts.email_identity(email),
            email=email,
            created_at=now,
            verified_at=now - timedelta(hours=1),
        )
        token = await accounts.issue_token(resident=resident, kind="api")
        out.append({"Authorization": f"Bearer {token}"})
    return out
