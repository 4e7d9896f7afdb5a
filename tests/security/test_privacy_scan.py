"""Demo data in, public pages and public API answers out: no full name, phone number, email
address or ID number of a resident appears anywhere a visitor can see."""

from __future__ import annotations

import re
import sqlite3
import subprocess
import sys
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import httpx
import pytest

from conftest import POSTGRES_URL, TEST_SECRET, Mailbox, _Handler, free_port
from live import LiveServer

pytestmark = [pytest.mark.slow, pytest.mark.skipif(bool(POSTGRES_URL), reason="scans the SQLite demo")]

PERSONAL_COLUMNS = re.compile(r"(^|_)(name|phone|email|id_number|id_no)$")
#: Columns stored encrypted (``core.security.encrypt``): the scan looks for what they decrypt to.
ENCRYPTED_COLUMNS = re.compile(r"(^|_)id_number_encrypted$")
SKIP_TABLES = {"staff", "unit", "audit_entry", "outbox_mail", "tortoise_migrations"}


def _personal_values(db_path: Path) -> set[str]:
    """Names, phones, emails and ID numbers of residents, from every table that holds them (an
    encrypted ID number decrypted, and its masked middle: birth date and sequence)."""
    from canyu.core import security

    security.configure(TEST_SECRET)
    db = sqlite3.connect(db_path)
    values: set[str] = set()
    tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
    for table in tables:
        if table in SKIP_TABLES or table.startswith("sqlite_"):
            continue
        columns = [r[1] for r in db.execute(f'PRAGMA table_info("{table}")')]
        if table != "resident" and not any(c in ("resident_id", "applicant_id", "author_id", "asker_id") for c in columns):
            continue
        for column in columns:
            if ENCRYPTED_COLUMNS.search(column):
                for (value,) in db.execute(f'SELECT DISTINCT "{column}" FROM "{table}"'):
                    if value:
                        number = security.decrypt(value)
                        values.update((number, number[4:14]))
            if PERSONAL_COLUMNS.search(column):
                for (value,) in db.execute(f'SELECT DISTINCT "{column}" FROM "{table}"'):
                    if isinstance(value, str) and len(value.strip()) >= 2 and "*" not in value:
                        values.add(value.strip())
    return values


def test_no_personal_data_on_public_pages_or_api(tmp_path):
    import os

    env = {
        **os.environ,
        "CANYU_DATABASE_URL": f"sqlite://{tmp_path / 'demo.sqlite3'}",
        "CANYU_SECRET_KEY": TEST_SECRET,
        "CANYU_VAR_DIR": str(tmp_path / "var"),
    }
    canyu = str(Path(sys.executable).parent / "canyu")
    done = subprocess.run([canyu, "demo"], env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    secrets = _personal_values(tmp_path / "demo.sqlite3")
    assert len(secrets) >= 10, "the demo should hold residents' personal data to look for"
    assert any(re.fullmatch(r"\d{17}[\dX]", v) for v in secrets), "and ID numbers"

    box = Mailbox(_Handler(), free_port())
    box.start()
    server = LiveServer(env["CANYU_DATABASE_URL"], box.port, tmp_path / "var").start()
    try:
        seen: dict[str, str] = {}
        queue = ["/"]
        with httpx.Client(base_url=server.url, timeout=30) as client:
            while queue and len(seen) < 200:
                path = queue.pop(0)
                if path in seen:
                    continue
                r = client.get(path)
                seen[path] = r.text if r.status_code == 200 else ""
                if "html" in r.headers.get("content-type", ""):
                    for href in re.findall(r'href="([^"#]+)"', r.text):
                        target = urlsplit(urljoin(server.url + path, href.replace("&amp;", "&")))
                        if target.netloc == urlsplit(server.url).netloc and not target.path.startswith(
                            ("/static", "/staff", "/admin", "/signin", "/me", "/api/v1/openapi")
                        ):
                            queue.append(target.path + (f"?{target.query}" if target.query else ""))
            # Public API answers for the first ids of everything.
            import importlib

            from canyu.api.framework import REGISTRY
            from canyu.api.routes import API_MODULES

            for module in API_MODULES:
                importlib.import_module(module)
            for ep in REGISTRY:
                if ep.method != "GET" or ep.auth not in ("none", "optional"):
                    continue
                for i in range(1, 6):
                    path = "/api/v1" + re.sub(r"\{\w+:int\}", str(i), ep.path)
                    r = client.get(path)
                    if r.status_code == 200:
                        seen[path] = r.text
        assert len(seen) > 20
        leaks = {
            path: sorted(value for value in secrets if value in text)
            for path, text in seen.items()
            if any(value in text for value in secrets)
        }
        assert not leaks, leaks
    finally:
        server.stop()
        box.stop()
