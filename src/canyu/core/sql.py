"""Hand-written SQL for the few hot paths where building a query with the ORM costs more than
running it (a bearer token's lookup, taking a place, casting a ballot).

Statements are written once with ``?`` placeholders and portable SQL (SQLite and PostgreSQL
both understand ``RETURNING`` and ``ON CONFLICT``); for PostgreSQL the placeholders become
``$1, $2, …`` (converted once per statement and cached). They run on the connection of the
current transaction when there is one (``in_transaction()`` routes ``connections.get``), so a
raw statement and ORM calls inside the same block commit or roll back together.

Datetimes are passed as aware UTC ``datetime`` objects: asyncpg takes them as they are, and
SQLite stores them as ``isoformat(" ")`` text (the adapter Tortoise registers), the same form
the ORM writes, so comparisons between the two agree. Values read back from SQLite are text:
use :func:`moment` to turn a column into a ``datetime`` on both backends.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from tortoise import connections

from canyu.core import db

_PLACEHOLDER = re.compile(r"\?")
_PG_CACHE: dict[str, str] = {}


def _dialect_sql(sql: str) -> str:
    if not db.is_postgres():
        return sql
    converted = _PG_CACHE.get(sql)
    if converted is None:
        counter = iter(range(1, 1000))
        converted = _PG_CACHE[sql] = _PLACEHOLDER.sub(lambda _m: f"${next(counter)}", sql)
    return converted


async def fetch(sql: str, *params: Any) -> list[dict[str, Any]]:
    """Every row of a SELECT (or of an INSERT/UPDATE … RETURNING) as dicts."""
    conn = connections.get("default")
    return await conn.execute_query_dict(_dialect_sql(sql), list(params))


async def fetch_one(sql: str, *params: Any) -> dict[str, Any] | None:
    rows = await fetch(sql, *params)
    return rows[0] if rows else None


async def execute(sql: str, *params: Any) -> int:
    """An UPDATE or DELETE without RETURNING: how many rows it changed."""
    conn = connections.get("default")
    changed, _rows = await conn.execute_query(_dialect_sql(sql), list(params))
    return int(changed or 0)


def moment(value: Any) -> datetime | None:
    """A datetime column as an aware UTC datetime (SQLite gives text, PostgreSQL a datetime)."""
    if value is None or isinstance(value, datetime):
        return value.astimezone(UTC) if isinstance(value, datetime) and value.tzinfo else value
    parsed = datetime.fromisoformat(str(value))
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
