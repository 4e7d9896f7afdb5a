"""`canyu backup` copies a live SQLite database consistently; the copy restores."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from conftest import POSTGRES_URL, Mailbox, _Handler, _migrate, free_port, run_sync
from live import LiveServer

pytestmark = pytest.mark.skipif(bool(POSTGRES_URL), reason="SQLite backup (PostgreSQL uses pg_dump)")


def test_backup_while_the_app_writes(tmp_path: Path):
    box = Mailbox(_Handler(), free_port())
    box.start()
    url = f"sqlite://{tmp_path / 'live.sqlite3'}"
    run_sync(_migrate, url)
    server = LiveServer(url, box.port, tmp_path / "var").start()
    try:

        async def write(n: int) -> None:
            async with httpx.AsyncClient(base_url=server.url) as c:
                for i in range(n):
                    r = await c.post("/api/v1/auth/code", json={"email": f"b{i}@example.com"})
                    assert r.status_code == 202

        async def main() -> None:
            writer = asyncio.create_task(write(40))
            await asyncio.sleep(0.3)
            proc = await asyncio.create_subprocess_exec(
                str(Path(sys.executable).parent / "canyu"), "backup", str(tmp_path / "copy.sqlite3"),
                env=server.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            )
            out, _ = await proc.communicate()
            assert proc.returncode == 0, out.decode()
            await writer

        asyncio.run(main())
    finally:
        server.stop()
        box.stop()
    copy = sqlite3.connect(tmp_path / "copy.sqlite3")
    assert copy.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    codes = copy.execute("SELECT COUNT(*) FROM sign_in_code").fetchone()[0]
    mails = copy.execute("SELECT COUNT(*) FROM outbox_mail WHERE kind='sign_in_code'").fetchone()[0]
    assert 0 < codes <= 40
    assert mails == codes  # each code and its mail were written in one transaction
