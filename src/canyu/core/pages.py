"""Pages every deployment has: home, language and large-text switches, health, metrics."""

from __future__ import annotations

import ipaddress

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from canyu.core import i18n, metrics, nav
from canyu.core.errors import Forbidden
from canyu.core.ratelimit import client_ip
from canyu.core.templating import render, render_fragment
from canyu.core.web import redirect, safe_next, user

ONE_YEAR = 365 * 24 * 3600


async def home(request: Request) -> Response:
    sections = []
    for section in nav.HOME:
        context = await section.loader()  # type: ignore[operator]
        # A block sees its values both directly and as ``ctx``.
        sections.append(render_fragment(request, section.template, {**context, "ctx": context}))
    return render(request, "home.html", {"sections": sections})


async def set_language(request: Request) -> Response:
    form = await request.form()
    lang = str(form.get("lang", ""))
    response = redirect(request, safe_next(str(form.get("next", "/"))))
    if lang in i18n.LOCALES:
        response.set_cookie("canyu_lang", lang, max_age=ONE_YEAR, samesite="lax", httponly=True)
    return response


async def set_large_text(request: Request) -> Response:
    """适老化: large text and high contrast, remembered by the browser in a cookie."""
    form = await request.form()
    on = str(form.get("large", "")) == "1"
    response = redirect(request, safe_next(str(form.get("next", "/"))))
    response.set_cookie(
        "canyu_large", "1" if on else "0", max_age=ONE_YEAR, samesite="lax", httponly=True
    )
    return response


async def privacy(request: Request) -> Response:
    return render(request, "privacy.html")


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    """Ready when the database answers and the outbox backlog is within bounds."""
    from tortoise import connections

    from canyu.notify.service import backlog

    settings = request.app.state.settings
    checks: dict[str, object] = {}
    status = 200
    try:
        await connections.get("default").execute_query("SELECT 1")
        checks["database"] = "ok"
        pending = await backlog()
        checks["outbox_backlog"] = pending
        if pending > settings.outbox_backlog_limit:
            status = 503
    except Exception as exc:  # any failure means "not ready"
        checks["database"] = f"unavailable: {type(exc).__name__}"
        status = 503
    checks["status"] = "ok" if status == 200 else "unavailable"
    return JSONResponse(checks, status_code=status)


def _allowed_network(request: Request) -> bool:
    ip = client_ip(request)
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return False
    for net in request.app.state.settings.metrics_networks.split(","):
        net = net.strip()
        if net and addr in ipaddress.ip_network(net, strict=False):
            return True
    return False


async def metrics_page(request: Request) -> Response:
    """Prometheus metrics, for staff or a configured network only."""
    current = user(request)
    if not (current and current.is_staff) and not _allowed_network(request):
        raise Forbidden()
    return PlainTextResponse(await metrics.render(), media_type="text/plain; version=0.0.4")


routes = [
    Route("/", home, methods=["GET"]),
    Route("/prefs/lang", set_language, methods=["POST"]),
    Route("/prefs/large-text", set_large_text, methods=["POST"]),
    Route("/privacy", privacy, methods=["GET"]),
    Route("/healthz", healthz, methods=["GET"]),
    Route("/readyz", readyz, methods=["GET"]),
    Route("/metrics", metrics_page, methods=["GET"]),
]
