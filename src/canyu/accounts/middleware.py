"""Who is asking: a bearer token on the JSON API, the signed session cookie elsewhere."""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from canyu.accounts import service


class AuthMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/static/"):
            await self.app(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        try:
            user = await self._resolve(scope, state)
        except Exception as exc:
            from starlette.requests import Request

            from canyu.core.responses import db_error_handler, is_connection_error

            if not is_connection_error(exc):
                raise
            response = await db_error_handler(Request(scope), exc)
            await response(scope, receive, send)
            return
        state["user"] = user
        await self.app(scope, receive, send)

    async def _resolve(self, scope: Scope, state: dict):  # type: ignore[no-untyped-def]
        user = None
        if scope["path"].startswith("/api/"):
            auth = Headers(scope=scope).get("authorization", "")
            scheme, _, raw = auth.partition(" ")
            if scheme.lower() == "bearer" and raw.strip():
                user = await service.principal_for_token(raw.strip(), "api")
                state["bearer_sent"] = True
        else:
            raw = scope["session"].get("token")
            if raw:
                user = await service.principal_for_token(raw, "session")
                if user is None:
                    scope["session"].pop("token", None)
        return user
