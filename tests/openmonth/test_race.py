"""1,000 registrations race for 50 places: exactly 50 are confirmed, in-process and through a
real server (2 workers on PostgreSQL, 1 on SQLite)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx
import pytest

from canyu.accounts import service as accounts
from canyu.accounts.models import AuthToken, Resident
from canyu.core import clock
from canyu.core.permissions import Principal
from canyu.core.security import new_token, token_hash
from canyu.openmonth import service
from canyu.openmonth.models import MonthlyPlaces, OpenEvent, Registration
from conftest import POSTGRES_URL
from live import LiveServer

pytestmark = pytest.mark.slow

N = 1000
PLACES = 50


async def _event() -> OpenEvent:
    now = clock.now()
    admin = Principal("staff", 1, "admin", role="admin")
    return await service.create_event(
        admin,
        {
            "title": "浦东新区城市运行综合管理中心开放日",
            "summary": "抢票测试",
            "mode": "offline",
            "location": "世纪大道 2001 号",
            "capacity": PLACES,
            "starts_at": now + timedelta(days=10),
            "ends_at": now + timedelta(days=10, hours=2),
            "published": True,
            "unit": "区城运中心",
        },
    )


async def _people(n: int) -> list[Resident]:
    now = clock.now()
    await Resident.bulk_create(
        [
            Resident(
                email_hmac=accounts.email_identity(f"rush{i}@example.com"),
                email=f"rush{i}@example.com",
                name=f"抢票居民{i}",
                created_at=now,
                verified_at=now,
            )
            for i in range(n)
        ]
    )
    return await Resident.all().order_by("id")


async def _assert_exact(event_id: int) -> None:
    event = await OpenEvent.get(id=event_id)
    confirmed = await Registration.filter(event_id=event_id, status="confirmed").count()
    waiting = await Registration.filter(event_id=event_id, status="waitlisted").count()
    assert confirmed == PLACES
    assert waiting == N - PLACES
    assert event.taken == PLACES
    assert await service.reconcile() == []
    assert await MonthlyPlaces.filter(places__gt=0).count() == PLACES


async def test_thousand_registrations_for_fifty_places_in_process(app):
    event = await _event()
    people = await _people(N)
    results = await asyncio.gather(
        *(service.register(Principal("resident", p.id, p.email), event.id) for p in people),
        return_exceptions=True,
    )
    errors = [r for r in results if isinstance(r, BaseException)]
    assert not errors, errors[:3]
    assert sum(r.status == "confirmed" for r in results) == PLACES  # type: ignore[union-attr]
    await _assert_exact(event.id)


async def test_thousand_registrations_for_fifty_places_through_a_live_server(
    app, database_url, mailbox, tmp_path
):
    event = await _event()
    people = await _people(N)
    now = clock.now()
    tokens = [new_token() for _ in people]
    await AuthToken.bulk_create(
        [
            AuthToken(
                token_hash=token_hash(t),
                kind="api",
                resident_id=p.id,
                created_at=now,
                expires_at=now + timedelta(days=1),
            )
            for t, p in zip(tokens, people, strict=True)
        ]
    )
    server = LiveServer(
        database_url,
        mailbox.port,
        tmp_path / "live",
        workers=2 if POSTGRES_URL else 1,
        extra_env={"CANYU_RATE_LIMIT_SCALE": "100000"},
    ).start()
    try:
        limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
        async with httpx.AsyncClient(base_url=server.url, limits=limits, timeout=120) as http:
            gate = asyncio.Semaphore(64)

            async def one(token: str) -> int:
                async with gate:
                    for attempt in range(3):
                        try:
                            r = await http.post(
                                f"/api/v1/events/{event.id}/registrations",
                                json={"companions": 0},
                                headers={"Authorization": f"Bearer {token}"},
                            )
                        except httpx.TransportError:
                            # A keep-alive connection closed under us: send again. A request
                            # that had in fact arrived answers 409 (one per person).
                            continue
                        return 201 if (r.status_code == 409 and attempt) else r.status_code
                    return 0

            statuses = await asyncio.gather(*(one(t) for t in tokens), return_exceptions=True)
    finally:
        server.stop()
    failures = [s for s in statuses if not isinstance(s, int)]
    assert not failures, (failures[:3], server.log_path.read_text(errors="replace")[-3000:])
    assert statuses.count(201) == N, {s: statuses.count(s) for s in set(statuses)}
    await _assert_exact(event.id)
