"""One domain error type. Services raise it; ``core`` maps it to a page, partial or JSON."""

from __future__ import annotations

from typing import Any

from canyu.core.i18n import N_


class DomainError(Exception):
    """A rule refused the request.

    ``message`` is Simplified Chinese (the source language of every UI string) and may hold
    ``%(name)s`` placeholders filled from ``params``; it is translated when shown.
    """

    status = 422

    def __init__(
        self,
        code: str,
        message: str,
        status: int | None = None,
        *,
        field: str | None = None,
        **params: Any,
    ) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        if status is not None:
            self.status = status
        self.field = field
        self.params = params


class NotFound(DomainError):
    status = 404

    def __init__(self, message: str = N_("找不到您要的内容。"), code: str = "not_found") -> None:
        super().__init__(code, message)


class Conflict(DomainError):
    status = 409


class Forbidden(DomainError):
    status = 403

    def __init__(
        self, message: str = N_("您没有执行此操作的权限。"), code: str = "forbidden"
    ) -> None:
        super().__init__(code, message)


class Unauthorized(DomainError):
    status = 401

    def __init__(self, message: str = N_("请先登录。"), code: str = "unauthorized") -> None:
        super().__init__(code, message)


class RateLimited(DomainError):
    status = 429

    def __init__(
        self,
        message: str = N_("操作过于频繁，请稍后再试。"),
        code: str = "rate_limited",
        **params: Any,
    ) -> None:
        super().__init__(code, message, **params)


class Unavailable(DomainError):
    """A passing fault (database connection lost): the client may retry."""

    status = 503

    def __init__(
        self, message: str = N_("服务暂时不可用，请稍后重试。"), code: str = "unavailable"
    ) -> None:
        super().__init__(code, message)
