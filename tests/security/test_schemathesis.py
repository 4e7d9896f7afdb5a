"""schemathesis over the whole /api/v1/openapi.json, with resident and staff tokens:
no 5xx, and every response matches the documented schema and status codes."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from conftest import POSTGRES_URL, Mailbox, _Handler, _migrate, code_in, free_port, run_sync
from live import LiveServer

pytestmark = pytest.mark.slow

CHECKS = "not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance"


@pytest.fixture(scope="module")
def api_server(tmp_path_factory: pytest.TempPathFactory):
    var = tmp_path_factory.mktemp("fuzz")
    box = Mailbox(_Handler(), free_port())
    box.start()
    if POSTGRES_URL:
        from conftest import _pg_admin_url, _pg_exec

        dbname = f"canyu_fuzz_{free_port()}"
        run_sync(_pg_exec, POSTGRES_URL, f'CREATE DATABASE "{dbname}"')
        url = _pg_admin_url(POSTGRES_URL, dbname)
    else:
        url = f"sqlite://{var / 'fuzz.sqlite3'}"
    run_sync(_migrate, url)
    server = LiveServer(url, box.port, var, extra_env={"CANYU_RATE_LIMIT_SCALE": "100000"}).start()
    yield server, box
    server.stop()
    box.stop()
    if POSTGRES_URL:
        run_sync(_pg_exec, POSTGRES_URL, f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')


def _resident_token(server: LiveServer, box: Mailbox) -> str:
    import time

    address = "fuzz.resident@example.com"
    httpx.post(server.url + "/api/v1/auth/code", json={"email": address}).raise_for_status()
    deadline = time.monotonic() + 15
    while not box.to(address) and time.monotonic() < deadline:
        time.sleep(0.1)
    code = code_in(box.to(address)[-1])
    r = httpx.post(server.url + "/api/v1/auth/token", json={"email": address, "code": code})
    r.raise_for_status()
    return r.json()["token"]


def _staff_token(server: LiveServer) -> str:
    canyu = Path(sys.executable).parent / "canyu"
    subprocess.run(
        [str(canyu), "staff", "create", "fuzzadmin", "--role", "admin", "--password-stdin"],
        input=b"fuzz admin password\n", env=server.env, check=True, capture_output=True,
    )
    r = httpx.post(server.url + "/api/v1/staff/token", json={"username": "fuzzadmin", "password": "fuzz admin password"})
    r.raise_for_status()
    return r.json()["token"]


def _run(server: LiveServer, token: str, tmp_path: Path) -> None:
    st = shutil.which("schemathesis", path=str(Path(sys.executable).parent))
    assert st, "schemathesis is a test dependency"
    result = subprocess.run(
        [
            st, "run", server.url + "/api/v1/openapi.json",
            "--checks", CHECKS,
            "-H", f"Authorization: Bearer {token}",
            "--max-examples", "25",
            "--workers", "2",
            "--exclude-operation-id", "delete_me",
            "--exclude-operation-id", "revoke_token",
            "--suppress-health-check", "all",
            "--seed", "20261127",
            "--no-color",
        ],
        capture_output=True, text=True, timeout=900, cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout[-8000:] + result.stderr[-2000:]


def test_api_holds_its_schema_for_a_resident(api_server, tmp_path):
    server, box = api_server
    _run(server, _resident_token(server, box), tmp_path)


def test_api_holds_its_schema_for_an_admin(api_server, tmp_path):
    server, _ = api_server
    _run(server, _staff_token(server), tmp_path)


__all__ = ["asyncio"]
