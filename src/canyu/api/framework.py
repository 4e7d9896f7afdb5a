"""JSON API v1: endpoints declared once; routes and the OpenAPI document come from them."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from canyu.core import clock
from canyu.core.errors import DomainError, Forbidden, NotFound, Unauthorized
from canyu.core.i18n import N_
from canyu.core.permissions import Principal
from canyu.core.ratelimit import client_ip

Auth = Literal["none", "optional", "resident", "staff"]
MAX_ID = 2**31 - 1


class Body(BaseModel):
    """Base of every request body: unknown fields are refused, strings are stripped."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


@dataclass
class ApiContext:
    request: Request
    user: Principal | None
    ip: str

    @property
    def resident(self) -> Principal:
        from canyu.core.permissions import require_resident

        return require_resident(self.user)


Handler = Callable[..., Awaitable[Any]]


@dataclass
class Endpoint:
    method: str
    path: str
    handler: Handler
    summary: str
    tag: str
    body: type[BaseModel] | None = None
    response: Any = None
    status: int = 200
    auth: Auth = "none"
    errors: tuple[int, ...] = ()
    description: str = ""
    path_params: dict[str, str] = field(default_factory=dict)
    #: Who may call it, checked before the body is read: staff roles, and "resident" for
    #: residents. The service still checks again (with the unit of the thing acted on).
    roles: frozenset[str] | None = None


REGISTRY: list[Endpoint] = []


def endpoint(
    method: str,
    path: str,
    *,
    summary: str,
    tag: str,
    body: type[BaseModel] | None = None,
    response: Any = None,
    status: int = 200,
    auth: Auth = "none",
    errors: tuple[int, ...] = (),
    description: str = "",
    roles: Collection[str] | None = None,
) -> Callable[[Handler], Handler]:
    """Declare one API v1 endpoint; ``path`` is relative to ``/api/v1`` (``{id:int}`` style).

    ``roles`` names who may call it (staff roles, "resident"): a caller without one of them is
    refused (401/403) before its body is read, so a malformed body tells it nothing."""

    def register(handler: Handler) -> Handler:
        REGISTRY.append(
            Endpoint(
                method.upper(),
                path,
                handler,
                summary,
                tag,
                body,
                response,
                status,
                auth,
                errors,
                description,
                roles=frozenset(roles) if roles is not None else None,
            )
        )
        return handler

    return register


# --- serialization ------------------------------------------------------------------


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return clock.local(value).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


class ApiJSONResponse(JSONResponse):
    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=False, default=_default).encode("utf-8")


# --- validation messages -------------------------------------------------------------

_MESSAGES = {
    "missing": N_("缺少必填字段 %(name)s。"),
    "extra_forbidden": N_("不支持的字段 %(name)s。"),
    "string_type": N_("字段 %(name)s 应为文本。"),
    "string_too_long": N_("字段 %(name)s 太长。"),
    "string_too_short": N_("字段 %(name)s 不能为空。"),
    "int_type": N_("字段 %(name)s 应为整数。"),
    "int_parsing": N_("字段 %(name)s 应为整数。"),
    "int_from_float": N_("字段 %(name)s 应为整数。"),
    "float_type": N_("字段 %(name)s 应为数字。"),
    "float_parsing": N_("字段 %(name)s 应为数字。"),
    "bool_type": N_("字段 %(name)s 应为 true 或 false。"),
    "bool_parsing": N_("字段 %(name)s 应为 true 或 false。"),
    "datetime_type": N_("字段 %(name)s 应为带时区的 ISO 8601 时间。"),
    "datetime_parsing": N_("字段 %(name)s 应为带时区的 ISO 8601 时间。"),
    "datetime_from_date_parsing": N_("字段 %(name)s 应为带时区的 ISO 8601 时间。"),
    "timezone_aware": N_("字段 %(name)s 应为带时区的 ISO 8601 时间。"),
    "list_type": N_("字段 %(name)s 应为列表。"),
    "dict_type": N_("字段 %(name)s 应为对象。"),
    "model_type": N_("字段 %(name)s 应为对象。"),
    "model_attributes_type": N_("字段 %(name)s 应为对象。"),
    "literal_error": N_("字段 %(name)s 的取值无效。"),
    "enum": N_("字段 %(name)s 的取值无效。"),
    "greater_than_equal": N_("字段 %(name)s 的值太小。"),
    "greater_than": N_("字段 %(name)s 的值太小。"),
    "less_than_equal": N_("字段 %(name)s 的值太大。"),
    "less_than": N_("字段 %(name)s 的值太大。"),
    "too_long": N_("字段 %(name)s 的项目太多。"),
    "too_short": N_("字段 %(name)s 的项目太少。"),
}


def validation_error(exc: ValidationError) -> DomainError:
    """The first problem of a body, as a Chinese 422."""
    first = exc.errors()[0]
    loc = ".".join(str(part) for part in first["loc"]) or "body"
    message = _MESSAGES.get(first["type"], "字段 %(name)s 的值无效。")
    return DomainError("invalid_request", message, 422, field=loc, name=loc)


def parse_body(raw: bytes, model: type[BaseModel] | None) -> BaseModel | None:
    if model is None:
        if raw.strip() and raw.strip() != b"{}":
            try:
                data = json.loads(raw)
            except ValueError:
                raise DomainError("invalid_json", "请求体不是有效的 JSON。", 400) from None
            if data not in ({}, None):
                raise DomainError("invalid_request", "此接口不接受请求体。", 422)
        return None
    if not raw.strip():
        data: Any = {}
    else:
        try:
            data = json.loads(raw)
        except ValueError:
            raise DomainError("invalid_json", "请求体不是有效的 JSON。", 400) from None
    if not isinstance(data, dict):
        raise DomainError("invalid_json", "请求体必须是 JSON 对象。", 400)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise validation_error(exc) from None


def _route(ep: Endpoint) -> Route:
    async def view(request: Request) -> Response:
        user: Principal | None = request.state.user
        if ep.auth in ("resident", "staff") and user is None:
            raise Unauthorized("缺少或无效的访问令牌。", code="unauthorized")
        if ep.auth == "resident" and not user.is_resident:  # type: ignore[union-attr]
            raise Forbidden("此接口仅限已验证身份的居民。", code="resident_only")
        if ep.auth == "staff" and not user.is_staff:  # type: ignore[union-attr]
            raise Forbidden("此接口仅限工作人员。", code="staff_only")
        if ep.roles is not None:
            if user is None:
                raise Unauthorized("缺少或无效的访问令牌。", code="unauthorized")
            role = "resident" if user.is_resident else user.role
            if role not in ep.roles:
                raise Forbidden()
        if ep.method in ("POST", "PUT", "PATCH", "DELETE"):
            content_type = request.headers.get("content-type", "")
            raw = await request.body()
            if raw.strip() and "json" not in content_type:
                raise DomainError(
                    "unsupported_media_type", "请求体须为 JSON（application/json）。", 415
                )
            body = parse_body(raw, ep.body)
        else:
            body = None
        ctx = ApiContext(request, user, client_ip(request))
        kwargs = dict(request.path_params)
        for value in kwargs.values():
            # Ids are 32-bit serials: anything else names nothing (and must not reach the driver).
            if isinstance(value, int) and not 1 <= value <= MAX_ID:
                raise NotFound()
        if ep.body is not None:
            kwargs["body"] = body
        result = await ep.handler(ctx, **kwargs)
        if isinstance(result, Response):
            return result
        if isinstance(result, BaseModel):
            result = result.model_dump(mode="json")
        return ApiJSONResponse(result, status_code=ep.status)

    return Route("/api/v1" + ep.path, view, methods=[ep.method], name=f"api:{ep.handler.__name__}")


def routes() -> list[Route]:
    return [_route(ep) for ep in REGISTRY]
