"""The naive insert ceiling: Starlette + Tortoise, one endpoint that inserts one row.

No middleware, no sessions, no validation beyond reading the JSON, no rate limits, no audit:
what this machine, this database and uvicorn can do at best for a write request. Served by the
same uvicorn settings and worker count as ``canyu serve`` (see ``bench.common.start_naive_server``);
SQLite gets the same pragmas as Canyu (WAL, busy timeout, synchronous NORMAL).

    NAIVE_DATABASE_URL=sqlite:///tmp/n.sqlite3 python -m bench.naive_app init
    NAIVE_DATABASE_URL=sqlite:///tmp/n.sqlite3 uvicorn bench.naive_app:app --workers 2
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from tortoise import Tortoise, fields
from tortoise.contrib.starlette import RegisterTortoise
from tortoise.models import Model

from canyu.core.db import normalize_url


class NaiveRow(Model):
    id = fields.IntField(primary_key=True)
    body = fields.CharField(max_length=200)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "naive_row"


def config() -> dict[str, Any]:
    url = normalize_url(os.environ.get("NAIVE_DATABASE_URL", "sqlite://:memory:"))
    return {
        "connections": {"default": url},
        "apps": {"naive": {"models": ["bench.naive_app"], "default_connection": "default"}},
        "use_tz": True,
        "timezone": "UTC",
    }


async def insert(request: Request) -> JSONResponse:
    payload = await request.json()
    row = await NaiveRow.create(body=str(payload.get("body", ""))[:200])
    return JSONResponse({"id": row.id}, status_code=201)


async def healthz(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


@contextlib.asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[None]:
    async with RegisterTortoise(app, config=config()):
        yield


app = Starlette(
    routes=[Route("/insert", insert, methods=["POST"]), Route("/healthz", healthz)],
    lifespan=lifespan,
)


async def _init() -> None:
    await Tortoise.init(config=config())
    try:
        await Tortoise.generate_schemas()
    finally:
        await Tortoise.close_connections()


if __name__ == "__main__":
    if sys.argv[1:] != ["init"]:
        sys.exit("usage: python -m bench.naive_app init")
    asyncio.run(_init())
    print("naive schema created")
