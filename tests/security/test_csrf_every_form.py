"""CSRF over every unsafe HTML route the app has (not a sample): signed in as an admin (who may
use every staff form) and as a resident, each POST/PUT/PATCH/DELETE outside the JSON API is
sent once without the session's token and once with it but from a cross-site ``Origin``. Both
must be refused with 403 and change nothing in the database (every row of every table is
compared). The JSON API takes bearer tokens only and is covered elsewhere."""

from __future__ import annotations

import hashlib
import re

from starlette.routing import Route
from tortoise import Tortoise

from conftest import csrf_of, html_sign_in, html_staff_sign_in

_PARAM = re.compile(r"\{(\w+)(?::(\w+))?\}")
UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}
#: Routes that may be posted without a session token by design (one-click unsubscribe links in
#: mail, RFC 8058): they act on a signed token in the URL, not on a session.
EXEMPT_PREFIXES = ("/subscriptions/unsubscribe/",)


def _concrete(path: str) -> str:
    return _PARAM.sub(lambda m: "1" if m.group(2) == "int" else "x", path)


def _unsafe_html_routes(app) -> list[tuple[str, str]]:
    found = []
    for route in app.routes:
        if not isinstance(route, Route) or route.path.startswith("/api/"):
            continue
        path = _concrete(route.path)
        if path.startswith(EXEMPT_PREFIXES):
            continue
        for method in sorted((route.methods or set()) & UNSAFE):
            found.append((method, path))
    return found


async def _fingerprint() -> str:
    digest = hashlib.sha256()
    for models in Tortoise.apps.values():
        for name in sorted(models):
            meta = models[name]._meta
            _, rows = await meta.db.execute_query(f'SELECT * FROM "{meta.db_table}"')
            digest.update(
                f"{meta.db_table}:{sorted(repr(tuple(dict(r).values())) for r in rows)!r}".encode()
            )
    return digest.hexdigest()


async def _check_every_form(app, client) -> int:
    routes = _unsafe_html_routes(app)
    assert len(routes) > 40, "the route list looks incomplete"
    token = csrf_of((await client.get("/")).text)
    before = await _fingerprint()
    for method, path in routes:
        without = await client.request(method, path, data={"x": "1"})
        assert without.status_code == 403, (method, path, without.status_code)
        cross = await client.request(
            method, path, data={"csrf_token": token, "x": "1"},
            headers={"Origin": "https://evil.example"},
        )
        assert cross.status_code == 403, (method, path, cross.status_code)
    assert await _fingerprint() == before
    return len(routes)


async def test_every_unsafe_form_refuses_a_missing_token_and_a_foreign_origin_for_staff(app, client):
    await html_staff_sign_in(client, "csrf-admin", "admin")
    assert await _check_every_form(app, client) > 40


async def test_every_unsafe_form_refuses_a_missing_token_and_a_foreign_origin_for_residents(
    app, client, mailbox
):
    await html_sign_in(client, mailbox, "csrf.resident@example.com")
    assert await _check_every_form(app, client) > 40
