"""``record`` is the one audit call: every staff action and security event goes through it."""

from __future__ import annotations

from typing import Any

from canyu.audit.models import AuditEntry
from canyu.core import clock, sql
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
    "consultation.created": N_("创建征求意见"),
    "consultation.updated": N_("修改征求意见"),
    "consultation.published": N_("发布征求意见"),
    "consultation.attachment_added": N_("上传附件"),
    "consultation.attachment_deleted": N_("删除附件"),
    "consultation.report_published": N_("发布意见采纳情况"),
    "comment.disposed": N_("意见采纳处理"),
    "faq.created": N_("发布常见问题"),
    "faq.deleted": N_("删除常见问题"),
    "board.assigned": N_("留言交办"),
    "board.answered": N_("留言答复"),
    "meeting.created": N_("创建决策会议"),
    "meeting.quotas_changed": N_("修改遴选配额"),
    "meeting.application_reviewed": N_("资格审查"),
    "meeting.pool_frozen": N_("冻结报名池并公示"),
    "meeting.drawn": N_("抽签遴选"),
    "meeting.checked_in": N_("列席代表签到"),
    "meeting.suggestion_added": N_("登记意见建议"),
    "meeting.suggestion_answered": N_("答复意见建议"),
    "meeting.decision_summary": N_("发布会议决定摘要"),
    "openmonth.event_created": N_("创建开放活动"),
    "openmonth.event_updated": N_("修改开放活动"),
    "openmonth.events_published": N_("发布开放月活动"),
    "openmonth.event_cancelled": N_("取消开放活动"),
    "openmonth.phone_registration": N_("代为电话报名"),
    "openmonth.registrants_exported": N_("导出报名名单"),
    "openmonth.no_shows": N_("标记未到场"),
    "openmonth.counter_mismatch": N_("名额计数与记录不符"),
}


def register_labels(labels: dict[str, str]) -> None:
    """A feature names its audit actions (Chinese msgids, marked with ``N_``)."""
    ACTION_LABELS.update(labels)


async def record(action: str, actor: Principal | None = None, **fields: Any) -> AuditEntry:
    """Append one entry (``fields``: see ``entry_values``). Call it inside the transaction of
    the action it records."""
    return await AuditEntry.create(**entry_values(action, actor, **fields))


def record_statement(action: str, actor: Principal | None = None, **fields: Any) -> sql.Statement:
    """``record`` as a statement of a transaction program (``core.sql.run``)."""
    return sql.insert_statement(AuditEntry, entry_values(action, actor, **fields))


def entry_values(
    action: str,
    actor: Principal | None = None,
    *,
    target_type: str = "",
    target_id: Any = "",
    unit_id: int | None = None,
    ip: str | None = None,
    **details: Any,
) -> dict[str, Any]:
    """The columns of one entry: who (a staff member, a resident, the system, or an anonymous
    caller known by the keyed hash of their network), what, on which target and unit, and
    the details."""
    return {
        "at": clock.now(),
        "actor_kind": actor.kind if actor else ("anon" if ip else "system"),
        "actor_id": actor.id if actor else None,
        "actor_label": (actor.name if actor else "")[:80],
        "action": action,
        "target_type": target_type,
        "target_id": str(target_id or "")[:64],
        "unit_id": unit_id,
        "network_hash": keyed_hash("audit-network", network_of(ip))[:16] if ip else "",
        "details": details,
    }


async def entries(
    *, action: str | None = None, limit: int = 50, before_id: int | None = None
) -> list[AuditEntry]:
    query = AuditEntry.all()
    if action:
        query = query.filter(action=action)
    if before_id:
        query = query.filter(id__lt=before_id)
    return await query.order_by("-id").limit(limit)
