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
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from tortoise import connections, fields
from tortoise.models import Model

from canyu.core import clock, db

M = TypeVar("M", bound=Model)

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
    return model._init_from_db(**row)


async def insert_only(model: type[Model], values: dict[str, Any]) -> None:
    """INSERT one row without reading it back."""
    plan = _plan(model)
    await execute(plan.sql, *_values(model, plan, values))
