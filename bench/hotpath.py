"""CPU cost of the hot requests, measured in one process without HTTP.

The app is called as an ASGI application with hand-made requests (every middleware, the real
database, no client, no sockets), one request at a time, and the process CPU time (every thread,
SQLite's included) is divided by the requests. This isolates what the server itself spends on:

- ``GET /api/v1/me`` (authentication alone),
- ``POST /api/v1/events/{id}/registrations`` (confirmed, then waiting list),
- ``POST /api/v1/campaigns/{id}/ballots``,
- the naive insert of ``bench/naive_app.py`` as the floor,

and, separately, what the outbox worker spends per mail. Numbers are per request and hardly
depend on what else the machine runs; use it to compare two versions of the code. On PostgreSQL
a last column gives the CPU of the server's own processes for this database per request (read
from ``/proc``, so only when the server runs on this machine).

    python -m bench.hotpath --database sqlite --requests 1000
    python -m bench.hotpath --database postgres
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.common import _fresh_database


class Asgi:
    """Calls an ASGI app the way uvicorn would, minus the sockets."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def request(
        self, method: str, path: str, body: Any = None, token: str | None = None
    ) -> tuple[int, bytes]:
        raw = json.dumps(body).encode() if body is not None else b""
        headers = [(b"host", b"127.0.0.1"), (b"user-agent", b"bench-hotpath")]
        if body is not None:
            headers += [(b"content-type", b"application/json"),
                        (b"content-length", str(len(raw)).encode())]
        if token:
            headers.append((b"authorization", f"Bearer {token}".encode()))
        scope = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
            "method": method, "scheme": "http", "path": path, "raw_path": path.encode(),
            "query_string": b"", "root_path": "", "headers": headers,
            "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8000), "state": {},
        }
        sent = False

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if sent:
                await asyncio.sleep(3600)
            sent = True
            return {"type": "http.request", "body": raw, "more_body": False}

        status = 0
        chunks: list[bytes] = []

        async def send(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        await self.app(scope, receive, send)
        return status, b"".join(chunks)


PROFILE: str = ""


def _profiler(name: str) -> Any:
    if not (PROFILE and PROFILE in name):
        return None
    import cProfile

    profiler = cProfile.Profile()
    profiler.enable()
    return profiler


def _report(profiler: Any) -> None:
    if profiler is not None:
        import pstats

        profiler.disable()
        pstats.Stats(profiler).sort_stats(os.environ.get("HOTPATH_SORT", "cumulative")).print_stats(70)


async def _backend_cpu() -> dict[int, float] | None:
    """CPU seconds so far of each PostgreSQL backend serving this database, read from
    ``/proc`` (None on SQLite, or when the server is not on this machine)."""
    from tortoise import connections

    conn = connections.get("default")
    if conn.capabilities.dialect != "postgres":
        return None
    rows = await conn.execute_query_dict(
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
    )
    return _process_cpu([row["pid"] for row in rows])


def _process_cpu(pids: list[int]) -> dict[int, float] | None:
    """None unless these are PostgreSQL processes of this machine (a server in a container or
    on another host has process ids of its own); a backend that ended in between is left out."""
    ticks = os.sysconf("SC_CLK_TCK")
    seconds = {}
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        name, _, rest = stat.partition("(")[2].rpartition(")")
        if name not in ("postgres", "postmaster"):
            return None
        fields = rest.split()
        seconds[pid] = (int(fields[11]) + int(fields[12])) / ticks
    return seconds or None


def _backend_ms(before: dict[int, float] | None, after: dict[int, float] | None,
                n: int) -> float | None:
    """PostgreSQL's CPU per request between two readings: backends that ended in between are
    not counted (the pool keeps its connections open while the cases run)."""
    if before is None or after is None:
        return None
    return 1000 * sum(cpu - before.get(pid, 0.0) for pid, cpu in after.items()) / n


async def measure(name: str, n: int, call: Callable[[int], Any],
                  expect: tuple[int, ...]) -> dict[str, Any]:
    statuses: dict[int, int] = {}
    profiler = _profiler(name)
    backends = await _backend_cpu()
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for i in range(n):
        status, body = await call(i)
        statuses[status] = statuses.get(status, 0) + 1
        if status not in expect:
            raise RuntimeError(f"{name}: unexpected {status} {body[:300]!r}")
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    _report(profiler)
    return {"case": name, "requests": n, "cpu_ms": 1000 * cpu / n, "wall_ms": 1000 * wall / n,
            "statuses": statuses, "pg_ms": _backend_ms(backends, await _backend_cpu(), n)}


async def run(database: str, n: int) -> list[dict[str, Any]]:
    from canyu.accounts import service as accounts
    from canyu.accounts.models import Resident
    from canyu.app import create_app
    from canyu.core import clock
    from canyu.core.db import apply_migrations
    from canyu.core.security import keyed_hash
    from canyu.settings import Settings

    tmp = Path(tempfile.mkdtemp(prefix="canyu-hotpath-"))
    db = _fresh_database(database, tmp, "canyu")
    # The SMTP server runs in its own process, so that its CPU is not counted as the app's.
    from bench.common import free_port

    smtp_port = free_port()
    sink = subprocess.Popen([sys.executable, "-m", "aiosmtpd", "-n", "-l",  # noqa: ASYNC220
                             f"127.0.0.1:{smtp_port}", "-c", "aiosmtpd.handlers.Sink"])
    settings = Settings.from_env(
        database_url=db.url, secret_key=secrets.token_urlsafe(48), var_dir=tmp,
        upload_dir=tmp / "uploads", smtp_port=smtp_port, rate_limit_scale=100000.0,
        pow_difficulty=0, run_outbox_worker=False, run_scheduler=False,
    )
    os.environ["CANYU_RATE_LIMIT_SCALE"] = "100000"
    rows = []
    try:
        await apply_migrations(settings.database_url)
        app = create_app(settings)
        client = Asgi(app)
        async with app.router.lifespan_context(app):
            now = clock.now()
            residents = []
            for i in range(2 * n + 1):
                address = f"hot{i}@example.com"
                residents.append(await Resident.create(
                    email_hmac=keyed_hash("email", address), email=address, name=f"居民{i}",
                    phone=f"1380000{i:04d}", district="花木街道", birth_year=1980,
                    created_at=now, verified_at=now - timedelta(hours=1),
                ))
            tokens = [await accounts.issue_token(resident=r) for r in residents]
            await accounts.create_staff("hot-admin", "admin", "hot-password-123456", "区政务公开办")
            _status, body = await client.request(
                "POST", "/api/v1/staff/token", {"username": "hot-admin",
                                                "password": "hot-password-123456"})
            admin = json.loads(body)["token"]
            start = datetime.now(UTC)

            async def event(capacity: int) -> int:
                status, body = await client.request("POST", "/api/v1/events", {
                    "title": "热点测试活动", "summary": "性能测试", "theme": "城市治理",
                    "mode": "offline", "location": "浦东新区合欢路 2 号",
                    "starts_at": (start + timedelta(days=3)).isoformat(),
                    "ends_at": (start + timedelta(days=3, hours=2)).isoformat(),
                    "capacity": capacity,
                    "registration_opens_at": (start - timedelta(hours=1)).isoformat(),
                    "registration_closes_at": (start + timedelta(days=2)).isoformat(),
                    "max_companions": 0, "published": True}, token=admin)
                if status != 201:
                    raise RuntimeError(body)
                return int(json.loads(body)["id"])

            confirmed, full = await event(n), await event(1)
            await client.request("POST", f"/api/v1/events/{full}/registrations",
                                 {"companions": 0}, token=tokens[2 * n])
            _status, body = await client.request("POST", "/api/v1/campaigns", {
                "title": "热点测试评选", "opens_at": (start - timedelta(hours=1)).isoformat(),
                "closes_at": (start + timedelta(hours=6)).isoformat(), "ballots_per_day": 1,
                "choices_per_ballot": 3, "public_weight": 0.7, "expert_weight": 0.3,
                "candidates": [{"title": f"活动 {i}"} for i in range(10)]}, token=admin)
            campaign = json.loads(body)
            cids = [c["id"] for c in campaign["candidates"]]

            rows.append(await measure("GET /me", n, lambda i: client.request(
                "GET", "/api/v1/me", token=tokens[i]), (200,)))
            rows.append(await measure("register (confirmed)", n, lambda i: client.request(
                "POST", f"/api/v1/events/{confirmed}/registrations", {"companions": 0},
                token=tokens[i]), (201,)))
            rows.append(await measure("register (waiting list)", n, lambda i: client.request(
                "POST", f"/api/v1/events/{full}/registrations", {"companions": 0},
                token=tokens[n + i]), (201,)))
            rows.append(await measure("ballot", n, lambda i: client.request(
                "POST", f"/api/v1/campaigns/{campaign['id']}/ballots",
                {"candidate_ids": cids[i % 8: i % 8 + 2]}, token=tokens[i]), (201,)))
            from canyu.notify.models import OutboxMail
            from canyu.notify.worker import run_once

            pending = await OutboxMail.filter(status="pending").count()
            backends = await _backend_cpu()
            cpu0 = time.process_time()
            profiler = _profiler("outbox")
            while await run_once(settings):
                pass
            _report(profiler)
            rows.append({"case": "outbox: build and send one mail", "requests": pending,
                         "cpu_ms": 1000 * (time.process_time() - cpu0) / max(1, pending),
                         "wall_ms": 0.0, "statuses": {},
                         "pg_ms": _backend_ms(backends, await _backend_cpu(), max(1, pending))})
        rows.append(await _naive(database, tmp, n))
    finally:
        sink.terminate()
        if db.drop:
            db.drop()
    return rows


async def _naive(database: str, tmp: Path, n: int) -> dict[str, Any]:
    from tortoise import Tortoise

    from bench import naive_app

    db = _fresh_database(database, tmp, "naive")
    os.environ["NAIVE_DATABASE_URL"] = db.url
    try:
        await naive_app._init()
        app = naive_app.app
        client = Asgi(app)
        async with app.router.lifespan_context(app):
            return await measure("naive insert", n, lambda i: client.request(
                "POST", "/insert", {"body": f"row {i}"}), (201,))
    finally:
        await Tortoise.close_connections()
        if db.drop:
            db.drop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--profile", default="", help="profile the cases whose name contains this")
    args = parser.parse_args()
    global PROFILE
    PROFILE = args.profile
    rows = asyncio.run(run(args.database, args.requests))
    floor = next(r["cpu_ms"] for r in rows if r["case"] == "naive insert")
    print(f"{'case':34} {'n':>6} {'CPU ms/req':>11} {'wall ms/req':>12} {'x naive':>8}"
          f" {'PostgreSQL CPU ms/req':>22}")
    for r in rows:
        pg = r.get("pg_ms")
        print(f"{r['case']:34} {r['requests']:>6} {r['cpu_ms']:>11.2f} {r['wall_ms']:>12.2f} "
              f"{r['cpu_ms'] / floor:>8.1f} {'' if pg is None else f'{pg:.2f}':>22}")


if __name__ == "__main__":
    main()
