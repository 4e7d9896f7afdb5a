"""Generic access control over every route the app has: staff pages and staff endpoints are
closed to anonymous visitors and residents; resident endpoints are closed to anonymous callers
and to staff tokens. (Role-by-role and unit-by-unit rules are tested in each feature.)"""

from __future__ import annotations

import re

from starlette.routing import Route

from canyu.api.framework import REGISTRY
from conftest import csrf_of, html_sign_in, sign_in, staff_headers

_PARAM = re.compile(r"\{(\w+)(?::(\w+))?\}")


def _concrete(path: str) -> str:
    return _PARAM.sub(lambda m: "1" if m.group(2) == "int" else "x", path)


def _staff_html_routes(app) -> list[tuple[str, str]]:
    found = []
    for route in app.routes:
        if not isinstance(route, Route) or route.path.startswith("/api/"):
            continue
        if route.path.startswith(("/staff", "/admin")) and route.path != "/staff/signin":
            for method in sorted((route.methods or set()) - {"HEAD"}):
                found.append((method, _concrete(route.path)))
    return found


def _closed(response, signin_prefix: str | None = None) -> bool:
    if response.status_code in (401, 403, 404, 405, 409, 422):
        return True
    if response.status_code == 303 and signin_prefix:
        return response.headers["location"].startswith(signin_prefix)
    return False


async def test_staff_pages_are_closed_to_anonymous_visitors(app, client):
    routes = _staff_html_routes(app)
    assert routes, "no staff pages found"
    page = await client.get("/")
    token = csrf_of(page.text)
    for method, path in routes:
        r = await client.request(method, path, data={"csrf_token": token} if method != "GET" else None)
        assert _closed(r, "/staff/signin"), (method, path, r.status_code)


async def test_staff_pages_are_closed_to_residents(app, client, mailbox):
    await html_sign_in(client, mailbox, "nosy@example.com")
    page = await client.get("/")
    token = csrf_of(page.text)
    for method, path in _staff_html_routes(app):
        r = await client.request(method, path, data={"csrf_token": token} if method != "GET" else None)
        assert _closed(r, "/staff/signin"), (method, path, r.status_code)


async def test_staff_endpoints_refuse_anonymous_and_resident_tokens(client, mailbox):
    resident = await sign_in(client, mailbox, "api.nosy@example.com")
    staff_only = [ep for ep in REGISTRY if ep.auth == "staff"]
    assert staff_only
    for ep in staff_only:
        path = "/api/v1" + _concrete(ep.path)
        anonymous = await client.request(ep.method, path, json={} if ep.body else None)
        assert anonymous.status_code == 401, (ep.method, path, anonymous.status_code)
        as_resident = await client.request(ep.method, path, json={} if ep.body else None, headers=resident["headers"])
        assert as_resident.status_code == 403, (ep.method, path, as_resident.status_code)


async def test_resident_endpoints_refuse_anonymous_and_staff_tokens(client):
    headers = await staff_headers(client, "api.admin", "admin")
    resident_only = [ep for ep in REGISTRY if ep.auth == "resident"]
    assert resident_only
    for ep in resident_only:
        path = "/api/v1" + _concrete(ep.path)
        anonymous = await client.request(ep.method, path, json={} if ep.body else None)
        assert anonymous.status_code == 401, (ep.method, path, anonymous.status_code)
        as_staff = await client.request(ep.method, path, json={} if ep.body else None, headers=headers)
        assert as_staff.status_code == 403, (ep.method, path, as_staff.status_code)
