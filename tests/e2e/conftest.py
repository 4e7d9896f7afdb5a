"""Browser journeys: Playwright driving Debian's Chromium against a real ``canyu serve``."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import (
    POSTGRES_URL,
    Mailbox,
    _Handler,
    _migrate,
    _pg_admin_url,
    _pg_exec,
    free_port,
    run_sync,
)
from live import LiveServer

CHROMIUM = os.environ.get("CANYU_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"



@pytest.fixture(scope="module")
def e2e_mailbox() -> Iterator[Mailbox]:
    box = Mailbox(_Handler(), free_port())
    box.start()
    yield box
    box.stop()


@pytest.fixture(scope="module")
def live_server(
    tmp_path_factory: pytest.TempPathFactory, e2e_mailbox: Mailbox
) -> Iterator[LiveServer]:
    """One server per test module, on its own migrated database."""
    var = tmp_path_factory.mktemp("live")
    if POSTGRES_URL:
        dbname = f"canyu_e2e_{os.getpid()}_{var.name}".replace("-", "_")[:60]
        run_sync(
            _pg_exec,
            POSTGRES_URL,
            f'DROP DATABASE IF EXISTS "{dbname}"',
            f'CREATE DATABASE "{dbname}"',
        )
        url = _pg_admin_url(POSTGRES_URL, dbname)
    else:
        url = f"sqlite://{var / 'live.sqlite3'}"
    run_sync(_migrate, url)
    server = LiveServer(url, e2e_mailbox.port, var).start()
    yield server
    server.stop()
    if POSTGRES_URL:
        run_sync(_pg_exec, POSTGRES_URL, f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """One Chromium per test module. Not per session: while Playwright's sync API is alive it
    keeps an event loop running in the main thread, and asyncio tests after it could not run."""
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}: run `make test`, which installs it")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        instance = p.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-dev-shm-usage",
            ],
        )
        yield instance
        instance.close()


@pytest.fixture
def page(browser: object, request: pytest.FixtureRequest) -> Iterator[object]:
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN")  # type: ignore[attr-defined]
    pg = context.new_page()
    pg.set_default_timeout(15_000)
    yield pg
    failed = getattr(request.node, "rep_call", None)
    if failed is not None and failed.failed:
        ARTIFACTS.mkdir(exist_ok=True)
        pg.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
    context.close()


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


def assert_accessible(page: object) -> None:
    """axe-core finds no violations on the page as it is now."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    violations = results.response["violations"]
    assert not violations, results.generate_report()


def wait_for_mail(mailbox: Mailbox, address: str, count: int = 1, timeout: float = 45.0) -> list:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = mailbox.to(address)
        if len(found) >= count:
            return found
        time.sleep(0.1)
    raise AssertionError(f"no mail for {address} within {timeout}s")


def create_staff(
    live_server: LiveServer, username: str, role: str, unit: str | None, password: str
) -> str:
    """A staff account made the documented way (``canyu staff create ... --password-stdin``)
    on the live server's database; returns an API token for it."""
    import subprocess
    import sys

    import httpx

    args = [str(Path(sys.executable).parent / "canyu"), "staff", "create", username, "--role", role]
    if unit:
        args += ["--unit", unit]
    subprocess.run(
        [*args, "--password-stdin"], input=password + "\n", text=True, env=live_server.env,
        check=True, capture_output=True, timeout=60,
    )
    r = httpx.post(
        live_server.url + "/api/v1/staff/token", json={"username": username, "password": password}
    )
    assert r.status_code == 200, r.text
    return r.json()["token"]


__all__ = ["assert_accessible", "create_staff", "shutil", "wait_for_mail"]
