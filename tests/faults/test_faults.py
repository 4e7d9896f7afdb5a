"""Faults during a rush for places: the database connections are killed (PostgreSQL), a worker
is killed with SIGKILL. Afterwards nothing is half-written, nothing is oversold, every counter
reconciles with its rows, and the app recovers without a restart."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from conftest import (
    POSTGRES_URL,
    TEST_SECRET,
    Mailbox,
    _Handler,
    _migrate,
    _pg_admin_url,
    _pg_exec,
    free_port,
    run_sync,
)
from live import LiveServer

pytestmark = pytest.mark.slow

CAPACITY = 40
PEOPLE = 300


async def _seed_residents(url: str, n: int) -> list[str]:
    """Residents with API tokens, written straight to the database (sign-in is not under test)."""
    from tortoise import Tortoise

    from canyu.accounts import service
    from canyu.accounts.models import Resident
    from canyu.core import clock, security
    from canyu.core.db import tortoise_config

    security.configure(TEST_SECRET)
    await Tortoise.init(config=tortoise_config(url), _enable_global_fallback=True)
    try:
        tokens = []
        now = clock.now()
        for i in range(n):
            resident = await Resident.create(
                email_hmac=f"fault-{i}", email=f"fault{i}@example.com", name=f"测试{i}",
                district="花木街道", birth_year=1980, created_at=now, verified_at=now - timedelta(days=1),
            )
            tokens.append(await service.issue_token(resident=resident, kind="api"))
        return tokens
    finally:
        await Tortoise.close_connections()


async def _reconcile(url: str) -> tuple[list, int, int]:
    from tortoise import Tortoise

    from canyu.core.db import tortoise_config
    from canyu.openmonth import service
    from canyu.openmonth.models import Registration

    await Tortoise.init(config=tortoise_config(url), _enable_global_fallback=True)
    try:
        mismatches = await service.reconcile()
        holding = await Registration.filter(status__in=["confirmed", "offered"]).count()
        total = await Registration.all().count()
        return mismatches, holding, total
    finally:
        await Tortoise.close_connections()


def _admin_headers(server: LiveServer) -> dict[str, str]:
    canyu = Path(sys.executable).parent / "canyu"
    subprocess.run([str(canyu), "staff", "create", "faultadmin", "--role", "admin", "--password-stdin"],
                   input=b"fault admin password\n", env=server.env, check=True, capture_output=True)
    r = httpx.post(server.url + "/api/v1/staff/token", json={"username": "faultadmin", "password": "fault admin password"})
    r.raise_for_status()
    return {"Authorization": f"Bearer {r.json()['token']}"}


def _create_event(server: LiveServer, headers: dict[str, str]) -> int:
    now = datetime.now(UTC)
    r = httpx.post(server.url + "/api/v1/events", headers=headers, json={
        "title": "浦东新区档案馆开放日", "summary": "参观档案库房", "theme": "民心工程", "mode": "offline",
        "location": "浦东新区档案馆", "starts_at": (now + timedelta(days=7)).isoformat(),
        "ends_at": (now + timedelta(days=7, hours=2)).isoformat(), "capacity": CAPACITY,
        "registration_opens_at": (now - timedelta(hours=1)).isoformat(),
        "registration_closes_at": (now + timedelta(days=6)).isoformat(), "published": True,
    })
    assert r.status_code == 201, r.text
    return r.json()["id"]


async def _rush(server: LiveServer, event_id: int, tokens: list[str], during=None) -> list[httpx.Response | Exception]:
    limits = httpx.Limits(max_connections=40)
    async with httpx.AsyncClient(base_url=server.url, timeout=60, limits=limits) as client:
        async def one(token: str):
            try:
                return await client.post(f"/api/v1/events/{event_id}/registrations", json={"companions": 0},
                                         headers={"Authorization": f"Bearer {token}"})
            except httpx.HTTPError as exc:  # a killed worker drops its connections
                return exc

        tasks = [asyncio.create_task(one(t)) for t in tokens]
        if during is not None:
            await during()
        return await asyncio.gather(*tasks)


def _database(tmp_path: Path, name: str) -> tuple[str, object]:
    if POSTGRES_URL:
        dbname = f"canyu_fault_{name}_{os.getpid()}"
        run_sync(_pg_exec, POSTGRES_URL, f'DROP DATABASE IF EXISTS "{dbname}"', f'CREATE DATABASE "{dbname}"')
        url = _pg_admin_url(POSTGRES_URL, dbname)

        def drop() -> None:
            run_sync(_pg_exec, POSTGRES_URL, f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
    else:
        url = f"sqlite://{tmp_path / (name + '.sqlite3')}"

        def drop() -> None:
            return None
    run_sync(_migrate, url)
    return url, drop


@pytest.mark.skipif(not POSTGRES_URL, reason="kills PostgreSQL connections")
def test_killed_database_connections_leave_no_half_registration(tmp_path):
    url, drop = _database(tmp_path, "kill")
    box = Mailbox(_Handler(), free_port())
    box.start()
    server = LiveServer(url, box.port, tmp_path / "var", workers=2,
                        extra_env={"CANYU_RATE_LIMIT_SCALE": "100000"}).start()
    try:
        event_id = _create_event(server, _admin_headers(server))
        tokens = run_sync(_seed_residents, url, PEOPLE)
        dbname = url.rsplit("/", 1)[1]

        async def kill_connections() -> None:
            for _ in range(3):
                await asyncio.sleep(0.15)
                await _pg_exec(POSTGRES_URL, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                               f"WHERE datname = '{dbname}' AND pid <> pg_backend_pid()")

        results = asyncio.run(_rush(server, event_id, tokens, kill_connections))
        statuses = [r.status_code for r in results if isinstance(r, httpx.Response)]
        assert len(statuses) == PEOPLE, [repr(r) for r in results if not isinstance(r, httpx.Response)]
        assert set(statuses) <= {201, 503}, [r.text for r in results if r.status_code not in (201, 503)][:3]
        for r in results:
            if r.status_code == 503:
                body = r.json()["error"]
                assert body["code"] == "unavailable" and "稍后" in body["message"]
                assert r.headers.get("retry-after")
        # Recovered without a restart.
        deadline = time.monotonic() + 20
        while httpx.get(server.url + "/readyz").status_code != 200 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert httpx.get(server.url + "/readyz").status_code == 200
        # Clients retry what answered 503. A retry may find its registration already made (409):
        # the commit went through but its answer was lost with the connection.
        retry = [t for t, r in zip(tokens, results, strict=True) if r.status_code == 503]
        for _ in range(5):
            if not retry:
                break
            again = asyncio.run(_rush(server, event_id, retry))
            assert {r.status_code for r in again} <= {201, 409, 503}, [r.status_code for r in again]
            retry = [t for t, r in zip(retry, again, strict=True) if r.status_code == 503]
            time.sleep(1)
        assert not retry, f"{len(retry)} requests still unavailable after the database recovered"
        mismatches, holding, total = run_sync(_reconcile, url)
        assert mismatches == []
        assert holding == CAPACITY
        assert total == PEOPLE  # every resident has exactly one registration, none half-made
    finally:
        server.stop()
        box.stop()
        drop()


def test_worker_killed_mid_writes_leaves_counts_that_reconcile(tmp_path):
    url, drop = _database(tmp_path, "sigkill")
    box = Mailbox(_Handler(), free_port())
    box.start()
    workers = 2 if POSTGRES_URL else 1
    server = LiveServer(url, box.port, tmp_path / "var", workers=workers,
                        extra_env={"CANYU_RATE_LIMIT_SCALE": "100000"}).start()
    try:
        event_id = _create_event(server, _admin_headers(server))
        tokens = run_sync(_seed_residents, url, PEOPLE)

        async def kill_a_worker() -> None:
            await asyncio.sleep(0.3)
            assert server.process is not None
            if workers == 1:
                os.killpg(server.process.pid, signal.SIGKILL)
            else:
                children = subprocess.run(["pgrep", "-P", str(server.process.pid)], capture_output=True, text=True).stdout.split()
                os.kill(int(children[-1]), signal.SIGKILL)

        results = asyncio.run(_rush(server, event_id, tokens, kill_a_worker))
        answered = [r for r in results if isinstance(r, httpx.Response)]
        assert all(r.status_code in (201, 503) for r in answered), sorted({r.status_code for r in answered})
        if workers == 1:
            server.stop(signal.SIGKILL)
            server.start()  # a crashed embedded server is started again
        mismatches, holding, total = run_sync(_reconcile, url)
        assert mismatches == []
        assert holding <= CAPACITY
        created = sum(1 for r in answered if r.status_code == 201)
        assert total >= created  # every 201 answered has its row
    finally:
        server.stop()
        box.stop()
        drop()
