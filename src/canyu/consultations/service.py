"""The rules of comment periods (公开征询意见), the FAQ, the message board and subscriptions.

Every write checks the lifecycle draft → published (opens at ``opens_at``) → closed (at
``closes_at``) → report published at the moment of the write, on the server."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.expressions import F
from tortoise.queryset import QuerySet
from tortoise.transactions import in_transaction

from canyu.accounts import service as accounts
from canyu.audit import service as audit
from canyu.consultations import sensitive, similarity
from canyu.consultations.models import (
    Attachment,
    BoardQuestion,
    Comment,
    CommentSupport,
    Consultation,
    DigestItem,
    FaqEntry,
    Section,
    Subscription,
)
from canyu.core import clock, uploads, workdays
from canyu.core.errors import Conflict, DomainError, Forbidden, NotFound
from canyu.core.i18n import N_
from canyu.core.masking import mask_name
from canyu.core.permissions import Principal, authorize, require_resident
from canyu.core.ratelimit import limiter
from canyu.core.security import keyed_hash
from canyu.notify import service as notify

KINDS = {
    "major_decision": N_("重大行政决策"),
    "rule": N_("规章"),
    "normative": N_("规范性文件"),
    "other": N_("其他"),
}
AUDIENCES = {
    "enterprise": N_("企业"),
    "livelihood": N_("民生"),
    "special_groups": N_("特定群体"),
}
OUTCOMES = {
    "adopted": N_("采纳"),
    "partly_adopted": N_("部分采纳"),
    "not_adopted": N_("不采纳"),
}
STATUSES = {
    "pending": N_("待审核"),
    "published": N_("已发布"),
    "rejected": N_("未通过审核"),
}
PHASES = {
    "draft": N_("草稿"),
    "scheduled": N_("即将开始"),
    "open": N_("征求意见中"),
    "closed": N_("已截止"),
    "reported": N_("已反馈采纳情况"),
}
RATINGS = {
    "satisfied": N_("满意"),
    "basically_satisfied": N_("基本满意"),
    "dissatisfied": N_("不满意"),
}
MIN_DAYS = {"major_decision": 30, "rule": 30}
MIN_WORKDAYS = {"normative": 7}
COMMENT_MAX = 2000
QUESTION_MAX = 1000
BOARD_REPLY_WORKDAYS = 5
ATTACHMENT_MAX_BYTES = 10 * 1024 * 1024
ORGANIZERS = ("organizer", "admin")
MODERATORS = ("moderator", "admin")


# --- helpers -------------------------------------------------------------------------


def phase_of(c: Consultation, now: datetime | None = None) -> str:
    """draft, scheduled, open, closed or reported, as of ``now``."""
    now = now or clock.now()
    if c.published_at is None:
        return "draft"
    if c.report_published_at is not None:
        return "reported"
    if now < c.opens_at:
        return "scheduled"
    if now < c.closes_at:
        return "open"
    return "closed"


def anchor_of(section: Section) -> str:
    return f"s{section.position}"


def _text(value: Any, field: str, max_len: int, *, required: bool = True) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise DomainError("invalid_field", "字段 %(name)s 应为文本。", 422, field=field, name=field)
    value = value.strip()
    if required and not value:
        raise DomainError(
            "field_required", "请填写%(label)s。", 422, field=field, label=_LABELS.get(field, field)
        )
    if len(value) > max_len:
        raise DomainError(
            "field_too_long",
            "%(label)s不能超过 %(max)s 个字。",
            422,
            field=field,
            label=_LABELS.get(field, field),
            max=max_len,
        )
    return value


_LABELS = {
    "title": N_("标题"),
    "drafting_unit": N_("起草单位"),
    "basis": N_("依据"),
    "contact": N_("联系方式"),
    "body": N_("正文"),
    "interpretation": N_("政策解读"),
    "period_reason": N_("征求意见期限较短的理由"),
    "question": N_("问题"),
    "answer": N_("答复"),
    "reason": N_("理由"),
}


def _aware(value: Any, field: str) -> datetime:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip())
        except ValueError:
            value = None
    if not isinstance(value, datetime):
        raise DomainError("invalid_time", "请填写有效的时间。", 422, field=field)
    if value.tzinfo is None:
        # A form's datetime-local value is Asia/Shanghai wall time.
        value = value.replace(tzinfo=clock.zone())
    return value.astimezone(UTC)


def period_is_short(kind: str, opens_at: datetime, closes_at: datetime) -> bool:
    """Below 30 days (major decisions, rules) or 7 working days (normative documents)."""
    if kind in MIN_DAYS:
        return closes_at - opens_at < timedelta(days=MIN_DAYS[kind])
    if kind in MIN_WORKDAYS:
        start, end = clock.local(opens_at).date(), clock.local(closes_at).date()
        return workdays.workdays_between(start, end) < MIN_WORKDAYS[kind]
    return False


def split_draft(markdown: str) -> tuple[str, list[dict[str, str]]]:
    """A draft in Markdown cut at each ``## `` heading: (preamble, sections)."""
    preamble: list[str] = []
    sections: list[dict[str, Any]] = []
    for line in (markdown or "").splitlines():
        if line.startswith("## "):
            sections.append({"title": line[3:].strip(), "lines": []})
        elif sections:
            sections[-1]["lines"].append(line)
        else:
            preamble.append(line)
    return "\n".join(preamble).strip(), [
        {"title": s["title"], "body": "\n".join(s["lines"]).strip()} for s in sections
    ]


def join_draft(preamble: str, sections: list[Section]) -> str:
    parts = [preamble.strip()] if preamble.strip() else []
    for s in sections:
        parts.append(f"## {s.title}\n\n{s.body}".strip())
    return "\n\n".join(parts)


def _clean_sections(sections: Any) -> list[dict[str, str]]:
    if sections is None:
        return []
    if not isinstance(sections, list) or len(sections) > 200:
        raise DomainError("invalid_sections", "章节格式不正确。", 422, field="sections")
    clean = []
    for item in sections:
        if not isinstance(item, dict):
            raise DomainError("invalid_sections", "章节格式不正确。", 422, field="sections")
        title = item.get("title")
        if not isinstance(title, str) or not title.strip() or len(title.strip()) > 200:
            raise DomainError(
                "invalid_section_title",
                "每一条都需要标题（不超过 200 个字）。",
                422,
                field="sections",
            )
        body = item.get("body") or ""
        if not isinstance(body, str) or len(body) > 50_000:
            raise DomainError("invalid_sections", "章节格式不正确。", 422, field="sections")
        clean.append({"title": title.strip(), "body": body.strip()})
    return clean


def _clean_list(values: Any, allowed: dict[str, str] | None, field: str) -> list[str]:
    if values is None or values == "":
        return []
    if isinstance(values, str):
        values = [v for v in re.split(r"[,，、\s]+", values) if v]
    if not isinstance(values, list) or len(values) > 20:
        raise DomainError(
            "invalid_field", "字段 %(name)s 的取值无效。", 422, field=field, name=field
        )
    clean: list[str] = []
    for v in values:
        if not isinstance(v, str) or not v.strip() or len(v.strip()) > 30:
            raise DomainError(
                "invalid_field", "字段 %(name)s 的取值无效。", 422, field=field, name=field
            )
        v = v.strip()
        if allowed is not None and v not in allowed:
            raise DomainError(
                "invalid_field", "字段 %(name)s 的取值无效。", 422, field=field, name=field
            )
        if v not in clean:
            clean.append(v)
    return clean


def _validate(data: dict[str, Any]) -> dict[str, Any]:
    kind = data.get("kind")
    if kind not in KINDS:
        raise DomainError("invalid_kind", "请选择文件类型。", 422, field="kind")
    clean: dict[str, Any] = {
        "title": _text(data.get("title"), "title", 200),
        "kind": kind,
        "drafting_unit": _text(data.get("drafting_unit"), "drafting_unit", 100, required=False),
        "basis": _text(data.get("basis"), "basis", 5000, required=False),
        "contact": _text(data.get("contact"), "contact", 300, required=False),
        "body": _text(data.get("body"), "body", 100_000, required=False),
        "interpretation": _text(
            data.get("interpretation"), "interpretation", 100_000, required=False
        ),
        "period_reason": _text(data.get("period_reason"), "period_reason", 2000, required=False),
        "audiences": _clean_list(data.get("audiences"), AUDIENCES, "audiences"),
        "topics": _clean_list(data.get("topics"), None, "topics"),
    }
    opens_at = _aware(data.get("opens_at"), "opens_at")
    closes_at = _aware(data.get("closes_at"), "closes_at")
    if closes_at <= opens_at:
        raise DomainError("invalid_period", "截止时间必须晚于开始时间。", 422, field="closes_at")
    if period_is_short(kind, opens_at, closes_at) and not clean["period_reason"]:
        if kind in MIN_DAYS:
            raise DomainError(
                "period_reason_required",
                "重大行政决策和规章征求意见期限一般不少于 30 日，期限较短时须说明理由。",
                422,
                field="period_reason",
            )
        raise DomainError(
            "period_reason_required",
            "规范性文件征求意见期限一般不少于 7 个工作日，期限较短时须说明理由。",
            422,
            field="period_reason",
        )
    clean["opens_at"], clean["closes_at"] = opens_at, closes_at
    return clean


async def get_consultation(consultation_id: int, actor: Principal | None = None) -> Consultation:
    """A consultation; drafts only for staff who may manage it."""
    c = await Consultation.get_or_none(id=consultation_id)
    if c is None:
        raise NotFound()
    if c.published_at is None and not _may_manage(actor, c):
        raise NotFound()
    return c


def _may_manage(actor: Principal | None, c: Consultation) -> bool:
    if actor is None or not actor.is_staff:
        return False
    if actor.role == "admin":
        return True
    return actor.role == "organizer" and c.unit_id is not None and actor.unit_id == c.unit_id


def _owner(unit_id: int | None) -> int:
    """A thing without a unit belongs to no organizer (only admins manage it)."""
    return unit_id if unit_id is not None else -1


async def _managed(actor: Principal | None, consultation_id: int) -> Consultation:
    c = await Consultation.get_or_none(id=consultation_id)
    if c is None:
        raise NotFound()
    authorize(actor, ORGANIZERS, _owner(c.unit_id))
    return c


# --- consultations -------------------------------------------------------------------


async def create_consultation(actor: Principal | None, data: dict[str, Any]) -> Consultation:
    """Organizers (own unit) and admins create a draft, published at once when asked."""
    actor = authorize(actor, ORGANIZERS)
    clean = _validate(data)
    sections = _clean_sections(data.get("sections"))
    if not clean["drafting_unit"]:
        clean["drafting_unit"] = actor.unit_name or ""
    now = clock.now()
    publish = bool(data.get("published"))
    if publish and clean["closes_at"] <= now:
        raise DomainError("period_over", "截止时间已过，不能发布。", 422, field="closes_at")
    async with in_transaction():
        c = await Consultation.create(
            **clean,
            unit_id=actor.unit_id,
            created_by_id=actor.id,
            created_at=now,
            updated_at=now,
            published_at=now if publish else None,
        )
        for position, s in enumerate(sections, 1):
            await Section.create(
                consultation=c, position=position, title=s["title"], body=s["body"]
            )
        await audit.record(
            "consultation.created",
            actor,
            target_type="consultation",
            target_id=c.id,
            unit_id=c.unit_id,
        )
        if publish:
            await _after_publish(c)
    return c


async def update_consultation(
    actor: Principal | None, consultation_id: int, data: dict[str, Any]
) -> Consultation:
    """Edits are allowed until the comment period opens."""
    c = await _managed(actor, consultation_id)
    clean = _validate(data)
    sections = _clean_sections(data.get("sections"))
    now = clock.now()
    async with in_transaction():
        changed = await Consultation.filter(id=c.id).filter(published_at__isnull=True).update(
            **clean, updated_at=now
        ) or await Consultation.filter(
            id=c.id, opens_at__gt=now, report_published_at__isnull=True
        ).update(**clean, updated_at=now)
        if not changed:
            raise Conflict("already_open", "征求意见已开始，不能再修改草案。")
        if "sections" in data:
            await Section.filter(consultation_id=c.id).delete()
            for position, s in enumerate(sections, 1):
                await Section.create(
                    consultation_id=c.id, position=position, title=s["title"], body=s["body"]
                )
        await audit.record(
            "consultation.updated",
            actor,
            target_type="consultation",
            target_id=c.id,
            unit_id=c.unit_id,
        )
    return await Consultation.get(id=c.id)


async def publish_consultation(actor: Principal | None, consultation_id: int) -> Consultation:
    """draft → published; the comment period starts at ``opens_at``."""
    c = await _managed(actor, consultation_id)
    now = clock.now()
    if c.closes_at <= now:
        raise DomainError("period_over", "截止时间已过，不能发布。", 422, field="closes_at")
    async with in_transaction():
        if not await Consultation.filter(id=c.id, published_at__isnull=True).update(
            published_at=now
        ):
            raise Conflict("already_published", "此征求意见稿已经发布。")
        c.published_at = now
        await audit.record(
            "consultation.published",
            actor,
            target_type="consultation",
            target_id=c.id,
            unit_id=c.unit_id,
        )
        await _after_publish(c)
    return c


async def _after_publish(c: Consultation) -> None:
    now = clock.now()
    if c.opens_at <= now and await Consultation.filter(
        id=c.id, open_notified_at__isnull=True
    ).update(open_notified_at=now):
        await _notify_subscribers(c, "opened")


async def announce_opened_consultations() -> int:
    """Scheduler job: mail subscribers about consultations whose period has just opened."""
    now = clock.now()
    count = 0
    for c in await Consultation.filter(
        published_at__isnull=False, open_notified_at__isnull=True, opens_at__lte=now
    ):
        async with in_transaction():
            if await Consultation.filter(id=c.id, open_notified_at__isnull=True).update(
                open_notified_at=now
            ):
                await _notify_subscribers(c, "opened")
                count += 1
    return count


async def list_public(
    *, topic: str | None = None, audience: str | None = None, phase: str | None = None
) -> list[Consultation]:
    items = await Consultation.filter(published_at__isnull=False).order_by("-opens_at", "-id")
    now = clock.now()
    result = []
    for c in items:
        if topic and topic not in (c.topics or []):
            continue
        if audience and audience not in (c.audiences or []):
            continue
        if phase and phase_of(c, now) != phase:
            continue
        result.append(c)
    return result


async def list_open(limit: int = 5) -> list[Consultation]:
    now = clock.now()
    return (
        await Consultation.filter(
            published_at__isnull=False,
            report_published_at__isnull=True,
            opens_at__lte=now,
            closes_at__gt=now,
        )
        .order_by("closes_at")
        .limit(limit)
    )


async def list_managed(actor: Principal | None) -> list[Consultation]:
    actor = authorize(actor, ORGANIZERS)
    query = Consultation.all()
    if actor.role != "admin":
        query = query.filter(unit_id=actor.unit_id)
    return await query.order_by("-created_at", "-id")


async def sections_of(consultation_id: int) -> list[Section]:
    return await Section.filter(consultation_id=consultation_id).order_by("position")


async def topics_in_use() -> list[str]:
    topics: list[str] = []
    for c in await Consultation.filter(published_at__isnull=False).only("id", "topics"):
        for t in c.topics or []:
            if t not in topics:
                topics.append(t)
    return topics


# --- attachments -----------------------------------------------------------------------


def sniff_document(data: bytes) -> tuple[str, str] | None:
    """(content type, extension) from the first bytes: PDF, DOCX or legacy DOC, else None."""
    if data.startswith(b"%PDF-"):
        return "application/pdf", "pdf"
    if data.startswith(b"PK\x03\x04"):
        import io
        import zipfile

        try:
            names = zipfile.ZipFile(io.BytesIO(data)).namelist()
        except zipfile.BadZipFile:
            return None
        if "word/document.xml" in names:
            return "application/vnd.openxmlformats-officedocument.wordprocessingml.document", "docx"
        return None
    if data.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
        return "application/msword", "doc"
    return None


async def add_attachment(
    actor: Principal | None, consultation_id: int, filename: str, data: bytes, upload_dir: Path
) -> Attachment:
    """PDF or Word only (checked by content), at most 10 MB, stored outside static/."""
    c = await _managed(actor, consultation_id)
    if phase_of(c) in ("closed", "reported"):
        raise Conflict("closed", "征求意见已截止，不能再修改。")
    if not data:
        raise DomainError("empty_file", "请选择要上传的文件。", 422, field="attachment")
    if len(data) > ATTACHMENT_MAX_BYTES:
        raise DomainError("file_too_large", "附件不能超过 10 MB。", 413, field="attachment")
    sniffed = sniff_document(data)
    if sniffed is None:
        raise DomainError("bad_file_type", "附件只能是 PDF 或 Word 文档。", 415, field="attachment")
    content_type, ext = sniffed
    name = Path(filename or "").name.strip()
    stem = re.sub(r"[\x00-\x1f\\/:*?\"<>|]", "", name.rsplit(".", 1)[0])[:150] or "attachment"
    stored = uploads.store(data, upload_dir, "consultations", ext)
    try:
        async with in_transaction():
            a = await Attachment.create(
                consultation_id=c.id,
                filename=f"{stem}.{ext}",
                content_type=content_type,
                size=len(data),
                stored_name=stored,
                created_at=clock.now(),
            )
            await audit.record(
                "consultation.attachment_added",
                actor,
                target_type="consultation",
                target_id=c.id,
                unit_id=c.unit_id,
            )
    except BaseException:
        uploads.discard(upload_dir, "consultations", stored)
        raise
    return a


async def attachment_file(
    actor: Principal | None, attachment_id: int, upload_dir: Path
) -> tuple[Attachment, Path]:
    a = await Attachment.get_or_none(id=attachment_id)
    if a is None:
        raise NotFound()
    await get_consultation(a.consultation_id, actor)  # type: ignore[attr-defined]
    return a, uploads.stored_path(upload_dir, "consultations", a.stored_name)


async def delete_attachment(actor: Principal | None, attachment_id: int, upload_dir: Path) -> None:
    """The attachment's row goes with an audit entry; its file is removed once that has
    been committed (a refused deletion keeps both)."""
    a = await Attachment.get_or_none(id=attachment_id)
    if a is None:
        raise NotFound()
    c = await _managed(actor, a.consultation_id)  # type: ignore[attr-defined]
    if phase_of(c) in ("closed", "reported"):
        raise Conflict("closed", "征求意见已截止，不能再修改。")
    async with in_transaction():
        await a.delete()
        await audit.record(
            "consultation.attachment_deleted",
            actor,
            target_type="consultation",
            target_id=c.id,
            unit_id=c.unit_id,
        )
    uploads.discard(upload_dir, "consultations", a.stored_name)


async def attachments_of(consultation_id: int) -> list[Attachment]:
    return await Attachment.filter(consultation_id=consultation_id).order_by("id")


# --- comments ------------------------------------------------------------------------


async def submit_comment(
    actor: Principal | None, consultation_id: int, body: Any, section_id: Any = None
) -> Comment:
    """A resident comments on the whole text or a section, during the period only, pre-moderated."""
    actor = require_resident(actor)
    c = await get_consultation(consultation_id)
    if not isinstance(body, str) or not body.strip():
        raise DomainError("empty_comment", "意见内容不能为空。", 422, field="body")
    body = body.strip()
    if len(body) > COMMENT_MAX:
        raise DomainError(
            "comment_too_long", "意见不能超过 %(max)s 个字。", 422, field="body", max=COMMENT_MAX
        )
    if phase_of(c) != "open":
        raise DomainError("outside_period", "不在征求意见期间，不能提交意见。", 422)
    section = None
    if section_id not in (None, ""):
        if isinstance(section_id, str) and section_id.isdigit():
            section_id = int(section_id)
        if not isinstance(section_id, int) or isinstance(section_id, bool):
            raise DomainError(
                "invalid_section", "所选条款不属于此征求意见稿。", 422, field="section_id"
            )
        section = await Section.get_or_none(id=section_id, consultation_id=c.id)
        if section is None:
            raise DomainError(
                "invalid_section", "所选条款不属于此征求意见稿。", 422, field="section_id"
            )
    await limiter().hit("consultation-comment", "200/hour", f"r{actor.id}")
    resident = await accounts.get_resident(actor.id)
    return await Comment.create(
        consultation_id=c.id,
        section=section,
        resident_id=actor.id,
        author_name=resident.name or "",
        body=body,
        status="pending",
        sensitive_hits=sensitive.hits_in(body),
        created_at=clock.now(),
    )


async def published_comments(consultation_id: int) -> list[Comment]:
    await get_consultation(consultation_id)
    return await Comment.filter(consultation_id=consultation_id, status="published").order_by(
        "created_at", "id"
    )


COMMENTS_PER_PAGE = 50
TOP_PER_SECTION = 5


async def comment_overview(consultation_id: int) -> tuple[dict[Any, int], dict[Any, list[Comment]]]:
    """Published comments per section: the count and the most supported few (for the draft page)."""
    from tortoise.functions import Count

    rows = (
        await Comment.filter(consultation_id=consultation_id, status="published")
        .group_by("section_id")
        .annotate(n=Count("id"))
        .values("section_id", "n")
    )
    counts = {row["section_id"]: row["n"] for row in rows}
    top: dict[Any, list[Comment]] = {}
    for section_id in counts:
        query = Comment.filter(consultation_id=consultation_id, status="published")
        query = (
            query.filter(section_id=section_id)
            if section_id
            else query.filter(section_id__isnull=True)
        )
        top[section_id] = await query.order_by("-supports", "id").limit(TOP_PER_SECTION)
    return counts, top


async def comment_page(
    consultation_id: int, section_id: int | None, page: int
) -> tuple[list[Comment], int]:
    """One page of published comments (all, or of one section), oldest first, and the total."""
    await get_consultation(consultation_id)
    query = Comment.filter(consultation_id=consultation_id, status="published")
    if section_id:
        query = query.filter(section_id=section_id)
    total = await query.count()
    page = max(1, page)
    items = (
        await query.order_by("created_at", "id")
        .offset((page - 1) * COMMENTS_PER_PAGE)
        .limit(COMMENTS_PER_PAGE)
    )
    return items, total


def public_comment(comment: Comment) -> dict[str, Any]:
    return {
        "id": comment.id,
        "section_id": comment.section_id,  # type: ignore[attr-defined]
        "body": comment.body,
        "author": mask_name(comment.author_name),
        "supports": comment.supports,
        "created_at": comment.created_at,
    }


async def my_comments(actor: Principal | None) -> list[Comment]:
    actor = require_resident(actor)
    return (
        await Comment.filter(resident_id=actor.id)
        .prefetch_related("consultation", "section")
        .order_by("-created_at", "-id")
    )


async def moderation_queue(actor: Principal | None, limit: int = 200) -> list[Comment]:
    authorize(actor, MODERATORS)
    return (
        await Comment.filter(status="pending")
        .prefetch_related("consultation", "section")
        .order_by("created_at", "id")
        .limit(limit)
    )


async def moderate_comment(
    actor: Principal | None, comment_id: int, decision: Any, reason: Any = ""
) -> Comment:
    """先审后发: a moderator publishes or rejects (with a reason told to the commenter) a pending
    comment, during the period or after the close, until the report is published."""
    actor = authorize(actor, MODERATORS)
    comment = await Comment.get_or_none(id=comment_id)
    if comment is None:
        raise NotFound()
    if decision not in ("publish", "reject"):
        raise DomainError("invalid_decision", "审核结果只能是发布或退回。", 422, field="decision")
    reason = _text(reason, "reason", 500, required=decision == "reject")
    c = await Consultation.get(id=comment.consultation_id)  # type: ignore[attr-defined]
    if c.report_published_at is not None:
        raise Conflict("report_published", "采纳情况已公布，不能再审核。")
    status = "published" if decision == "publish" else "rejected"
    now = clock.now()
    async with in_transaction():
        changed = await Comment.filter(id=comment.id, status="pending").update(
            status=status,
            reject_reason=reason if status == "rejected" else "",
            moderated_at=now,
            moderated_by_id=actor.id,
        )
        if not changed:
            raise Conflict("already_moderated", "这条意见已经审核过了。")
        await audit.record(
            f"comment.{status}",
            actor,
            target_type="comment",
            target_id=comment.id,
            unit_id=c.unit_id,
            reason=reason,
        )
        if status == "rejected":
            resident = await _resident_or_none(comment.resident_id)
            if resident is not None:
                await notify.queue_mail(
                    to=resident.email,
                    template="consultations_rejected",
                    subject=N_("您的意见未通过审核"),
                    context={"consultation": c, "comment": comment, "reason": reason},
                    kind="consultation_rejected",
                )
    comment.status, comment.reject_reason = status, reason if status == "rejected" else ""
    return comment


async def _resident_or_none(resident_id: int) -> Any:
    try:
        return await accounts.get_resident(resident_id)
    except NotFound:
        return None


async def support_comment(actor: Principal | None, comment_id: int) -> int:
    """赞同: once per resident and published comment (unique constraint). Returns the count."""
    actor = require_resident(actor)
    comment = await Comment.get_or_none(id=comment_id, status="published")
    if comment is None:
        raise NotFound()
    try:
        async with in_transaction():
            await CommentSupport.create(
                comment_id=comment.id, resident_id=actor.id, created_at=clock.now()
            )
            await Comment.filter(id=comment.id).update(supports=F("supports") + 1)
    except IntegrityError:
        raise Conflict("already_supported", "您已经赞同过这条意见。") from None
    return await CommentSupport.filter(comment_id=comment.id).count()


async def supported_ids(actor: Principal | None, comment_ids: list[int]) -> set[int]:
    if actor is None or not actor.is_resident or not comment_ids:
        return set()
    rows = await CommentSupport.filter(
        resident_id=actor.id, comment_id__in=comment_ids
    ).values_list("comment_id", flat=True)
    return set(rows)


# --- dispositions and the adoption report ------------------------------------------------


async def dispose_comments(
    actor: Principal | None, comment_ids: list[int], outcome: Any, reason: Any = ""
) -> int:
    """采纳 / 部分采纳 / 不采纳 with a reason, for one comment or a selected group of the same
    consultation, on published comments, until the report is published."""
    actor = authorize(actor, ORGANIZERS)
    if outcome not in OUTCOMES:
        raise DomainError(
            "invalid_outcome", "请选择采纳情况：采纳、部分采纳或不采纳。", 422, field="outcome"
        )
    reason = _text(reason, "reason", 2000, required=outcome != "adopted")
    ids = sorted({int(i) for i in comment_ids})
    if not ids:
        raise DomainError("nothing_selected", "请至少选择一条意见。", 422)
    comments = await Comment.filter(id__in=ids)
    if len(comments) != len(ids):
        raise NotFound()
    consultation_ids = {cm.consultation_id for cm in comments}  # type: ignore[attr-defined]
    if len(consultation_ids) != 1:
        raise DomainError("mixed_consultations", "所选意见须属于同一征求意见稿。", 422)
    c = await _managed(actor, consultation_ids.pop())
    if c.report_published_at is not None:
        raise Conflict("report_published", "采纳情况已公布，不能再修改。")
    if any(cm.status != "published" for cm in comments):
        raise Conflict("not_published", "只能对已发布的意见作出采纳答复。")
    now = clock.now()
    async with in_transaction():
        changed = await Comment.filter(id__in=ids, status="published").update(
            outcome=outcome, outcome_reason=reason, disposed_at=now
        )
        if changed != len(ids):
            raise Conflict("not_published", "只能对已发布的意见作出采纳答复。")
        if await Consultation.filter(id=c.id, report_published_at__isnull=False).exists():
            raise Conflict("report_published", "采纳情况已公布，不能再修改。")
        await audit.record(
            "comment.disposed",
            actor,
            target_type="consultation",
            target_id=c.id,
            unit_id=c.unit_id,
            comments=ids,
            outcome=outcome,
        )
    return changed


async def staff_comments(actor: Principal | None, consultation_id: int) -> list[Comment]:
    c = await _managed(actor, consultation_id)
    return (
        await Comment.filter(consultation_id=c.id)
        .prefetch_related("section")
        .order_by("created_at", "id")
    )


async def publish_report(
    actor: Principal | None, consultation_id: int, summary: Any = ""
) -> Consultation:
    """After the close, with nothing pending and every published comment disposed, once:
    publishes the adoption report and mails every commenter (published or rejected)."""
    c = await _managed(actor, consultation_id)
    summary = _text(summary, "body", 10_000, required=False)
    phase = phase_of(c)
    if phase == "reported":
        raise Conflict("report_published", "采纳情况已经公布过了。")
    if phase != "closed":
        raise Conflict("not_closed", "征求意见期结束后才能公布采纳情况。")
    if await Comment.filter(consultation_id=c.id, status="pending").exists():
        raise Conflict("pending_comments", "还有意见未审核，审核完毕后才能公布采纳情况。")
    if await Comment.filter(
        consultation_id=c.id, status="published", outcome__isnull=True
    ).exists():
        raise Conflict("undisposed_comments", "还有已发布的意见没有采纳答复。")
    now = clock.now()
    async with in_transaction():
        if not await Consultation.filter(id=c.id, report_published_at__isnull=True).update(
            report_published_at=now, report_summary=summary
        ):
            raise Conflict("report_published", "采纳情况已经公布过了。")
        c.report_published_at, c.report_summary = now, summary
        comments = (
            await Comment.filter(consultation_id=c.id).prefetch_related("section").order_by("id")
        )
        by_resident: dict[int, list[Comment]] = {}
        for cm in comments:
            by_resident.setdefault(cm.resident_id, []).append(cm)
        for resident_id, own in by_resident.items():
            resident = await _resident_or_none(resident_id)
            if resident is None:
                continue
            await notify.queue_mail(
                to=resident.email,
                template="consultations_report",
                subject=N_("您提出的意见有了采纳情况反馈"),
                context={"consultation": c, "comments": own, "outcomes": OUTCOMES},
                kind="consultation_report",
            )
        await audit.record(
            "consultation.report_published",
            actor,
            target_type="consultation",
            target_id=c.id,
            unit_id=c.unit_id,
        )
        await _notify_subscribers(c, "report")
    return c


async def report_of(consultation_id: int) -> dict[str, Any]:
    """The published adoption report: counts, a table by section and the disposed comments."""
    c = await Consultation.get_or_none(id=consultation_id)
    if c is None or c.report_published_at is None:
        raise NotFound("采纳情况尚未公布。", code="report_not_published")
    comments = await Comment.filter(consultation_id=c.id).order_by("id")
    sections = await sections_of(c.id)
    counts = {key: 0 for key in OUTCOMES}
    rows: dict[int | None, dict[str, Any]] = {
        None: {"section_id": None, "title": "", "received": 0, **{k: 0 for k in OUTCOMES}}
    }
    for s in sections:
        rows[s.id] = {
            "section_id": s.id,
            "title": s.title,
            "received": 0,
            **{k: 0 for k in OUTCOMES},
        }
    titles = {s.id: s.title for s in sections}
    items = []
    for cm in comments:
        sid = cm.section_id  # type: ignore[attr-defined]
        row = rows.get(sid) or rows[None]
        row["received"] += 1
        if cm.status == "published" and cm.outcome in counts:
            counts[cm.outcome] += 1
            row[cm.outcome] += 1
            items.append(
                {
                    "id": cm.id,
                    "section_id": sid,
                    "section_title": titles.get(sid, ""),
                    "body": cm.body,
                    "author": mask_name(cm.author_name),
                    "outcome": cm.outcome,
                    "reason": cm.outcome_reason,
                }
            )
    by_section = [rows[s.id] for s in sections]
    if rows[None]["received"]:
        by_section.append(rows[None])
    return {
        "received": len(comments),
        "rejected": sum(1 for cm in comments if cm.status == "rejected"),
        **counts,
        "published_at": c.report_published_at,
        "summary": c.report_summary,
        "by_section": by_section,
        "items": items,
    }


EXPORT_HEADER = (
    N_("编号"),
    N_("条款"),
    N_("意见内容"),
    N_("提交人"),
    N_("提交时间"),
    N_("审核状态"),
    N_("退回理由"),
    N_("采纳情况"),
    N_("采纳说明"),
)


async def export_rows(actor: Principal | None, consultation_id: int) -> list[list[Any]]:
    from canyu.core.i18n import gettext as _

    comments = await staff_comments(actor, consultation_id)
    return [
        [
            cm.id,
            cm.section.title if cm.section else _("全文"),
            cm.body,
            mask_name(cm.author_name),
            clock.local(cm.created_at).strftime("%Y-%m-%d %H:%M"),
            _(STATUSES[cm.status]),
            cm.reject_reason,
            _(OUTCOMES[cm.outcome]) if cm.outcome else "",
            cm.outcome_reason,
        ]
        for cm in comments
    ]


# --- FAQ -----------------------------------------------------------------------------


async def faq_of(consultation_id: int) -> list[FaqEntry]:
    return await FaqEntry.filter(consultation_id=consultation_id).order_by("position", "id")


async def add_faq(
    actor: Principal | None, consultation_id: int, question: Any, answer: Any
) -> FaqEntry:
    """Staff write each entry. Subscribers hear about it once the policy is published."""
    c = await _managed(actor, consultation_id)
    question = _text(question, "question", 1000)
    answer = _text(answer, "answer", 10_000)
    async with in_transaction():
        position = await FaqEntry.filter(consultation_id=c.id).count() + 1
        entry = await FaqEntry.create(
            consultation_id=c.id,
            question=question,
            answer=answer,
            position=position,
            created_at=clock.now(),
        )
        await audit.record(
            "faq.created", actor, target_type="consultation", target_id=c.id, unit_id=c.unit_id
        )
        if c.published_at is not None:
            await _notify_subscribers(c, "faq")
    return entry


async def delete_faq(actor: Principal | None, entry_id: int) -> None:
    entry = await FaqEntry.get_or_none(id=entry_id)
    if entry is None:
        raise NotFound()
    c = await _managed(actor, entry.consultation_id)  # type: ignore[attr-defined]
    async with in_transaction():
        await entry.delete()
        await audit.record(
            "faq.deleted", actor, target_type="consultation", target_id=c.id, unit_id=c.unit_id
        )


async def faq_suggestions(actor: Principal | None, consultation_id: int) -> list[similarity.Group]:
    """Groups of similar comments and board questions: candidates for an FAQ entry."""
    c = await _managed(actor, consultation_id)
    items = [
        (f"c{cm.id}", cm.body)
        for cm in await Comment.filter(
            consultation_id=c.id, status__in=["pending", "published"]
        ).limit(2000)
    ]
    items += [
        (f"q{q.id}", q.body) for q in await BoardQuestion.filter(consultation_id=c.id).limit(1000)
    ]
    return similarity.group_similar(items)[:10]


# --- the message board ------------------------------------------------------------------


async def ask_question(actor: Principal | None, consultation_id: int, body: Any) -> BoardQuestion:
    """A question about a published policy, assigned to its unit with a reply deadline."""
    actor = require_resident(actor)
    c = await get_consultation(consultation_id)
    if not isinstance(body, str) or not body.strip():
        raise DomainError("empty_question", "留言内容不能为空。", 422, field="body")
    body = body.strip()
    if len(body) > QUESTION_MAX:
        raise DomainError(
            "question_too_long", "留言不能超过 %(max)s 个字。", 422, field="body", max=QUESTION_MAX
        )
    await limiter().hit("consultation-question", "30/hour", f"r{actor.id}")
    resident = await accounts.get_resident(actor.id)
    return await BoardQuestion.create(
        consultation_id=c.id,
        resident_id=actor.id,
        author_name=resident.name or "",
        body=body,
        unit_id=c.unit_id,
        due_on=workdays.add_workdays(clock.today(), BOARD_REPLY_WORKDAYS),
        created_at=clock.now(),
    )


async def get_question(actor: Principal | None, question_id: int) -> BoardQuestion:
    """Answered questions are public. The asker and staff of the unit see the others."""
    q = await BoardQuestion.get_or_none(id=question_id)
    if q is None:
        raise NotFound()
    if q.answered_at is None:
        mine = actor is not None and actor.is_resident and actor.id == q.resident_id
        # Staff who may answer it: an admin, or an organizer of the assigned unit (a question
        # with no unit belongs to no organizer, as everywhere else).
        staff = (
            actor is not None
            and actor.is_staff
            and (
                actor.role == "admin"
                or (actor.role in ORGANIZERS and actor.unit_id == _owner(q.unit_id))
            )
        )
        if not (mine or staff):
            raise NotFound()
    await q.fetch_related("consultation")
    return q


async def answer_question(actor: Principal | None, question_id: int, answer: Any) -> BoardQuestion:
    """The assigned unit answers (or answers the one follow-up); the asker is mailed."""
    q = await BoardQuestion.get_or_none(id=question_id)
    if q is None:
        raise NotFound()
    actor = authorize(actor, ORGANIZERS, _owner(q.unit_id))
    answer = _text(answer, "answer", 5000)
    now = clock.now()
    async with in_transaction():
        if q.answered_at is None:
            changed = await BoardQuestion.filter(id=q.id, answered_at__isnull=True).update(
                answer=answer, answered_at=now, answered_by_id=actor.id
            )
            follow = False
        else:
            changed = await BoardQuestion.filter(
                id=q.id, follow_up_at__isnull=False, follow_up_answered_at__isnull=True
            ).update(follow_up_answer=answer, follow_up_answered_at=now)
            follow = True
        if not changed:
            raise Conflict("already_answered", "这条留言已经答复过了。")
        await audit.record(
            "board.answered", actor, target_type="board_question", target_id=q.id, unit_id=q.unit_id
        )
        resident = await _resident_or_none(q.resident_id)
        if resident is not None:
            await notify.queue_mail(
                to=resident.email,
                template="consultations_answer",
                subject=N_("您在政策留言板的留言已答复"),
                context={"question": q, "answer": answer, "follow_up": follow},
                kind="board_answer",
            )
    return await BoardQuestion.get(id=q.id)


async def rate_answer(actor: Principal | None, question_id: int, rating: Any) -> None:
    """The asker rates the answer once: 满意 / 基本满意 / 不满意."""
    actor = require_resident(actor)
    q = await BoardQuestion.get_or_none(id=question_id, resident_id=actor.id)
    if q is None:
        raise NotFound()
    if rating not in RATINGS:
        raise DomainError("invalid_rating", "请选择满意、基本满意或不满意。", 422, field="rating")
    if q.answered_at is None:
        raise Conflict("not_answered", "留言尚未答复。")
    if not await BoardQuestion.filter(id=q.id, rating__isnull=True).update(rating=rating):
        raise Conflict("already_rated", "您已经评价过了。")


async def follow_up_question(actor: Principal | None, question_id: int, text: Any) -> None:
    """The asker may follow up once after the answer; a new reply deadline starts."""
    actor = require_resident(actor)
    q = await BoardQuestion.get_or_none(id=question_id, resident_id=actor.id)
    if q is None:
        raise NotFound()
    if not isinstance(text, str) or not text.strip():
        raise DomainError("empty_question", "留言内容不能为空。", 422, field="follow_up")
    text = text.strip()
    if len(text) > QUESTION_MAX:
        raise DomainError(
            "question_too_long",
            "留言不能超过 %(max)s 个字。",
            422,
            field="follow_up",
            max=QUESTION_MAX,
        )
    if q.answered_at is None:
        raise Conflict("not_answered", "留言尚未答复。")
    if not await BoardQuestion.filter(id=q.id, follow_up_at__isnull=True).update(
        follow_up=text,
        follow_up_at=clock.now(),
        due_on=workdays.add_workdays(clock.today(), BOARD_REPLY_WORKDAYS),
    ):
        raise Conflict("follow_up_used", "每条留言只能追问一次。")


async def assign_question(actor: Principal | None, question_id: int, unit_name: Any) -> None:
    """Admins reassign a question to another unit."""
    actor = authorize(actor, ("admin",))
    q = await BoardQuestion.get_or_none(id=question_id)
    if q is None:
        raise NotFound()
    units = {u.name: u.id for u in await accounts.list_units()}
    if unit_name not in units:
        raise DomainError("invalid_unit", "请选择承办单位。", 422, field="unit")
    async with in_transaction():
        await BoardQuestion.filter(id=q.id).update(unit_id=units[unit_name])
        await audit.record(
            "board.assigned",
            actor,
            target_type="board_question",
            target_id=q.id,
            unit_id=units[unit_name],
        )


def question_waiting(q: BoardQuestion) -> bool:
    return q.answered_at is None or (q.follow_up_at is not None and q.follow_up_answered_at is None)


def question_overdue(q: BoardQuestion, today: date | None = None) -> bool:
    return question_waiting(q) and (today or clock.today()) > q.due_on


def _unit_questions(actor: Principal | None, *, overdue_only: bool) -> QuerySet[BoardQuestion]:
    """The board questions the actor's unit answers (every unit's for an admin; the overdue
    ones are an admin's list)."""
    actor = authorize(actor, ORGANIZERS)
    if overdue_only:
        authorize(actor, ("admin",))
    query = BoardQuestion.all()
    if actor.role != "admin":
        query = query.filter(unit_id=actor.unit_id)
    return query


async def staff_questions(
    actor: Principal | None, *, overdue_only: bool = False
) -> list[BoardQuestion]:
    query = _unit_questions(actor, overdue_only=overdue_only)
    items = await query.prefetch_related("consultation").order_by("due_on", "id")
    today = clock.today()
    if overdue_only:
        return [q for q in items if question_overdue(q, today)]
    return items


async def waiting_for_moderation(actor: Principal | None) -> int:
    """Comments waiting for a moderator (the staff home's count)."""
    authorize(actor, MODERATORS)
    return await Comment.filter(status="pending").count()


async def waiting_questions(actor: Principal | None, *, overdue_only: bool = False) -> int:
    """Board questions (and follow-ups) waiting for an answer from the actor's unit (every
    unit for an admin), or only those past their due day."""
    waiting = question_overdue if overdue_only else question_waiting  # overdue implies waiting
    return sum(1 for q in await _unit_questions(actor, overdue_only=overdue_only) if waiting(q))


async def public_questions(
    consultation_id: int | None = None, limit: int = 100
) -> list[BoardQuestion]:
    query = BoardQuestion.filter(answered_at__isnull=False)
    if consultation_id is not None:
        query = query.filter(consultation_id=consultation_id)
    return await query.prefetch_related("consultation").order_by("-answered_at").limit(limit)


async def my_questions(actor: Principal | None) -> list[BoardQuestion]:
    actor = require_resident(actor)
    return (
        await BoardQuestion.filter(resident_id=actor.id)
        .prefetch_related("consultation")
        .order_by("-created_at")
    )


async def unit_names() -> dict[int, str]:
    return {u.id: u.name for u in await accounts.list_units()}


# --- subscriptions -------------------------------------------------------------------


def unsubscribe_token(subscription_id: int) -> str:
    return keyed_hash("consultation-unsubscribe", str(subscription_id))[:32]


def unsubscribe_path(subscription_id: int) -> str:
    return f"/subscriptions/unsubscribe/{subscription_id}/{unsubscribe_token(subscription_id)}"


async def subscription_of(actor: Principal | None) -> Subscription | None:
    actor = require_resident(actor)
    return await Subscription.get_or_none(resident_id=actor.id)


async def save_subscription(
    actor: Principal | None, topics: Any, audiences: Any, mode: Any
) -> Subscription:
    """Subscribe (or change) to topics and audiences, mailed at once or as a daily digest."""
    actor = require_resident(actor)
    topics = _clean_list(topics, None, "topics")
    audiences = _clean_list(audiences, AUDIENCES, "audiences")
    if mode not in ("immediate", "daily"):
        raise DomainError("invalid_mode", "请选择即时提醒或每日汇总。", 422, field="mode")
    resident = await accounts.get_resident(actor.id)
    values = {
        "topics": topics,
        "audiences": audiences,
        "mode": mode,
        "active": True,
        "unsubscribed_at": None,
        "email": resident.email,
    }
    if not await Subscription.filter(resident_id=actor.id).update(**values):
        try:
            await Subscription.create(resident_id=actor.id, created_at=clock.now(), **values)
        except IntegrityError:
            await Subscription.filter(resident_id=actor.id).update(**values)
    return await Subscription.get(resident_id=actor.id)


def check_unsubscribe_token(subscription_id: int, token: str) -> None:
    import hmac

    if not hmac.compare_digest(token.encode(), unsubscribe_token(subscription_id).encode()):
        raise Forbidden("退订链接无效。", code="invalid_token")


async def unsubscribe(subscription_id: int, token: str) -> bool:
    """The signed link's button: stops every mail of this subscription. The moment is kept
    (a second click does not move it): the retention purge deletes the subscription, and the
    address it holds, a retention period later."""
    check_unsubscribe_token(subscription_id, token)
    if await Subscription.filter(id=subscription_id, active=True).update(
        active=False, unsubscribed_at=clock.now()
    ):
        return True
    return await Subscription.exists(id=subscription_id)


def _matches(sub: Subscription, c: Consultation) -> bool:
    if not sub.topics and not sub.audiences:
        return True
    return bool(set(sub.topics or []) & set(c.topics or [])) or bool(
        set(sub.audiences or []) & set(c.audiences or [])
    )


_EVENT_LINES = {
    "opened": N_("开始征求意见：%(title)s"),
    "report": N_("公布意见采纳情况：%(title)s"),
    "faq": N_("更新常见问题解答：%(title)s"),
}


async def _notify_subscribers(c: Consultation, event: str) -> int:
    """Inside the caller's transaction: immediate mail or a digest item per matching subscriber."""
    from canyu.core.i18n import gettext as _

    path = f"/consultations/{c.id}" + (
        "/report" if event == "report" else "#faq" if event == "faq" else ""
    )
    line = _(_EVENT_LINES[event], title=c.title)[:300]
    count = 0
    for sub in await Subscription.filter(active=True):
        if not _matches(sub, c):
            continue
        count += 1
        if sub.mode == "daily":
            await DigestItem.create(subscription=sub, line=line, path=path, created_at=clock.now())
        else:
            await notify.queue_mail(
                to=sub.email,
                template="consultations_notice",
                subject=N_("政策订阅提醒"),
                context={"lines": [(line, path)], "unsubscribe": unsubscribe_path(sub.id)},
                kind="consultation_subscription",
            )
    return count


async def send_daily_digests() -> int:
    """Scheduler job: one mail per subscriber with the notices of the days before today."""
    cutoff = clock.local_midnight(clock.today())
    sent = 0
    sub_ids = set(
        await DigestItem.filter(sent_at__isnull=True, created_at__lt=cutoff).values_list(
            "subscription_id", flat=True
        )
    )
    for sub_id in sorted(sub_ids):
        async with in_transaction():
            items = await DigestItem.filter(
                subscription_id=sub_id, sent_at__isnull=True, created_at__lt=cutoff
            ).order_by("id")
            ids = [i.id for i in items]
            if not ids or await DigestItem.filter(id__in=ids, sent_at__isnull=True).update(
                sent_at=clock.now()
            ) != len(ids):
                continue
            sub = await Subscription.get(id=sub_id)
            if not sub.active:
                continue
            await notify.queue_mail(
                to=sub.email,
                template="consultations_notice",
                subject=N_("政策订阅每日汇总"),
                context={
                    "lines": [(i.line, i.path) for i in items],
                    "unsubscribe": unsubscribe_path(sub.id),
                },
                kind="consultation_digest",
            )
            sent += 1
    return sent


@dataclass
class Overview:
    consultation: Consultation
    phase: str
    pending: int
    published: int
    rejected: int
    undisposed: int


async def overview(c: Consultation) -> Overview:
    counts = {"pending": 0, "published": 0, "rejected": 0}
    for status in counts:
        counts[status] = await Comment.filter(consultation_id=c.id, status=status).count()
    undisposed = await Comment.filter(
        consultation_id=c.id, status="published", outcome__isnull=True
    ).count()
    return Overview(
        c, phase_of(c), counts["pending"], counts["published"], counts["rejected"], undisposed
    )
