"""The one permission check. A ``Principal`` is whoever sent the request."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from starlette.requests import Request

from canyu.core.errors import Forbidden, Unauthorized
from canyu.core.i18n import N_

ROLES = ("admin", "organizer", "moderator", "reviewer")
ROLE_LABELS = {
    "admin": N_("管理员"),
    "organizer": N_("组织者"),
    "moderator": N_("审核员"),
    "reviewer": N_("评审专家"),
}


@dataclass(frozen=True)
class Principal:
    kind: Literal["resident", "staff"]
    id: int
    name: str
    role: str | None = None
    unit_id: int | None = None
    unit_name: str | None = None
    token_id: int | None = None
    #: A resident's own record as read with the token in the same query (name, email, phone,
    #: birth_year, email_hmac, verified_at): hot paths use it instead of reading it again.
    profile: Mapping[str, Any] | None = field(default=None, compare=False, repr=False)

    @property
    def is_staff(self) -> bool:
        return self.kind == "staff"

    @property
    def is_resident(self) -> bool:
        return self.kind == "resident"

    @property
    def is_admin(self) -> bool:
        return self.kind == "staff" and self.role == "admin"


def current(request: Request) -> Principal | None:
    return getattr(request.state, "user", None)


def authorize(
    actor: Principal | None,
    roles: tuple[str, ...] | frozenset[str] | set[str],
    unit_id: int | None = None,
) -> Principal:
    """The actor is staff with one of ``roles``; an organizer acts only on its own unit.

    Admins may act everywhere. ``unit_id`` is the unit that owns the thing acted on
    (None when the action is not tied to a unit).
    """
    if actor is None:
        raise Unauthorized()
    if not actor.is_staff or actor.role not in roles:
        raise Forbidden()
    if actor.role == "organizer" and unit_id is not None and actor.unit_id != unit_id:
        raise Forbidden("此内容属于其他单位，您只能管理本单位的内容。", code="other_unit")
    return actor


def require_resident(actor: Principal | None) -> Principal:
    if actor is None:
        raise Unauthorized("请先用邮箱验证码登录。")
    if not actor.is_resident:
        raise Forbidden("此操作仅限已验证身份的居民。", code="resident_only")
    return actor


def require_staff(actor: Principal | None) -> Principal:
    return authorize(actor, ROLES)
