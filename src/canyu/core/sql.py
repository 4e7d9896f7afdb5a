"""Hand-written SQL for the few hot paths where building a query with the ORM costs more than
running it (a bearer token's lookup, taking a place, casting a ballot).

Statements are written once with ``?`` placeholders and portable SQL (SQLite and PostgreSQL
both understand ``RETURNING`` and ``ON CONFLICT``); for PostgreSQL the placeholders become
``$1, $2, …`` (converted once per statement and cached). They run on the connection of the
current transaction when there is one (``in_transaction()`` routes ``connections.get``), so a
raw statement and ORM calls inside the same block commit or roll back together.

A **program** (:func:`run`) is a whole transaction written as a generator that yields
statements and receives their results: on SQLite it runs in one call on the event loop's
thread (``BEGIN IMMEDIATE`` … ``COMMIT``; so do the single statements of :func:`fetch` and
:func:`execute`, see "SQLite on the event loop's thread" below), on PostgreSQL statement by
statement in ``in_transaction()``. The same code, so both backends apply the same rules.

Datetimes are passed as aware UTC ``datetime`` objects: asyncpg takes them as they are, and
SQLite stores them as ``isoformat(" ")`` text (the adapter Tortoise registers), the same form
the ORM writes, so comparisons between the two agree. Values read back from SQLite are text:
use :func:`moment` to turn a column into a ``datetime`` on both backends.
"""

from __future__ import annotations

import contextlib
import contextvars
import itertools
import json
import re
import sqlite3
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from tortoise import connections, fields
from tortoise.backends.base.client import TransactionalDBClient
from tortoise.exceptions import IntegrityError, OperationalError
from tortoise.models import Model
from tortoise.transactions import in_transaction

from canyu.core import clock, db

M = TypeVar("M", bound=Model)
T = TypeVar("T")

_PLACEHOLDER = re.compile(r"\?")
_PG_CACHE: dict[str, str] = {}


def _numbered(sql: str, first: int = 1) -> tuple[str, int]:
    """``?`` placeholders as PostgreSQL's ``$first, $first+1, …``, and the number that
    follows the last."""
    counter = itertools.count(first)
    text = _PLACEHOLDER.sub(lambda _m: f"${next(counter)}", sql)
    return text, next(counter)


def _dialect_sql(sql: str) -> str:
    if not db.is_postgres():
        return sql
    converted = _PG_CACHE.get(sql)
    if converted is None:
        converted = _PG_CACHE[sql] = _numbered(sql)[0]
    return converted


async def fetch(sql: str, *params: Any) -> list[dict[str, Any]]:
    """Every row of a SELECT (or of an INSERT/UPDATE … RETURNING) as dicts."""
    conn = connections.get("default")
    if _on_loop(conn):
        return await _sqlite_statement(conn, Statement(sql, params))
    return await conn.execute_query_dict(_dialect_sql(sql), list(params))


async def fetch_one(sql: str, *params: Any) -> dict[str, Any] | None:
    rows = await fetch(sql, *params)
    return rows[0] if rows else None


async def execute(sql: str, *params: Any) -> int:
    """An UPDATE or DELETE without RETURNING: how many rows it changed."""
    conn = connections.get("default")
    if _on_loop(conn):
        return await _sqlite_statement(conn, Statement(sql, params, count=True))
    changed, _rows = await conn.execute_query(_dialect_sql(sql), list(params))
    return int(changed or 0)


def moment(value: Any) -> datetime | None:
    """A datetime column as an aware UTC datetime (SQLite gives text, PostgreSQL a datetime)."""
    if value is None:
        return None
    parsed = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


@dataclass(frozen=True)
class _InsertPlan:
    sql: str
    sql_returning: str
    columns: tuple[str, ...]
    defaults: dict[str, Any]
    factories: dict[str, Any]
    now: frozenset[str]
    convert: dict[str, fields.Field]


_PLANS: dict[type[Model], _InsertPlan] = {}


def _plan(model: type[Model]) -> _InsertPlan:
    """The INSERT of every column of a model, built once from its metadata (after the ORM is
    initialised), so that a column added to the model later is never left out."""
    plan = _PLANS.get(model)
    if plan is not None:
        return plan
    meta = model._meta
    columns = tuple(sorted(c for c in meta.db_fields if c != meta.db_pk_column))
    defaults: dict[str, Any] = {}
    factories: dict[str, Any] = {}
    now: set[str] = set()
    convert: dict[str, fields.Field] = {}
    for column in columns:
        field = meta.fields_map[meta.fields_db_projection_reverse.get(column, column)]
        if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
            now.add(column)
        elif callable(field.default):
            factories[column] = field.default
        elif field.default is not None or field.null:
            defaults[column] = field.default
        if isinstance(field, fields.JSONField):
            convert[column] = field
    table = meta.db_table
    names = ", ".join(columns)
    marks = ", ".join("?" for _ in columns)
    statement = f"INSERT INTO {table} ({names}) VALUES ({marks})"  # noqa: S608 (model metadata)
    plan = _PLANS[model] = _InsertPlan(
        statement, statement + " RETURNING *", columns, defaults, factories, frozenset(now),
        convert,
    )
    return plan


def _values(model: type[Model], plan: _InsertPlan, values: dict[str, Any]) -> list[Any]:
    out = []
    for column in plan.columns:
        if column in values:
            value = values[column]
        elif column in plan.now:
            value = clock.now()
        elif column in plan.factories:
            value = plan.factories[column]()
        elif column in plan.defaults:
            value = plan.defaults[column]
        else:
            raise TypeError(f"{model.__name__}.{column} needs a value")
        if column in plan.convert:
            value = plan.convert[column].to_db_value(value, None)
        out.append(value)
    return out


async def insert(model: type[M], values: dict[str, Any]) -> M:
    """INSERT one row (``values`` by column name, model defaults for the rest) and return it
    as a model instance built from the stored row (RETURNING *)."""
    plan = _plan(model)
    row = await fetch_one(plan.sql_returning, *_values(model, plan, values))
    assert row is not None
    return from_row(model, row)


async def insert_only(model: type[Model], values: dict[str, Any]) -> None:
    """INSERT one row without reading it back."""
    plan = _plan(model)
    await execute(plan.sql, *_values(model, plan, values))


# --- programs: one transaction, one crossing to SQLite's thread ------------------------------


@dataclass(frozen=True, slots=True)
class Statement:
    """One statement of a program; the program receives its rows (as dicts) or, with
    ``count``, how many rows it changed."""

    sql: str
    params: tuple[Any, ...]
    count: bool = False


def rows(sql: str, *params: Any) -> Statement:
    return Statement(sql, params)


def changes(sql: str, *params: Any) -> Statement:
    return Statement(sql, params, count=True)


@dataclass(frozen=True, slots=True)
class Together:
    """Statements that do not depend on each other's results (and change different rows),
    run as one: on PostgreSQL one statement of data-modifying CTEs (one round trip instead of
    one each), on SQLite one after the other. The program receives a list with each one's
    result. Rows come back as JSON values on PostgreSQL, datetimes as ISO text, as SQLite
    gives them: read them with :func:`moment` or :func:`from_row`."""

    statements: tuple[Statement, ...]


def together(*statements: Statement) -> Together:
    return Together(statements)


Program = Generator[Statement | Together, Any, T]


def insert_statement(
    model: type[Model], values: dict[str, Any], *, returning: bool = False,
    skip_conflict: bool = False,
) -> Statement:
    """The INSERT of one row for a program; ``skip_conflict`` adds ``ON CONFLICT DO NOTHING``
    (any unique constraint: no row comes back instead of an error, and the transaction goes
    on, on both backends); ``returning`` reads the stored row back."""
    plan = _plan(model)
    text = plan.sql + (" ON CONFLICT DO NOTHING" if skip_conflict else "")
    if returning:
        return rows(text + " RETURNING *", *_values(model, plan, values))
    return changes(text, *_values(model, plan, values))


async def run(program: Program[T]) -> T:
    """Run ``program`` as one transaction and return what it returns.

    An exception raised by the program or by one of its statements rolls the whole
    transaction back and reaches the caller (a unique violation as Tortoise's
    ``IntegrityError``, as with the ORM). Inside an ``in_transaction()`` block the program
    becomes a savepoint of that transaction. The program may compute (validate, render a
    mail, build model instances from rows) but not await: on SQLite it runs in one call, on
    the event loop's thread (see :func:`_sqlite_program`)."""
    conn = connections.get("default")
    if conn.capabilities.dialect != "sqlite":
        return await _run_async(conn, program)
    if isinstance(conn, TransactionalDBClient):
        # A savepoint of an ORM transaction: on the database thread, as the ORM's statements.
        async with conn._lock:
            with _orm_errors():
                return await _on_database_thread(conn._connection, program, nested=True)
    return await _sqlite_program(conn, program)


# --- SQLite on the event loop's thread --------------------------------------------------------
#
# Handing a statement to aiosqlite's thread and back costs more than running it: two wake-ups
# of a sleeping thread, and the two threads then take the interpreter's lock from each other
# once per statement (the sqlite3 module lets it go around every step). Measured on a busy
# day of registrations, that was a third of the server's time. So the short statements and
# transactions of this module run on the event loop's thread, holding the client's lock (which
# every ORM query also takes, so the one connection is never used by two threads at once).
#
# The loop must never wait for another process: a transaction's BEGIN IMMEDIATE, and a single
# writing statement, are tried with the busy timeout off; when another process (a separate
# ``canyu outbox run``, a command) holds the write lock, they go to the database thread after
# all and wait there with the configured timeout, while the loop serves other requests. In
# WAL mode nothing after BEGIN IMMEDIATE waits for a lock, and readers never do.


def _on_loop(conn: Any) -> bool:
    """A statement outside any transaction, on SQLite."""
    return conn.capabilities.dialect == "sqlite" and not isinstance(conn, TransactionalDBClient)


def _busy(exc: sqlite3.OperationalError) -> bool:
    """SQLITE_BUSY or SQLITE_LOCKED (with any extended code): another connection's lock."""
    code = getattr(exc, "sqlite_errorcode", 0) & 0xFF
    return code in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


async def _raw(conn: Any) -> tuple[Any, sqlite3.Connection]:
    if conn._connection is None:
        await conn.create_connection(with_db=True)
    return conn._connection, conn._connection._conn


#: What :func:`_without_waiting` returns when another connection holds the lock.
_BUSY = object()


def _without_waiting(conn: Any, raw: sqlite3.Connection, call: Callable[..., T], *args: Any) -> Any:
    """``call(*args)`` with the busy timeout off: its result, or ``_BUSY`` when another
    connection holds the lock it needs (nothing has changed then)."""
    raw.execute("PRAGMA busy_timeout = 0")
    try:
        return call(*args)
    except sqlite3.OperationalError as exc:
        if _busy(exc):
            return _BUSY
        raise
    finally:
        raw.execute(f"PRAGMA busy_timeout = {int(conn.pragmas.get('busy_timeout', 0))}")


async def _on_database_thread(thread: Any, program: Program[T], nested: bool) -> T:
    """The program on aiosqlite's thread, with the caller's context variables."""
    ctx = contextvars.copy_context()
    return await thread._execute(ctx.run, _run_sqlite, thread._conn, program, nested)


@contextlib.contextmanager
def _orm_errors() -> Iterator[None]:
    """sqlite3's errors as the ORM raises them (a unique violation is ``IntegrityError``)."""
    try:
        yield
    except sqlite3.IntegrityError as exc:
        raise IntegrityError(exc) from exc
    except sqlite3.OperationalError as exc:
        raise OperationalError(exc) from exc


async def _sqlite_program(conn: Any, program: Program[T]) -> T:
    async with conn._lock:
        thread, raw = await _raw(conn)
        with _orm_errors():
            if _without_waiting(conn, raw, raw.execute, "BEGIN IMMEDIATE") is not _BUSY:
                return _run_sqlite(raw, program, nested=False, began=True)
            # Another process is writing: wait for it on the database thread.
            return await _on_database_thread(thread, program, nested=False)


_READS: dict[str, bool] = {}


def _reads_only(sql: str) -> bool:
    reads = _READS.get(sql)
    if reads is None:
        reads = _READS[sql] = sql.lstrip()[:6].upper() == "SELECT"
    return reads


async def _sqlite_statement(conn: Any, statement: Statement) -> Any:
    """One statement in autocommit mode: its rows as dicts, or with ``count`` how many rows it
    changed."""
    async with conn._lock:
        thread, raw = await _raw(conn)
        with _orm_errors():
            if _reads_only(statement.sql):
                return _sqlite_one(raw, statement)
            result = _without_waiting(conn, raw, _sqlite_one, raw, statement)
            if result is not _BUSY:
                return result
            # Another process is writing: wait for it on the database thread.
            return await thread._execute(_sqlite_one, raw, statement)


def _run_sqlite(
    conn: sqlite3.Connection, program: Program[T], nested: bool, began: bool = False
) -> T:
    """The whole transaction in one call. ``BEGIN IMMEDIATE`` takes the write lock first (unless
    the caller has, ``began``), so a transaction never has to upgrade a read lock (and never
    fails with "database is locked" half-way)."""
    if not began:
        conn.execute("SAVEPOINT canyu_program" if nested else "BEGIN IMMEDIATE")
    try:
        step = next(program)
        while True:
            if isinstance(step, Together):
                result: Any = [_sqlite_one(conn, statement) for statement in step.statements]
            else:
                result = _sqlite_one(conn, step)
            step = program.send(result)
    except StopIteration as done:
        conn.execute("RELEASE canyu_program" if nested else "COMMIT")
        return done.value
    except BaseException:
        if nested:
            conn.execute("ROLLBACK TO canyu_program")
            conn.execute("RELEASE canyu_program")
        elif conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    finally:
        program.close()


def _sqlite_one(conn: sqlite3.Connection, statement: Statement) -> Any:
    if statement.count:
        before = conn.total_changes
        conn.execute(statement.sql, statement.params)
        return conn.total_changes - before
    return [dict(row) for row in conn.execute(statement.sql, statement.params)]


async def _run_async(conn: Any, program: Program[T]) -> T:
    async with in_transaction(conn.connection_name) as tx:
        try:
            step = next(program)
            while True:
                if isinstance(step, Together):
                    result: Any = await _pg_together(tx, step)
                elif step.count:
                    result = await tx._translate_exceptions(
                        _pg_changes, _dialect_sql(step.sql), list(step.params)
                    )
                else:
                    result = await tx.execute_query_dict(_dialect_sql(step.sql), list(step.params))
                step = program.send(result)
        except StopIteration as done:
            return done.value
        finally:
            program.close()


async def _pg_changes(client: Any, text: str, params: list[Any]) -> int:
    """How many rows a statement changed, from asyncpg's command tag ("UPDATE 3", "INSERT 0 1":
    the count is the last word; Tortoise's ``execute_query`` reads the second, which for an
    INSERT is always 0)."""
    async with client.acquire_connection() as connection:
        tag = await connection.execute(text, *params)
    last = (tag or "").rpartition(" ")[2]
    return int(last) if last.isdigit() else 0


_TOGETHER_CACHE: dict[tuple[tuple[str, bool], ...], str] = {}


def _together_sql(statements: tuple[Statement, ...]) -> str:
    """``WITH s0 AS (…), s1 AS (…) SELECT …``: each statement a CTE (a statement without
    RETURNING gets ``RETURNING 1``, to count its rows), and one row per returned row tagged
    with its statement's number. Built once per combination of statements."""
    key = tuple((statement.sql, statement.count) for statement in statements)
    query = _TOGETHER_CACHE.get(key)
    if query is None:
        first = 1
        parts, selects = [], []
        for i, statement in enumerate(statements):
            text, first = _numbered(statement.sql, first)
            if statement.count:
                parts.append(f"s{i} AS ({text} RETURNING 1)")
                selects.append(f"SELECT {i} AS i, NULL::jsonb AS r FROM s{i}")  # noqa: S608
            else:
                parts.append(f"s{i} AS ({text})")
                selects.append(f"SELECT {i} AS i, to_jsonb(s{i}) AS r FROM s{i}")  # noqa: S608
        query = _TOGETHER_CACHE[key] = (
            "WITH " + ", ".join(parts) + " " + " UNION ALL ".join(selects)
        )
    return query


async def _pg_together(tx: Any, step: Together) -> list[Any]:
    params = [value for statement in step.statements for value in statement.params]
    rows = await tx.execute_query_dict(_together_sql(step.statements), params)
    results: list[Any] = [0 if s.count else [] for s in step.statements]
    for row in rows:
        i = row["i"]
        if step.statements[i].count:
            results[i] += 1
        else:
            value = row["r"]
            results[i].append(json.loads(value) if isinstance(value, str) else value)
    return results


_DATETIME_COLUMNS: dict[type[Model], tuple[str, ...]] = {}


def from_row(cls: type[M], row: dict[str, Any]) -> M:
    """A model instance from a row read by hand (``SELECT *`` or ``RETURNING *``): datetime
    text from SQLite is parsed with ``datetime.fromisoformat`` (the ORM's own parser costs
    ten times more, and every registration reads two rows)."""
    columns = _DATETIME_COLUMNS.get(cls)
    if columns is None:
        meta = cls._meta
        columns = _DATETIME_COLUMNS[cls] = tuple(
            column for column in meta.db_fields
            if isinstance(
                meta.fields_map[meta.fields_db_projection_reverse.get(column, column)],
                fields.DatetimeField,
            )
        )
    for column in columns:
        value = row.get(column)
        if isinstance(value, str):
            row[column] = moment(value)
    return cls._init_from_db(**row)
