"""Web core: pages, CSRF, security headers, error pages, preferences, health and metrics."""

from __future__ import annotations

import re

from canyu.accounts.models import Resident, Staff
from canyu.audit.models import AuditEntry
from conftest import csrf_of, html_sign_in, html_staff_sign_in


async def test_home_is_chinese_with_security_headers(client):
    r = await client.get("/")
    assert r.status_code == 200
    assert '<html lang="zh-CN"' in r.text
    assert "参与浦东的公共决策" in r.text
    csp = r.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp
    assert r.headers["x-frame-options"] == "DENY"
    assert r.headers["referrer-policy"] == "same-origin"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["x-request-id"]
    assert "<script>" not in r.text  # no inline script anywhere
    assert re.search(r'src="/static/vendor/htmx-2\.\d+\.\d+\.min\.js\?v=', r.text)


async def test_english_switch_is_remembered(client):
    page = await client.get("/")
    r = await client.post(
        "/prefs/lang", data={"lang": "en", "next": "/signin", "csrf_token": csrf_of(page.text)}
    )
    assert r.status_code == 303 and r.headers["location"] == "/signin"
    r = await client.get("/signin")
    assert '<html lang="en"' in r.text
    assert "Sign in with an email code" in r.text


async def test_large_text_mode_is_remembered(client):
    page = await client.get("/")
    assert 'class="large-text"' not in page.text
    await client.post(
        "/prefs/large-text", data={"large": "1", "next": "/", "csrf_token": csrf_of(page.text)}
    )
    assert 'class="large-text"' in (await client.get("/")).text


async def test_unsafe_request_without_csrf_token_is_refused_and_changes_nothing(client, mailbox):
    await client.get("/signin")
    r = await client.post("/signin", data={"email": "x@example.com"})
    assert r.status_code == 403
    assert "页面已过期" in r.text
    r = await client.post("/signin", data={"email": "x@example.com", "csrf_token": "forged"})
    assert r.status_code == 403
    await mailbox.deliver()
    assert mailbox.messages == []


async def test_cross_site_origin_is_refused_even_with_token(client):
    page = await client.get("/signin")
    r = await client.post(
        "/signin",
        data={"email": "x@example.com", "csrf_token": csrf_of(page.text)},
        headers={"Origin": "https://evil.example"},
    )
    assert r.status_code == 403


async def test_htmx_header_token_is_accepted(client):
    page = await client.get("/signin")
    r = await client.post(
        "/prefs/large-text",
        data={"large": "1", "next": "/"},
        headers={"X-CSRF-Token": csrf_of(page.text), "HX-Request": "true"},
    )
    assert r.status_code == 200 and r.headers["HX-Redirect"] == "/"


async def test_the_json_api_gives_out_no_session_cookie_but_pages_do(client):
    for path in ("/api/v1/events", "/api/v1/openapi.json", "/api/v1/me"):
        r = await client.get(path)
        assert "set-cookie" not in r.headers, path
    r = await client.post("/api/v1/auth/code", json={"email": "cookie@example.com"})
    assert r.status_code < 300 and "set-cookie" not in r.headers
    page = await client.get("/signin")
    assert "session=" in page.headers["set-cookie"] and csrf_of(page.text)


async def test_error_pages_are_chinese(client):
    r = await client.get("/no/such/page")
    assert r.status_code == 404
    assert "页面不存在" in r.text
    r = await client.get("/api/v1/no/such")
    assert r.status_code == 404
    assert r.json()["error"]["code"] == "not_found"
    r = await client.post("/healthz")
    assert r.status_code in (403, 405)


async def test_pages_that_need_sign_in_redirect_to_the_right_form(client):
    r = await client.get("/me")
    assert r.status_code == 303 and r.headers["location"].startswith("/signin?next=/me")
    r = await client.get("/admin/staff")
    assert r.status_code == 303 and r.headers["location"].startswith("/staff/signin")


async def test_resident_signs_in_through_html_and_signs_out(client, mailbox):
    await html_sign_in(client, mailbox, "html@example.com")
    page = await client.get("/me")
    assert page.status_code == 200 and "html@example.com" in page.text
    r = await client.post("/me", data={"name": "<b>李</b>", "csrf_token": csrf_of(page.text)})
    assert r.status_code == 422 and "特殊符号" in r.text
    r = await client.post(
        "/me",
        data={
            "name": "李雷",
            "phone": "139 1234 5678",
            "district": "陆家嘴街道",
            "birth_year": "1990",
            "csrf_token": csrf_of(page.text),
        },
    )
    assert r.status_code == 303
    resident = await Resident.get()
    assert (resident.name, resident.phone, resident.district) == (
        "李雷",
        "13912345678",
        "陆家嘴街道",
    )
    r = await client.post("/signout", data={"csrf_token": csrf_of(page.text)})
    assert r.status_code == 303
    assert (await client.get("/me")).status_code == 303  # session revoked


async def test_wrong_code_in_html_form_shows_chinese_error(client, mailbox):
    page = await client.get("/signin")
    token = csrf_of(page.text)
    await client.post("/signin", data={"email": "w@example.com", "csrf_token": token})
    r = await client.post(
        "/signin/verify", data={"email": "w@example.com", "code": "12", "csrf_token": token}
    )
    assert r.status_code == 400
    assert "验证码不正确" in r.text


async def test_admin_manages_staff_and_everything_is_audited(client):
    await html_staff_sign_in(client, "boss", "admin")
    page = await client.get("/admin/staff")
    assert page.status_code == 200
    token = csrf_of(page.text)
    r = await client.post(
        "/admin/staff",
        data={
            "username": "zjorg",
            "role": "organizer",
            "unit": "张江镇",
            "password": "long enough pw",
            "csrf_token": token,
        },
    )
    assert r.status_code == 303
    zj = await Staff.get(username="zjorg").select_related("unit")
    assert zj.unit.name == "张江镇"
    r = await client.post(
        "/admin/staff",
        data={
            "username": "zjorg",
            "role": "organizer",
            "unit": "张江镇",
            "password": "long enough pw",
            "csrf_token": token,
        },
    )
    assert r.status_code == 409 and "已存在" in r.text
    r = await client.post(f"/admin/staff/{zj.id}", data={"active": "0", "csrf_token": token})
    assert r.status_code == 303
    assert not (await Staff.get(id=zj.id)).active
    actions = [e.action for e in await AuditEntry.all().order_by("id")]
    assert "staff.sign_in" in actions and "staff.created" in actions and "staff.updated" in actions
    log = await client.get("/admin/audit")
    assert log.status_code == 200 and "创建工作人员账号" in log.text


async def test_non_admin_staff_cannot_manage_staff(client):
    await html_staff_sign_in(client, "org1", "organizer", "花木街道")
    assert (await client.get("/admin/staff")).status_code == 403
    assert (await client.get("/admin/audit")).status_code == 403
    assert (await client.get("/staff")).status_code == 200


async def test_health_readiness_and_metrics(client):
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["database"] == "ok"
    await client.get("/")
    metrics = await client.get("/metrics")
    assert metrics.status_code == 200
    assert 'canyu_requests_total{route="/",method="GET",status="200"}' in metrics.text
    assert "canyu_request_duration_seconds_bucket" in metrics.text
    assert "canyu_outbox_backlog 0" in metrics.text


async def test_metrics_are_refused_to_other_networks(app):
    import httpx

    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 1234))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as outsider:
        assert (await outsider.get("/metrics")).status_code == 403


async def test_openapi_document_lists_identity_endpoints(client):
    doc = (await client.get("/api/v1/openapi.json")).json()
    assert doc["openapi"].startswith("3.")
    for path in ("/api/v1/auth/code", "/api/v1/auth/token", "/api/v1/staff/token", "/api/v1/me"):
        assert path in doc["paths"], path
    assert "put" in doc["paths"]["/api/v1/me"]
    assert doc["paths"]["/api/v1/auth/code"]["post"]["responses"]["202"]


async def test_unexpected_error_gets_a_chinese_500_page(settings, db):
    import httpx
    from starlette.routing import Route

    from canyu.app import create_app

    app = create_app(settings)

    async def boom(request):
        raise RuntimeError("bug")

    app.router.routes.insert(0, Route("/boom", boom))
    app.router.routes.insert(0, Route("/api/v1/boom", boom))
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        page = await c.get("/boom")
        assert page.status_code == 500 and "服务器出错了" in page.text and "bug" not in page.text
        api = await c.get("/api/v1/boom")
        assert api.status_code == 500 and api.json()["error"]["code"] == "internal_error"


async def test_sqlite_runs_in_wal_mode_with_a_busy_timeout(db):
    from tortoise import connections

    from conftest import POSTGRES_URL

    if POSTGRES_URL:
        return
    conn = connections.get("default")
    _, rows = await conn.execute_query("PRAGMA journal_mode")
    assert rows[0][0].lower() == "wal"
    _, rows = await conn.execute_query("PRAGMA busy_timeout")
    assert rows[0][0] >= 5000
    _, rows = await conn.execute_query("PRAGMA cache_size")
    assert rows[0][0] == -65536  # 64 MiB of page cache, not SQLite's 2 MiB
    _, rows = await conn.execute_query("PRAGMA journal_size_limit")
    assert rows[0][0] == 64 * 1024 * 1024


async def test_code_requests_are_throttled_per_address(client, mailbox):
    statuses = [
        (await client.post("/api/v1/auth/code", json={"email": "spam@example.com"})).status_code
        for _ in range(6)
    ]
    assert statuses == [202] * 5 + [429]
    await mailbox.deliver()
    assert len(mailbox.to("spam@example.com")) == 5


async def test_access_log_is_structured_with_the_request_id(client, caplog):
    import json
    import logging

    with caplog.at_level(logging.INFO, logger="canyu.access"):
        r = await client.get("/healthz", headers={"X-Request-ID": "trace-me-123"})
    assert r.headers["x-request-id"] == "trace-me-123"
    entry = json.loads(caplog.records[-1].getMessage())
    assert entry["request_id"] == "trace-me-123" and entry["status"] == 200 and entry["route"] == "/healthz"
