"""``record`` is the one audit call: every staff action and security event goes through it."""

from __future__ import annotations

from typing import Any

from canyu.audit.models import AuditEntry
from canyu.core import clock
from canyu.core.i18n import N_
from canyu.core.permissions import Principal
from canyu.core.ratelimit import network_of
from canyu.core.security import keyed_hash

#: Action codes shown to admins, with their Chinese labels.
ACTION_LABELS = {
    "staff.sign_in": N_("工作人员登录"),
    "staff.sign_in_failed": N_("工作人员登录失败"),
    "staff.locked": N_("工作人员账号锁定"),
    "staff.created": N_("创建工作人员账号"),
    "staff.updated": N_("修改工作人员账号"),
    "resident.code_failed": N_("验证码错误"),
    "resident.locked": N_("邮箱验证锁定"),
    "resident.deleted": N_("居民注销账号"),
    "privacy.purged": N_("到期个人信息清除"),
}


async def record(
    action: str,
    actor: Principal | None = None,
    *,
    target_type: str = "",
    target_id: Any = "",
    unit_id: int | None = None,
    ip: str | None = None,
    **details: Any,
) -> AuditEntry:
    """Append one entry. Call it inside the transaction of the action it records."""
    return await AuditEntry.create(
        at=clock.now(),
        actor_kind=actor.kind if actor else ("anon" if ip else "system"),
        actor_id=actor.id if actor else None,
        actor_label=(actor.name if actor else "")[:80],
        action=action,
        target_type=target_type,
        target_id=str(target_id or "")[:64],
        unit_id=unit_id,
        network_hash=keyed_hash("audit-network", network_of(ip))[:16] if ip else "",
        details=details,
    )


async def entries(
    *, action: str | None = None, limit: int = 50, before_id: int | None = None
) -> list[AuditEntry]:
    query = AuditEntry.all()
    if action:
        query = query.filter(action=action)
    if before_id:
        query = query.filter(id__lt=before_id)
    return await query.order_by("-id").limit(limit)
