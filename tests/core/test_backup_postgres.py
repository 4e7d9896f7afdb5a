"""PostgreSQL backups: ``pg_dump -Fc`` taken while the services keep writing restores into a fresh
database that holds every registration, ballot and comment committed before the dump began,
each one whole (its places counted, its choices and audit row beside it), and nothing else."""

from __future__ import annotations

import asyncio
import os
import shutil
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from conftest import POSTGRES_URL, TEST_SECRET, _migrate, _pg_admin_url, _pg_exec, run_sync

pytestmark = [
    pytest.mark.skipif(not POSTGRES_URL, reason="needs CANYU_TEST_POSTGRES_URL"),
    pytest.mark.skipif(
        not (shutil.which("pg_dump") and shutil.which("pg_restore")),
        reason="needs the PostgreSQL client programs pg_dump and pg_restore",
    ),
]

#: Rows written before the dump starts; the writer then goes on until after it has finished.
BEFORE = 12
AFTER = 5
TABLES = {
    "registrations": "openmonth_registration",
    "ballots": "vote_ballot",
    "comments": "consultation_comment",
}


async def _connect(url: str) -> Any:
    import asyncpg

    parts = urlsplit(url)
    return await asyncpg.connect(
        host=parts.hostname,
        port=parts.port or 5432,
        user=parts.username or "postgres",
        password=parts.password,
        database=parts.path.lstrip("/"),
    )


async def _rows(url: str) -> dict[str, dict[int, tuple]]:
    conn = await _connect(url)
    try:
        return {
            kind: {r["id"]: tuple(r.values()) for r in await conn.fetch(f'SELECT * FROM "{table}"')}
            for kind, table in TABLES.items()
        }
    finally:
        await conn.close()


class Writer:
    """Residents who each register for an event, vote and comment, through the services."""

    def __init__(self) -> None:
        self.written: dict[str, set[int]] = {kind: set() for kind in TABLES}
        self.n = 0

    async def setup(self) -> None:
        from canyu.accounts import service as accounts
        from canyu.consultations import service as consultations
        from canyu.core import clock
        from canyu.core.permissions import Principal
        from canyu.openmonth import service as openmonth
        from canyu.voting import service as voting
        from canyu.voting.models import Candidate

        admin = await accounts.create_staff("backup-admin", "admin", "correct horse battery")
        staff = Principal("staff", admin.id, "admin", role="admin")
        now = clock.now()
        event = await openmonth.create_event(
            staff,
            {
                "title": "走进浦东新区档案馆",
                "summary": "参观档案库房。",
                "location": "浦东新区丁香路 1200 号（花木街道）",
                "capacity": 100_000,
                "max_companions": 1,
                "starts_at": now + timedelta(days=10),
                "ends_at": now + timedelta(days=10, hours=2),
                "registration_opens_at": now - timedelta(hours=1),
                "published": True,
            },
        )
        campaign = await voting.create_campaign(
            staff,
            {
                "title": "最受欢迎的开放活动",
                "opens_at": now - timedelta(hours=1),
                "closes_at": now + timedelta(days=3),
                "candidates": [{"title": "档案馆开放日"}, {"title": "城运中心开放日"}],
            },
        )
        consultation = await consultations.create_consultation(
            staff,
            {
                "title": "浦东新区老旧小区加装电梯补贴办法（征求意见稿）",
                "kind": "normative",
                "body": "为推进既有多层住宅加装电梯工作，制定本办法。",
                "opens_at": now - timedelta(minutes=1),
                "closes_at": now + timedelta(days=20),
                "published": True,
            },
        )
        self.event_id, self.campaign_id, self.consultation_id = (
            event.id,
            campaign.id,
            consultation.id,
        )
        self.candidates = [
            c.id for c in await Candidate.filter(campaign_id=campaign.id).order_by("id")
        ]

    async def one(self) -> None:
        from canyu.accounts import service as accounts
        from canyu.accounts.models import Resident
        from canyu.consultations import service as consultations
        from canyu.core import clock
        from canyu.core.permissions import Principal
        from canyu.openmonth import service as openmonth
        from canyu.voting import service as voting

        i, now = self.n, clock.now()
        self.n += 1
        email = f"backup{i}@example.com"
        resident = await Resident.create(
            email_hmac=accounts.email_identity(email),
            email=email,
            name=f"居民{i}",
            created_at=now,
            verified_at=now - timedelta(hours=1),
        )
        me = Principal("resident", resident.id, email)
        registration = await openmonth.register(me, self.event_id, i % 2)
        self.written["registrations"].add(registration.id)
        ballot = await voting.cast_ballot(
            me,
            self.campaign_id,
            [self.candidates[i % 2]],
            ip=f"10.{i // 200}.{i % 200}.7",
            user_agent="backup-test",
        )
        self.written["ballots"].add(ballot.id)
        comment = await consultations.submit_comment(
            me, self.consultation_id, f"第 {i} 条意见：建议加快审批。"
        )
        self.written["comments"].add(comment.id)


async def _dump_while_writing(url: str, dump: Path) -> tuple[dict, dict]:
    """Returns (what was committed before the dump began, everything written)."""
    from tortoise import Tortoise

    from canyu.core import ratelimit, security
    from canyu.core.db import tortoise_config

    security.configure(TEST_SECRET)
    ratelimit.configure("", 100_000)  # many residents from the test's few networks
    await Tortoise.init(config=tortoise_config(url), _enable_global_fallback=True)
    try:
        writer = Writer()
        await writer.setup()
        for _ in range(BEFORE):
            await writer.one()
        before = {kind: set(ids) for kind, ids in writer.written.items()}
        done = asyncio.Event()

        async def keep_writing() -> None:
            after = 0
            while not done.is_set() or after < AFTER:
                await writer.one()
                if done.is_set():
                    after += 1

        task = asyncio.create_task(keep_writing())
        # The command of docs/operations.md
        proc = await asyncio.create_subprocess_exec(
            "pg_dump", "-Fc", "-f", str(dump), url,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        out, _ = await proc.communicate()
        done.set()
        await task
        assert proc.returncode == 0, out.decode(errors="replace")
        return before, writer.written
    finally:
        ratelimit.configure("", 1)
        await Tortoise.close_connections()


async def _restore(url: str, dump: Path) -> None:
    proc = await asyncio.create_subprocess_exec(
        "pg_restore", "--clean", "--if-exists", "--exit-on-error", "-d", url, str(dump),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await proc.communicate()
    assert proc.returncode == 0, out.decode(errors="replace")


async def _whole(url: str) -> dict[str, Any]:
    """What the restored database says through the services, and its cross-table checks."""
    from tortoise import Tortoise, connections

    from canyu.core.db import apply_migrations, tortoise_config
    from canyu.openmonth import service as openmonth
    from canyu.openmonth.models import OpenEvent

    await apply_migrations(url)  # nothing to apply: the copy has the schema and its history
    await Tortoise.init(config=tortoise_config(url), _enable_global_fallback=True)
    try:
        conn = connections.get("default")
        event = await OpenEvent.get()
        counts = (await openmonth.counts([event.id]))[event.id]
        _, orphans = await conn.execute_query(
            "SELECT b.id FROM vote_ballot b"
            " WHERE (SELECT COUNT(*) FROM vote_choice c WHERE c.ballot_id = b.id) <> 1"
            " OR (SELECT COUNT(*) FROM vote_ballot_audit a WHERE a.ballot_id = b.id) <> 1"
        )
        _, places = await conn.execute_query(
            "SELECT COALESCE(SUM(places), 0) AS n FROM openmonth_registration"
            " WHERE status IN ('confirmed', 'offered')"
        )
        return {
            "taken": event.taken,
            "confirmed": counts["confirmed"],
            "places": int(places[0]["n"]),
            "broken_ballots": [r["id"] for r in orphans],
        }
    finally:
        await Tortoise.close_connections()


def test_pg_dump_while_the_services_write_restores_every_registration_ballot_and_comment(
    tmp_path: Path,
):
    pid = os.getpid()
    source_db, copy_db = f"canyu_backup_source_{pid}", f"canyu_backup_copy_{pid}"
    source, copy = _pg_admin_url(POSTGRES_URL, source_db), _pg_admin_url(POSTGRES_URL, copy_db)
    drop = [f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)' for name in (source_db, copy_db)]
    run_sync(_pg_exec, POSTGRES_URL, *drop, f'CREATE DATABASE "{source_db}"')
    try:
        run_sync(_migrate, source)
        dump = tmp_path / "canyu.dump"
        before, written = run_sync(_dump_while_writing, source, dump)
        assert dump.stat().st_size > 0

        run_sync(_pg_exec, POSTGRES_URL, f'CREATE DATABASE "{copy_db}"')
        run_sync(_restore, copy, dump)

        original, restored = run_sync(_rows, source), run_sync(_rows, copy)
        for kind in TABLES:
            # everything the services wrote is in the source, and the writer went on after the dump
            assert set(original[kind]) == written[kind], kind
            assert len(written[kind]) >= BEFORE + AFTER
            # every row committed before the dump began is in the copy...
            assert before[kind] <= set(restored[kind]), kind
            # ...nothing that was never written, and each row exactly as written
            assert set(restored[kind]) <= written[kind], kind
            for row_id, row in restored[kind].items():
                assert row == original[kind][row_id], (kind, row_id)
        # one consistent snapshot: a resident's registration, ballot and comment were written
        # one after the other, so the copy holds as many of each as were complete at that moment
        # (give or take the one resident in progress)
        sizes = sorted(len(restored[kind]) for kind in TABLES)
        assert sizes[-1] - sizes[0] <= 1, sizes

        whole = run_sync(_whole, copy)
        assert whole["broken_ballots"] == []  # every ballot with its choice and its audit row
        assert whole["taken"] == whole["places"]  # the place counter matches the rows
        assert whole["confirmed"] == whole["places"]
    finally:
        run_sync(_pg_exec, POSTGRES_URL, *drop)
