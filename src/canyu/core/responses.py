"""Every error leaves through here: a JSON error (API), an htmx partial or a full page."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from canyu.core import i18n
from canyu.core.errors import DomainError, Unavailable
from canyu.core.i18n import N_
from canyu.core.templating import is_htmx, render_string

log = logging.getLogger("canyu.errors")

_TITLES = {
    400: N_("请求有误"),
    401: N_("请先登录"),
    403: N_("没有权限"),
    404: N_("页面不存在"),
    405: N_("不支持此操作"),
    409: N_("与现有内容冲突"),
    413: N_("提交的内容过大"),
    422: N_("无法处理此请求"),
    429: N_("操作过于频繁"),
    500: N_("服务器出错了"),
    503: N_("服务暂时不可用"),
}
_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    429: "rate_limited",
    500: "internal_error",
    503: "unavailable",
}
_MESSAGES = {
    400: N_("请求格式有误，请检查后重试。"),
    401: N_("请先登录。"),
    403: N_("您没有执行此操作的权限。"),
    404: N_("找不到您要的内容。"),
    405: N_("不支持此请求方法。"),
    413: N_("提交的内容超过了大小限制。"),
    500: N_("服务器出现了意外错误，我们已记录此问题。请稍后重试。"),
    503: N_("服务暂时不可用，请稍后重试。"),
}


def is_api(scope_or_request: Any) -> bool:
    scope = getattr(scope_or_request, "scope", scope_or_request)
    return str(scope.get("path", "")).startswith("/api/")


def error_response(
    request: Request,
    status: int,
    code: str,
    message: str,
    params: dict[str, Any] | None = None,
    field: str | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    text = i18n.gettext(message, **(params or {}))
    if is_api(request):
        body: dict[str, Any] = {"error": {"code": code, "message": text}}
        if field:
            body["error"]["field"] = field
        return JSONResponse(body, status_code=status, headers=headers)
    ctx = {
        "request": request,
        "status": status,
        "code": code,
        "title": i18n.gettext(_TITLES.get(status, "无法处理此请求")),
        "message": text,
        "user": getattr(request.state, "user", None),
        "csrf_token": request.scope.get("csrf_token", ""),
        "locale": i18n.get_locale(),
        "html_lang": i18n.HTML_LANG[i18n.get_locale()],
        "large_text": request.cookies.get("canyu_large") == "1",
        "htmx": is_htmx(request),
        "flash": [],
    }
    template = "partials/error.html" if is_htmx(request) else "error.html"
    return HTMLResponse(render_string(template, ctx), status_code=status, headers=headers)


async def domain_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, DomainError)
    if (
        exc.status == 401
        and not is_api(request)
        and request.method == "GET"
        and not is_htmx(request)
    ):
        # A page that needs a signed-in user sends the visitor to the right sign-in form.
        target = "/staff/signin" if request.url.path.startswith(("/staff", "/admin")) else "/signin"
        return RedirectResponse(f"{target}?next={quote(request.url.path)}", status_code=303)
    headers = {"Retry-After": "5"} if exc.status in (429, 503) else None
    return error_response(
        request, exc.status, exc.code, exc.message, exc.params, exc.field, headers
    )


async def http_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    status = exc.status_code
    message = _MESSAGES.get(status, "请求有误，请检查后重试。")
    return error_response(
        request, status, _CODES.get(status, "error"), message, headers=exc.headers
    )


def is_connection_error(exc: BaseException) -> bool:
    """A lost or refused database connection: the client may retry."""
    from tortoise.exceptions import DBConnectionError

    names = {type(e).__name__ for e in _chain(exc)}
    if names & {
        "ConnectionDoesNotExistError",
        "InterfaceError",
        "CannotConnectNowError",
        "ConnectionFailureError",
        "AdminShutdownError",
        "ConnectionRefusedError",
        "TooManyConnectionsError",
        "PostgresConnectionError",
        "InternalClientError",
        "ConnectionResetError",
    }:
        return True
    return any(isinstance(e, (DBConnectionError, ConnectionError)) for e in _chain(exc))


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


async def server_error_handler(request: Request, exc: Exception) -> Response:
    if is_connection_error(exc):
        log.warning("database unavailable: %r", exc)
        err = Unavailable()
        return error_response(request, 503, err.code, err.message, headers={"Retry-After": "2"})
    log.exception("unhandled error", exc_info=exc)
    return error_response(request, 500, "internal_error", _MESSAGES[500])


async def db_error_handler(request: Request, exc: Exception) -> Response:
    """Database errors that escaped a service: 503 when the connection is the cause."""
    if is_connection_error(exc):
        log.warning("database unavailable: %r", exc)
        err = Unavailable()
        return error_response(request, 503, err.code, err.message, headers={"Retry-After": "2"})
    log.exception("database error", exc_info=exc)
    return error_response(request, 500, "internal_error", _MESSAGES[500])
