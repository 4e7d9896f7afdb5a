"""core.sql.run: a transaction written as a generator, one call on SQLite (on the event loop's
thread, or on the database thread while another process holds the write lock), statement by
statement on PostgreSQL. Real databases (the ``db`` fixture: SQLite file or PostgreSQL)."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from datetime import UTC, datetime

import pytest
from tortoise import connections
from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from canyu.core import clock, i18n, sql
from canyu.voting.models import PowUse

pytestmark = pytest.mark.usefixtures("db")

_COUNT = "SELECT COUNT(*) AS n FROM vote_pow_use"


def _spend(signature: str, *, fail_after: bool = False) -> sql.Program[dict]:
    inserted = yield sql.insert_statement(
        PowUse, {"signature": signature, "used_at": clock.now()}, skip_conflict=True
    )
    rows = yield sql.rows("SELECT * FROM vote_pow_use WHERE signature = ?", signature)
    if fail_after:
        raise RuntimeError("crash after the insert")
    return {"inserted": inserted, "row": rows[0] if rows else None}


async def _count() -> int:
    return int((await sql.fetch_one(_COUNT))["n"])


async def test_a_program_commits_and_returns_what_it_returns():
    done = await sql.run(_spend("a"))
    assert done["inserted"] == 1 and done["row"]["signature"] == "a"
    assert await _count() == 1
    # ON CONFLICT DO NOTHING: no row changed, the transaction goes on and commits.
    again = await sql.run(_spend("a"))
    assert again["inserted"] == 0 and again["row"]["id"] == done["row"]["id"]
    assert await _count() == 1


async def test_an_exception_rolls_every_statement_back():
    with pytest.raises(RuntimeError, match="crash"):
        await sql.run(_spend("b", fail_after=True))
    assert await _count() == 0
    # The connection is usable afterwards (no transaction left open).
    assert (await sql.run(_spend("b")))["inserted"] == 1


def _duplicate() -> sql.Program[None]:
    yield sql.insert_statement(PowUse, {"signature": "dup", "used_at": clock.now()})
    yield sql.insert_statement(PowUse, {"signature": "dup", "used_at": clock.now()})


async def test_a_unique_violation_is_the_orms_integrity_error_and_keeps_nothing():
    with pytest.raises(IntegrityError):
        await sql.run(_duplicate())
    assert await _count() == 0


async def test_inside_a_transaction_a_program_is_a_savepoint():
    async with in_transaction():
        await PowUse.create(signature="outer", used_at=clock.now())
        with pytest.raises(RuntimeError):
            await sql.run(_spend("inner", fail_after=True))
        assert (await sql.run(_spend("kept")))["inserted"] == 1
    assert sorted(await PowUse.all().values_list("signature", flat=True)) == ["kept", "outer"]


async def test_an_outer_rollback_takes_the_programs_rows_with_it():
    with pytest.raises(RuntimeError):
        async with in_transaction():
            await sql.run(_spend("c"))
            raise RuntimeError("outer fails")
    assert await _count() == 0


async def test_concurrent_programs_are_serialized_and_counted_exactly():
    results = await asyncio.gather(*(sql.run(_spend(f"s{i % 20}")) for i in range(100)))
    assert sum(r["inserted"] for r in results) == 20
    assert await _count() == 20


def _translated() -> sql.Program[str]:
    yield sql.rows(_COUNT)
    return i18n.gettext("报名已截止。")


async def test_the_clock_and_context_variables_of_the_caller_reach_the_program():
    clock.freeze(datetime(2026, 10, 8, 1, 2, 3, tzinfo=UTC))
    done = await sql.run(_spend("t"))
    assert sql.moment(done["row"]["used_at"]) == datetime(2026, 10, 8, 1, 2, 3, tzinfo=UTC)
    row = await PowUse.get(signature="t")
    assert sql.from_row(PowUse, dict(done["row"])).used_at == row.used_at
    # The request's language (a context variable) holds on SQLite's thread too.
    token = i18n.set_locale("en")
    try:
        english = await sql.run(_translated())
    finally:
        i18n._locale.reset(token)
    assert english != "报名已截止。" and await sql.run(_translated()) == "报名已截止。"


def _spend_two(first: str, second: str, *, fail_after: bool = False) -> sql.Program[list]:
    now = clock.now()
    results = yield sql.together(
        sql.insert_statement(PowUse, {"signature": first, "used_at": now}, returning=True),
        sql.insert_statement(PowUse, {"signature": second, "used_at": now}, skip_conflict=True),
        sql.rows("SELECT signature FROM vote_pow_use WHERE signature LIKE ?", "earlier%"),
    )
    if fail_after:
        raise RuntimeError("crash after both inserts")
    return results


async def test_statements_together_return_each_result_and_commit_or_roll_back_as_one():
    clock.freeze(datetime(2026, 10, 8, 1, 2, 3, tzinfo=UTC))
    await PowUse.create(signature="earlier-1", used_at=clock.now())
    [inserted, counted, seen] = await sql.run(_spend_two("x", "y"))
    assert inserted[0]["signature"] == "x"
    assert sql.moment(inserted[0]["used_at"]) == datetime(2026, 10, 8, 1, 2, 3, tzinfo=UTC)
    assert sql.from_row(PowUse, inserted[0]).id == (await PowUse.get(signature="x")).id
    assert counted == 1
    assert seen == [{"signature": "earlier-1"}]
    [inserted, counted, _seen] = await sql.run(_spend_two("z", "y"))
    assert counted == 0  # "y" exists: skipped, not an error
    with pytest.raises(RuntimeError):
        await sql.run(_spend_two("p", "q", fail_after=True))
    with pytest.raises(IntegrityError):
        await sql.run(_spend_two("x", "r"))
    signatures = await PowUse.all().values_list("signature", flat=True)
    assert sorted(signatures) == ["earlier-1", "x", "y", "z"]


def _spend_where(signature: str) -> sql.Program[int]:
    yield sql.insert_statement(PowUse, {"signature": signature, "used_at": clock.now()})
    return threading.get_ident()


def _sqlite_only() -> str:
    conn = connections.get("default")
    if conn.capabilities.dialect != "sqlite":
        pytest.skip("SQLite's own threading")
    return conn.filename


async def test_on_sqlite_programs_and_statements_run_on_the_event_loops_thread():
    _sqlite_only()
    assert await sql.run(_spend_where("here")) == threading.get_ident()
    assert await sql.execute("UPDATE vote_pow_use SET signature = ? WHERE signature = ?",
                             "moved", "here") == 1
    assert await sql.fetch("SELECT signature FROM vote_pow_use") == [{"signature": "moved"}]
    # The ORM shares the connection and still runs on its own thread.
    assert await PowUse.filter(signature="moved").count() == 1


async def test_while_another_process_writes_the_loop_keeps_running_and_nothing_is_lost():
    path = _sqlite_only()
    await sql.run(_spend("first"))  # the connection is open
    other = sqlite3.connect(path, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        other.execute("INSERT INTO vote_pow_use (signature, used_at) VALUES ('other', ?)",
                      (clock.now().isoformat(" "),))
        program = asyncio.ensure_future(sql.run(_spend_where("waits")))
        statement = asyncio.ensure_future(sql.execute(
            "INSERT INTO vote_pow_use (signature, used_at) VALUES (?, ?)", "also", clock.now()
        ))
        # The loop is not blocked by the busy timeout: a timer runs on time while both wait.
        started = time.monotonic()
        await asyncio.sleep(0.3)
        assert time.monotonic() - started < 0.5
        assert not program.done() and not statement.done()
        other.execute("COMMIT")
        where = await asyncio.wait_for(program, 10)
        assert await asyncio.wait_for(statement, 10) == 1
    finally:
        other.close()
    # The program waited for the lock on the database thread, not on the loop's.
    assert where != threading.get_ident()
    signatures = await PowUse.all().order_by("id").values_list("signature", flat=True)
    assert signatures == ["first", "other", "waits", "also"]
    # Back to the loop's thread once the lock is free.
    assert await sql.run(_spend_where("after")) == threading.get_ident()
