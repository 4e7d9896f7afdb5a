"""Helpers for the open-month tests: events created through the API, residents signed in."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from canyu.core import clock
from canyu.openmonth import service


@pytest.fixture(autouse=True)
def _default_rules():
    saved = (service.RULES.places_per_month, service.RULES.offer_hours)
    service.configure(places_per_month=3, offer_hours=24)
    yield
    service.configure(*saved)


def iso(moment) -> str:
    return clock.local(moment).isoformat()


def event_body(**overrides: Any) -> dict[str, Any]:
    now = clock.now()
    body = {
        "title": "走进浦东新区城市运行综合管理中心",
        "summary": "参观城市大脑，了解“一网统管”如何处置市民诉求。",
        "theme": "城市治理",
        "mode": "offline",
        "location": "浦东新区世纪大道 2001 号（花木街道）",
        "stream_url": None,
        "starts_at": iso(now + timedelta(days=10)),
        "ends_at": iso(now + timedelta(days=10, hours=2)),
        "capacity": 2,
        "registration_opens_at": iso(now - timedelta(hours=1)),
        "registration_closes_at": iso(now + timedelta(days=9)),
        "max_companions": 1,
        "published": True,
    }
    body.update(overrides)
    return body


async def create_event(client, headers, **overrides: Any) -> dict[str, Any]:
    r = await client.post("/api/v1/events", json=event_body(**overrides), headers=headers)
    assert r.status_code == 201, r.text
    return r.json()


async def organizer(client, unit: str = "区城运中心", username: str = "chengyun") -> dict[str, str]:
    from conftest import staff_headers

    return await staff_headers(client, username, "organizer", unit)


async def residents(n: int, prefix: str = "jumin") -> list[dict[str, Any]]:
    """``n`` verified residents with API tokens, written directly (the mailed-code flow has its
    own tests; races need hundreds of people quickly)."""
    from canyu.accounts import service as accounts
    from canyu.accounts.models import Resident

    now = clock.now()
    made = []
    for i in range(n):
        email = f"{prefix}{i}@example.com"
        resident = await Resident.create(
            email_hmac=accounts.email_identity(email),
            email=email,
            name=f"居民{i}",
            created_at=now,
            verified_at=now,
        )
        token = await accounts.issue_token(resident=resident, kind="api")
        made.append(
            {"id": resident.id, "email": email, "headers": {"Authorization": f"Bearer {token}"}}
        )
    return made


def principal(resident: dict[str, Any]):
    from canyu.core.permissions import Principal

    return Principal("resident", resident["id"], resident["email"])
