"""Fixtures with real parts: a SQLite file per test (or PostgreSQL when
``CANYU_TEST_POSTGRES_URL`` is set), a real SMTP server (aiosmtpd) and a movable clock."""

from __future__ import annotations

import asyncio
import email
import email.policy
import os
import re
import shutil
import socket
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field, replace
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest
from aiosmtpd.controller import Controller
from tortoise import Tortoise, connections

from canyu.app import create_app
from canyu.core import clock
from canyu.core.db import tortoise_config
from canyu.settings import Settings

POSTGRES_URL = os.environ.get("CANYU_TEST_POSTGRES_URL", "")
TEST_SECRET = "test-secret-key-not-for-production-0123456789"
MIGRATIONS_TABLE = "tortoise_migrations"


def run_sync(coro_fn: Any, *args: Any) -> Any:
    """Run a coroutine to completion on a fresh loop in a thread (safe inside any fixture)."""
    result: dict[str, Any] = {}

    def target() -> None:
        try:
            result["value"] = asyncio.run(coro_fn(*args))
        except BaseException as exc:
            result["error"] = exc

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if "error" in result:
        raise result["error"]
    return result.get("value")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Browser journeys run last, after every asyncio test (Playwright's sync API runs an event
    loop of its own in the main thread)."""
    def uses_browser(item: pytest.Item) -> bool:
        return "browser" in getattr(item, "fixturenames", ()) or item.get_closest_marker("e2e") is not None

    for item in items:
        if uses_browser(item):
            item.add_marker(pytest.mark.e2e)
    items.sort(key=uses_browser)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- mail --------------------------------------------------------------------------


class _Handler:
    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.lock = threading.Lock()
        self.refuse = False
        self.stall = 0.0  # seconds the server sits on a mail before answering

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.stall:
            await asyncio.sleep(self.stall)
        if self.refuse:
            return "451 4.3.0 try again later"
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self.lock:
            self.messages.append(message)  # type: ignore[arg-type]
        return "250 OK"


@dataclass
class Mailbox:
    """A real SMTP server on loopback and what it received."""

    handler: _Handler
    port: int
    controller: Controller | None = None
    settings: Settings | None = field(default=None, repr=False)

    @property
    def messages(self) -> list[EmailMessage]:
        with self.handler.lock:
            return list(self.handler.messages)

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages if address.lower() in str(m["To"]).lower()]

    async def deliver(self) -> list[EmailMessage]:
        """Run the outbox worker until nothing is due, then return every message received."""
        from canyu.notify.worker import run_once

        assert self.settings is not None
        for _ in range(50):
            if not await run_once(self.settings):
                break
        return self.messages

    def clear(self) -> None:
        with self.handler.lock:
            self.handler.messages.clear()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    def start(self) -> None:
        if self.controller is None:
            self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)
            self.controller.start()


def text_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return part.get_content()


def code_in(message: EmailMessage) -> str:
    """The first run of exactly six digits in the text/plain part (API.md)."""
    match = re.search(r"(?<!\d)\d{6}(?!\d)", text_of(message))
    assert match, text_of(message)
    return match.group(0)


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    box = Mailbox(_Handler(), free_port())
    box.start()
    yield box
    box.stop()


# --- databases ---------------------------------------------------------------------


def _pg_admin_url(url: str, dbname: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + dbname))


async def _pg_exec(url: str, *statements: str) -> None:
    import asyncpg

    parts = urlsplit(url)
    conn = await asyncpg.connect(
        host=parts.hostname,
        port=parts.port or 5432,
        user=parts.username or "postgres",
        password=parts.password,
        database=parts.path.lstrip("/"),
    )
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


async def _migrate(url: str) -> None:
    from canyu.core.db import apply_migrations

    await apply_migrations(url)


@pytest.fixture(scope="session")
def database_template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Migrated once per session with the real migrations: a SQLite file to copy, or a
    PostgreSQL database of this session's own (so parallel runs never share tables)."""
    if POSTGRES_URL:
        dbname = f"canyu_test_{os.getpid()}"
        run_sync(
            _pg_exec,
            POSTGRES_URL,
            f'DROP DATABASE IF EXISTS "{dbname}"',
            f'CREATE DATABASE "{dbname}"',
        )
        url = _pg_admin_url(POSTGRES_URL, dbname)
        run_sync(_migrate, url)
        yield url
        run_sync(_pg_exec, POSTGRES_URL, f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
    else:
        path = tmp_path_factory.mktemp("template") / "template.sqlite3"
        run_sync(_migrate, f"sqlite://{path}?journal_mode=DELETE")
        yield str(path)


async def _truncate_postgres() -> None:
    conn = connections.get("default")
    _, rows = await conn.execute_query(
        "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> $1",
        [MIGRATIONS_TABLE],
    )
    names = ", ".join(f'"{row["tablename"]}"' for row in rows)
    if names:
        await conn.execute_script(f"TRUNCATE {names} RESTART IDENTITY CASCADE")


@pytest.fixture
def database_url(database_template: str, tmp_path: Path) -> str:
    if POSTGRES_URL:
        return database_template
    path = tmp_path / "canyu.sqlite3"
    shutil.copy(database_template, path)
    return f"sqlite://{path}"


@pytest.fixture
def settings(database_url: str, mailbox: Mailbox, tmp_path: Path) -> Settings:
    value = replace(
        Settings(),
        database_url=database_url,
        secret_key=TEST_SECRET,
        base_url="http://testserver",
        smtp_port=mailbox.port,
        var_dir=tmp_path / "var",
        upload_dir=tmp_path / "uploads",
        run_outbox_worker=False,
        run_scheduler=False,
        pow_difficulty=0,
    )
    mailbox.settings = value
    return value


@pytest.fixture(autouse=True)
def _reset_clock() -> Iterator[None]:
    clock.reset()
    yield
    clock.reset()


@pytest.fixture
async def db(settings: Settings) -> AsyncIterator[None]:
    """The ORM connected to this test's database."""
    await Tortoise.init(config=tortoise_config(settings.database_url), _enable_global_fallback=True)
    if POSTGRES_URL:
        await _truncate_postgres()
    try:
        yield
    finally:
        await Tortoise.close_connections()


@pytest.fixture
async def app(settings: Settings, db: None) -> Any:
    return create_app(settings)


@pytest.fixture
async def client(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(
        app=app, raise_app_exceptions=False, client=("127.0.0.1", 50000)
    )
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


# --- helpers for tests --------------------------------------------------------------


async def sign_in(client: httpx.AsyncClient, mailbox: Mailbox, address: str) -> dict[str, Any]:
    """The real API flow: request a code, read it from the mail, exchange it for a token."""
    r = await client.post("/api/v1/auth/code", json={"email": address})
    assert r.status_code == 202, r.text
    await mailbox.deliver()
    code = code_in(mailbox.to(address)[-1])
    r = await client.post("/api/v1/auth/token", json={"email": address, "code": code})
    assert r.status_code == 200, r.text
    data = r.json()
    return {
        "token": data["token"],
        "resident_id": data["resident_id"],
        "headers": {"Authorization": f"Bearer {data['token']}"},
    }


async def staff_headers(
    client: httpx.AsyncClient, username: str, role: str, unit: str | None = None
) -> dict[str, str]:
    from canyu.accounts import service

    password = "correct horse battery"
    from canyu.accounts.models import Staff

    if not await Staff.exists(username=username):
        await service.create_staff(username, role, password, unit_name=unit)
    r = await client.post("/api/v1/staff/token", json={"username": username, "password": password})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "no CSRF token in page"
    return match.group(1)


async def html_sign_in(client: httpx.AsyncClient, mailbox: Mailbox, address: str) -> None:
    """Sign a browser-like client in through the HTML forms."""
    page = await client.get("/signin")
    token = csrf_of(page.text)
    r = await client.post("/signin", data={"email": address, "csrf_token": token, "next": "/"})
    assert r.status_code == 200, r.text
    await mailbox.deliver()
    code = code_in(mailbox.to(address)[-1])
    r = await client.post(
        "/signin/verify", data={"email": address, "code": code, "csrf_token": token, "next": "/"}
    )
    assert r.status_code == 303, r.text


async def html_staff_sign_in(
    client: httpx.AsyncClient, username: str, role: str, unit: str | None = None
) -> None:
    from canyu.accounts import service
    from canyu.accounts.models import Staff

    password = "correct horse battery"
    if not await Staff.exists(username=username):
        await service.create_staff(username, role, password, unit_name=unit)
    page = await client.get("/staff/signin")
    r = await client.post(
        "/staff/signin",
        data={
            "username": username,
            "password": password,
            "csrf_token": csrf_of(page.text),
            "next": "/staff",
        },
    )
    assert r.status_code == 303, r.text
