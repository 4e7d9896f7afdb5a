"""Pure ASGI middleware: request context (id, locale, log, metrics, headers), body limit, CSRF."""

from __future__ import annotations

import json
import logging
import secrets
import time
from urllib.parse import urlsplit

from starlette.datastructures import Headers, MutableHeaders
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from canyu.core import i18n, metrics
from canyu.core.i18n import N_
from canyu.core.responses import error_response

log = logging.getLogger("canyu.access")

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "media-src 'self' https:; connect-src 'self'; font-src 'self'; object-src 'none'; "
    "frame-ancestors 'none'; form-action 'self'; base-uri 'self'; worker-src 'self' blob:"
)
SECURITY_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(self), microphone=(), geolocation=()"),
    (b"cross-origin-opener-policy", b"same-origin"),
]
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
#: Paths whose URL carries its own signed token (a one-click link from a mail): the token is the
#: authority, not the session, so there is nothing for a cross-site request to borrow.
CSRF_EXEMPT_PREFIXES = ("/subscriptions/unsubscribe/",)


class BodyTooLarge(Exception):
    pass


def pick_locale(scope: Scope) -> str:
    """``?lang=`` for this request, else the ``canyu_lang`` cookie, else Chinese."""
    request = Request(scope)
    lang = request.query_params.get("lang") or request.cookies.get("canyu_lang")
    return lang if lang in i18n.LOCALES else i18n.DEFAULT_LOCALE


class RequestContextMiddleware:
    """Request id, locale, access log, metrics, security headers and the body size limit."""

    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        headers = Headers(scope=scope)
        request_id = headers.get("x-request-id", "")[:64] or secrets.token_hex(8)
        scope.setdefault("state", {})["request_id"] = request_id
        token = i18n.set_locale(pick_locale(scope))
        status = 500

        declared = headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > self.max_body_bytes:
            response = error_response(
                Request(scope), 413, "payload_too_large", N_("提交的内容超过了大小限制。")
            )
            await response(scope, receive, self._wrap_send(send, request_id, lambda s: None))
            i18n._locale.reset(token)
            return

        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    raise BodyTooLarge
            return message

        def on_status(code: int) -> None:
            nonlocal status
            status = code

        try:
            await self.app(scope, limited_receive, self._wrap_send(send, request_id, on_status))
        except BodyTooLarge:
            response = error_response(
                Request(scope), 413, "payload_too_large", N_("提交的内容超过了大小限制。")
            )
            await response(scope, receive, self._wrap_send(send, request_id, on_status))
        finally:
            elapsed = time.perf_counter() - started
            route = scope.get("route")
            route_path = getattr(route, "path", None) or "unmatched"
            metrics.observe_request(route_path, scope["method"], status, elapsed)
            log.info(
                json.dumps(
                    {
                        "request_id": request_id,
                        "method": scope["method"],
                        "path": scope["path"],
                        "route": route_path,
                        "status": status,
                        "ms": round(elapsed * 1000, 1),
                    },
                    ensure_ascii=False,
                )
            )
            i18n._locale.reset(token)

    @staticmethod
    def _wrap_send(send: Send, request_id: str, on_status):  # type: ignore[no-untyped-def]
        async def wrapped(message: Message) -> None:
            if message["type"] == "http.response.start":
                on_status(message["status"])
                headers = MutableHeaders(scope=message)
                headers["x-request-id"] = request_id
                for name, value in SECURITY_HEADERS:
                    if name.decode() not in headers:
                        headers.raw.append((name, value))
            await send(message)

        return wrapped


def same_origin(origin: str, scope: Scope, base_url: str) -> bool:
    parsed = urlsplit(origin)
    host = Headers(scope=scope).get("host", "")
    allowed = {host, urlsplit(base_url).netloc}
    return parsed.scheme in ("http", "https") and parsed.netloc in allowed


class CSRFMiddleware:
    """Every unsafe HTML request carries the session's token (form field ``csrf_token`` or
    header ``X-CSRF-Token``) and no cross-site Origin. The JSON API takes bearer tokens only,
    never the session cookie, so it needs no token."""

    def __init__(self, app: ASGIApp, base_url: str) -> None:
        self.app = app
        self.base_url = base_url

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["path"].startswith("/api/"):
            # Bearer tokens only: no token to check, and no session cookie to give out (the
            # session is not touched, so an API response sets no cookie).
            await self.app(scope, receive, send)
            return
        session = scope["session"]
        token = session.get("csrf")
        if not token:
            token = secrets.token_urlsafe(32)
            session["csrf"] = token
        scope["csrf_token"] = token
        if scope["method"] in SAFE_METHODS or scope["path"].startswith(CSRF_EXEMPT_PREFIXES):
            await self.app(scope, receive, send)
            return

        headers = Headers(scope=scope)
        origin = headers.get("origin")
        if origin is not None and not same_origin(origin, scope, self.base_url):
            await self._refuse(scope, receive, send, N_("跨站请求已被拒绝。"))
            return

        sent = headers.get("x-csrf-token")
        body_messages: list[Message] = []
        if not sent:
            more = True
            while more:
                message = await receive()
                body_messages.append(message)
                more = message.get("more_body", False) and message["type"] == "http.request"
            content_type = headers.get("content-type", "")
            if content_type.startswith(
                ("application/x-www-form-urlencoded", "multipart/form-data")
            ):
                request = Request(scope, _replay(body_messages, receive))
                form = await request.form()
                value = form.get("csrf_token")
                sent = value if isinstance(value, str) else None
                await form.close()
        if not sent or not secrets.compare_digest(sent, token):
            await self._refuse(
                scope, receive, send, N_("页面已过期或来源不明，请刷新页面后重新提交。")
            )
            return
        await self.app(scope, _replay(body_messages, receive) if body_messages else receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, message: str) -> None:
        response = error_response(Request(scope), 403, "csrf_failed", message)
        await response(scope, receive, send)


def _replay(messages: list[Message], receive: Receive) -> Receive:
    queue = list(messages)

    async def replay() -> Message:
        if queue:
            return queue.pop(0)
        return await receive()

    return replay
