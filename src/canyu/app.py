"""``create_app(settings)``: the Starlette application with ORM, mail worker and jobs."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.routing import BaseRoute, Mount
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send
from tortoise.contrib.starlette import RegisterTortoise
from tortoise.exceptions import DBConnectionError, OperationalError

from canyu.accounts.middleware import AuthMiddleware
from canyu.core import clock, ratelimit, responses, scheduler, security, workdays
from canyu.core.db import tortoise_config
from canyu.core.errors import DomainError
from canyu.core.middleware import CSRFMiddleware, RequestContextMiddleware
from canyu.core.templating import STATIC_DIR
from canyu.settings import Settings

log = logging.getLogger("canyu")

#: HTML route modules, one per feature; each exposes ``routes``.
ROUTE_MODULES = (
    "canyu.core.pages",
    "canyu.accounts.routes",
    "canyu.notify.routes",
    "canyu.consultations.routes",
    "canyu.meetings.routes",
    "canyu.openmonth.routes",
    "canyu.voting.routes",
)


def configure(settings: Settings) -> None:
    """Process-wide configuration shared by the app, the CLI and the workers."""
    from canyu.notify import service as notify

    security.configure(settings.secret_key)
    clock.set_zone(settings.timezone)
    ratelimit.configure(settings.redis_url, settings.rate_limit_scale)
    notify.configure(settings.base_url, settings.mail_from)
    workdays.configure(settings.holidays_file or None)


def _routes() -> list[BaseRoute]:
    from canyu.api.routes import routes as api_routes

    collected: list[BaseRoute] = [*api_routes()]
    for name in ROUTE_MODULES:
        collected.extend(importlib.import_module(name).routes)
    collected.append(Mount("/static", app=StaticFiles(directory=str(STATIC_DIR)), name="static"))
    return collected


class _WakeOutboxAfterWrites:
    """Tells the mail worker of this process when requests are in flight (it lets them go
    first) and, after any unsafe request, nudges it: the mail it queued is committed now."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        from canyu.notify import worker

        worker.request_started()
        try:
            await self.app(scope, receive, send)
        finally:
            worker.request_finished()
        if scope["method"] not in ("GET", "HEAD", "OPTIONS"):
            worker.wake()


def create_app(settings: Settings | None = None) -> Starlette:
    settings = settings or Settings.from_env()
    configure(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        from canyu.notify import worker

        async with RegisterTortoise(app, config=tortoise_config(settings.database_url)):
            stop = asyncio.Event()
            tasks = []
            if settings.run_outbox_worker:
                tasks.append(asyncio.create_task(worker.run_forever(settings, stop)))
            if settings.run_scheduler:
                tasks.append(asyncio.create_task(scheduler.run_forever(stop)))
            try:
                yield
            finally:
                stop.set()
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                await ratelimit.limiter().close()

    exception_handlers = {
        DomainError: responses.domain_error_handler,
        HTTPException: responses.http_error_handler,
        DBConnectionError: responses.db_error_handler,
        OperationalError: responses.db_error_handler,
        ConnectionError: responses.db_error_handler,
        Exception: responses.server_error_handler,
    }
    try:
        import asyncpg

        exception_handlers[asyncpg.PostgresConnectionError] = responses.db_error_handler
        exception_handlers[asyncpg.InterfaceError] = responses.db_error_handler
        exception_handlers[asyncpg.InternalClientError] = responses.db_error_handler
    except ImportError:  # pragma: no cover - asyncpg is a dependency
        pass

    app = Starlette(
        routes=_routes(),
        middleware=[
            Middleware(RequestContextMiddleware, max_body_bytes=settings.max_body_bytes),
            Middleware(_WakeOutboxAfterWrites),
            Middleware(
                SessionMiddleware,
                secret_key=settings.secret_key,
                session_cookie="canyu_session",
                max_age=settings.session_days * 24 * 3600,
                same_site="lax",
                https_only=settings.base_url.startswith("https://"),
            ),
            Middleware(CSRFMiddleware, base_url=settings.base_url),
            Middleware(AuthMiddleware),
        ],
        exception_handlers=exception_handlers,  # type: ignore[arg-type]
        lifespan=lifespan,
    )
    app.state.settings = settings
    _register_gauges()
    _register_jobs(settings)
    return app


def _register_gauges() -> None:
    from canyu.core import metrics
    from canyu.notify.service import backlog, oldest_pending_age

    async def _backlog() -> float:
        return float(await backlog())

    metrics.register_gauge("canyu_outbox_backlog", "Mails waiting in the outbox.", _backlog)
    metrics.register_gauge(
        "canyu_outbox_oldest_seconds", "Age of the oldest unsent mail.", oldest_pending_age
    )


def _register_jobs(settings: Settings) -> None:
    from canyu.accounts import privacy

    async def purge() -> None:
        await privacy.purge_expired(settings.retention_days)

    scheduler.register_job("privacy.purge", 3600.0, purge)
