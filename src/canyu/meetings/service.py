"""The rules of decision meetings: the call, applications, review, the verifiable draw,
invitations with alternates, check-in and suggestions tracked to an answer."""

from __future__ import annotations

import asyncio
import logging
import secrets
from datetime import date, datetime, timedelta
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.queryset import QuerySet
from tortoise.transactions import in_transaction

from canyu.audit import service as audit
from canyu.core import clock, i18n, masking
from canyu.core.districts import is_district
from canyu.core.errors import Conflict, DomainError, NotFound
from canyu.core.i18n import N_
from canyu.core.permissions import Principal, authorize, require_resident
from canyu.meetings import selection
from canyu.meetings.models import Application, Invitation, Meeting, Suggestion, Topic
from canyu.notify import service as notify

log = logging.getLogger("canyu.meetings")

ORGANIZERS = frozenset({"organizer", "admin"})
CATEGORIES = ("市民", "企业", "专家", "媒体")
GENDERS = ("男", "女")
#: Shown through gettext in forms (the stored values stay Chinese).
VALUE_LABELS = (N_("市民"), N_("企业"), N_("专家"), N_("媒体"), N_("男"), N_("女"))
AGE_BANDS = ("18-29", "30-44", "45-59", "60+")
FEATURE_LABELS = {
    "category": N_("类别"),
    "gender": N_("性别"),
    "district": N_("街镇"),
    "age_band": N_("年龄段"),
}
SUGGESTION_STATUSES = {
    "processing": N_("办理中"),
    "adopted": N_("已采纳"),
    "partly_adopted": N_("部分采纳"),
    "not_adopted": N_("未采纳"),
}
APPLICATION_STATUSES = {
    "submitted": N_("已提交"),
    "qualified": N_("资格审查通过"),
    "rejected": N_("未通过资格审查"),
    "withdrawn": N_("已撤回"),
}
INVITATION_STATUSES = {
    "invited": N_("待确认"),
    "accepted": N_("已确认参会"),
    "declined": N_("已谢绝"),
    "expired": N_("逾期未确认"),
}
COMMITMENT_STATUSES = {
    "none": N_("尚未开始"),
    "computing": N_("计算中"),
    "ready": N_("已公示"),
    "failed": N_("计算失败"),
}
#: Why an invitation was declined without an answer: the applicant deleted the account (after
#: the pool was frozen, so the application stays in the published draw), and nobody is left to
#: invite or to mail. Written to the audit entry of the decline.
DECLINED_ACCOUNT_DELETED = "account_deleted"
audit.register_labels({"meeting.invitation_declined": N_("邀请视为谢绝（报名者已注销账号）")})
_TASKS: set[asyncio.Task] = set()
#: The legacy fallback runs its m greedy draws under a longer limit than the maximin budget:
#: it is the last resort, and it is linear in the pool size.
LEGACY_BUDGET_FACTOR = 4


# --- helpers -------------------------------------------------------------------------


def _text(data: dict, key: str, max_len: int, required: bool = True, label: str = "") -> str:
    value = data.get(key)
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise DomainError("invalid_request", "字段 %(name)s 应为文本。", 422, field=key, name=key)
    value = value.strip()
    if required and not value:
        raise DomainError("required", "请填写%(label)s。", 422, field=key, label=label or key)
    if len(value) > max_len:
        raise DomainError(
            "too_long",
            "%(label)s太长（最多 %(max)s 字）。",
            422,
            field=key,
            label=label or key,
            max=max_len,
        )
    return value


def _int(data: dict, key: str, label: str, low: int, high: int) -> int:
    value = data.get(key)
    if isinstance(value, bool):
        value = None
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        value = int(value.strip())
    if not isinstance(value, int):
        raise DomainError("invalid_number", "%(label)s应为整数。", 422, field=key, label=label)
    if value < low or value > high:
        raise DomainError(
            "out_of_range",
            "%(label)s应在 %(low)s 到 %(high)s 之间。",
            422,
            field=key,
            label=label,
            low=low,
            high=high,
        )
    return value


def _moment(data: dict, key: str, label: str) -> datetime:
    value = data.get(key)
    if isinstance(value, str) and value.strip():
        raw = value.strip()
        try:
            value = datetime.fromisoformat(raw)
        except ValueError:
            raise DomainError(
                "invalid_datetime", "%(label)s不是有效的时间。", 422, field=key, label=label
            ) from None
        if value.tzinfo is None:  # a form's local time: Asia/Shanghai
            value = value.replace(tzinfo=clock.zone())
    if not isinstance(value, datetime):
        raise DomainError(
            "invalid_datetime", "%(label)s不是有效的时间。", 422, field=key, label=label
        )
    if value.tzinfo is None:
        value = value.replace(tzinfo=clock.zone())
    return value


def _flag(value: Any) -> bool:
    return value is True or value in ("1", "on", "true", "yes")


def validate_quotas(raw: Any, seats: int) -> dict:
    """``{"FEATURE": {"VALUE": {"min", "max"}}}`` with known features and values."""
    if raw in (None, ""):
        return {}
    if not isinstance(raw, dict):
        raise DomainError("invalid_quotas", "配额格式无效。", 422, field="quotas")
    quotas: dict[str, dict[str, dict[str, int]]] = {}
    for feature, values in raw.items():
        if feature not in selection.FEATURES:
            raise DomainError(
                "invalid_quotas",
                "未知的配额维度：%(feature)s。",
                422,
                field="quotas",
                feature=str(feature)[:20],
            )
        if not isinstance(values, dict):
            raise DomainError("invalid_quotas", "配额格式无效。", 422, field="quotas")
        quotas[feature] = {}
        for value, bounds in values.items():
            if not _valid_value(feature, value):
                raise DomainError(
                    "invalid_quotas",
                    "配额维度 %(feature)s 没有取值 %(value)s。",
                    422,
                    field="quotas",
                    feature=feature,
                    value=str(value)[:20],
                )
            if not isinstance(bounds, dict) or set(bounds) - {"min", "max"}:
                raise DomainError("invalid_quotas", "配额格式无效。", 422, field="quotas")
            low = bounds.get("min", 0)
            high = bounds.get("max", seats)
            if (
                not all(
                    isinstance(x, int) and not isinstance(x, bool) and x >= 0 for x in (low, high)
                )
                or low > high
            ):
                raise DomainError(
                    "invalid_quotas",
                    "配额 %(feature)s=%(value)s 的最少、最多人数无效。",
                    422,
                    field="quotas",
                    feature=feature,
                    value=value,
                )
            quotas[feature][value] = {"min": low, "max": high}
    return quotas


def _valid_value(feature: str, value: Any) -> bool:
    if feature == "category":
        return value in CATEGORIES
    if feature == "gender":
        return value in GENDERS
    if feature == "age_band":
        return value in AGE_BANDS
    return isinstance(value, str) and is_district(value)


def age_band(birth_year: int, on: date) -> str:
    age = on.year - birth_year
    if age < 30:
        return "18-29"
    if age < 45:
        return "30-44"
    if age < 60:
        return "45-59"
    return "60+"


def reachable(application: Application) -> bool:
    """An application still linked to an account and holding an address. One whose author
    deleted the account (``resident_id`` below zero, the email cleared) or whose personal data
    was purged cannot be invited, reviewed or mailed."""
    return application.resident_id > 0 and bool(application.email)


def close_day(meeting: Meeting) -> date:
    return clock.local(meeting.applications_close_at).date()


async def get_meeting(meeting_id: int) -> Meeting:
    meeting = await Meeting.get_or_none(id=meeting_id)
    if meeting is None:
        raise NotFound("找不到这次会议。")
    return meeting


async def _own_meeting(actor: Principal | None, meeting_id: int) -> tuple[Principal, Meeting]:
    meeting = await get_meeting(meeting_id)
    return authorize(actor, ORGANIZERS, meeting.unit_id), meeting


def is_open(meeting: Meeting, now: datetime | None = None) -> bool:
    now = now or clock.now()
    return meeting.applications_open_at <= now < meeting.applications_close_at


# --- meetings ------------------------------------------------------------------------


async def create_meeting(actor: Principal | None, data: dict) -> Meeting:
    """An organizer creates a meeting; the window must close at least a day before it meets."""
    actor = authorize(actor, ORGANIZERS)
    title = _text(data, "title", 200, label="会议名称")
    meets_at = _moment(data, "meets_at", "会议时间")
    opens = _moment(data, "applications_open_at", "报名开始时间")
    closes = _moment(data, "applications_close_at", "报名截止时间")
    if closes <= opens:
        raise DomainError(
            "invalid_window", "报名截止时间必须晚于开始时间。", 422, field="applications_close_at"
        )
    if closes > meets_at - timedelta(days=1):
        raise DomainError(
            "window_too_late", "报名须在会议前至少一天截止。", 422, field="applications_close_at"
        )
    seats = _int(data, "seats", "列席名额", 1, 200)
    alternates = _int({"alternates": data.get("alternates", 0)}, "alternates", "候补名额", 0, 200)
    quotas = validate_quotas(data.get("quotas"), seats)
    raw_topics = data.get("topics") or []
    if not isinstance(raw_topics, list):
        raise DomainError("invalid_topics", "议题格式无效。", 422, field="topics")
    topics = []
    for item in raw_topics:
        if isinstance(item, str):
            item = {"title": item}
        if not isinstance(item, dict):
            raise DomainError("invalid_topics", "议题格式无效。", 422, field="topics")
        topics.append(
            (
                _text(item, "title", 200, label="议题"),
                _text(item, "materials", 20000, required=False),
            )
        )
    reselect = data.get("reselect_months", 12)
    reselect = _int({"r": reselect}, "r", "再次入选间隔（月）", 0, 120)
    async with in_transaction():
        meeting = await Meeting.create(
            title=title,
            summary=_text(data, "summary", 20000, required=False),
            location=_text(data, "location", 200, required=False),
            unit_id=actor.unit_id,
            meets_at=meets_at,
            applications_open_at=opens,
            applications_close_at=closes,
            seats=seats,
            alternates=alternates,
            quotas=quotas,
            eligibility=_text(data, "eligibility", 5000, required=False)
            or "年满 18 周岁，在浦东新区居住或工作，与议题无利益冲突。",
            seed_source=_text(data, "seed_source", 1000, required=False)
            or "抽签当日中国福利彩票“双色球”最近一期开奖号码（按开奖顺序，以空格分隔）。",
            reselect_months=reselect,
            created_by_id=actor.id,
            created_at=clock.now(),
        )
        for position, (topic_title, materials) in enumerate(topics):
            await Topic.create(
                meeting=meeting, position=position, title=topic_title, materials=materials
            )
        await audit.record(
            "meeting.created",
            actor,
            target_type="meeting",
            target_id=meeting.id,
            unit_id=meeting.unit_id,
        )
    return meeting


async def update_decision_summary(actor: Principal | None, meeting_id: int, summary: str) -> None:
    actor, meeting = await _own_meeting(actor, meeting_id)
    text = _text({"s": summary}, "s", 20000, required=False)
    async with in_transaction():
        await Meeting.filter(id=meeting.id).update(decision_summary=text)
        await audit.record(
            "meeting.decision_summary",
            actor,
            target_type="meeting",
            target_id=meeting.id,
            unit_id=meeting.unit_id,
        )


async def update_quotas(actor: Principal | None, meeting_id: int, raw: Any) -> Meeting:
    """Quotas may change until the pool is frozen (or after a failed computation)."""
    actor, meeting = await _own_meeting(actor, meeting_id)
    if meeting.commitment_status not in ("none", "failed"):
        raise Conflict("pool_frozen", "候选名单已冻结，不能再修改配额。")
    quotas = validate_quotas(raw, meeting.seats)
    async with in_transaction():
        changed = await Meeting.filter(
            id=meeting.id, commitment_status__in=("none", "failed")
        ).update(quotas=quotas)
        if not changed:
            raise Conflict("pool_frozen", "候选名单已冻结，不能再修改配额。")
        await audit.record(
            "meeting.quotas_changed",
            actor,
            target_type="meeting",
            target_id=meeting.id,
            unit_id=meeting.unit_id,
            quotas=quotas,
        )
    return await get_meeting(meeting.id)


async def list_meetings(only_open: bool = False) -> list[Meeting]:
    query = Meeting.filter(published=True)
    if only_open:
        now = clock.now()
        query = query.filter(applications_open_at__lte=now, applications_close_at__gt=now)
    return await query.order_by("-meets_at").limit(100)


async def topics_of(meeting: Meeting) -> list[Topic]:
    return await Topic.filter(meeting_id=meeting.id).order_by("position", "id")


async def meeting_json(meeting: Meeting) -> dict:
    topics = await topics_of(meeting)
    return {
        "id": meeting.id,
        "title": meeting.title,
        "summary": meeting.summary,
        "location": meeting.location,
        "meets_at": meeting.meets_at,
        "applications_open_at": meeting.applications_open_at,
        "applications_close_at": meeting.applications_close_at,
        "seats": meeting.seats,
        "alternates": meeting.alternates,
        "quotas": meeting.quotas,
        "eligibility": meeting.eligibility,
        "seed_source": meeting.seed_source,
        "reselect_months": meeting.reselect_months,
        "topics": [{"id": t.id, "title": t.title, "materials": t.materials} for t in topics],
        "commitment_status": meeting.commitment_status,
        "drawn": meeting.record is not None,
        "decision_summary": meeting.decision_summary,
    }


# --- applications --------------------------------------------------------------------

APPLICATION_FIELDS = (
    "name",
    "gender",
    "birth_year",
    "district",
    "occupation",
    "category",
    "reason",
)


def _application_values(meeting: Meeting, data: dict) -> dict:
    values = {
        "name": _text(data, "name", 50, label="姓名"),
        "occupation": _text(data, "occupation", 100, label="职业"),
        "reason": _text(data, "reason", 2000, label="报名理由"),
    }
    gender = data.get("gender")
    if gender not in GENDERS:
        raise DomainError("invalid_gender", "请选择性别。", 422, field="gender")
    category = data.get("category")
    if category not in CATEGORIES:
        raise DomainError(
            "invalid_category", "请选择报名类别（市民、企业、专家或媒体）。", 422, field="category"
        )
    district = data.get("district")
    if not isinstance(district, str) or not is_district(district):
        raise DomainError(
            "invalid_district", "请选择浦东新区的街镇（居住或工作所在地）。", 422, field="district"
        )
    this_year = clock.today().year
    birth_year = _int(data, "birth_year", "出生年份", 1900, this_year)
    if close_day(meeting).year - birth_year < 18:
        raise DomainError("under_age", "报名者须年满 18 周岁。", 422, field="birth_year")
    values.update(gender=gender, category=category, district=district, birth_year=birth_year)
    return values


def _check_window(meeting: Meeting) -> None:
    now = clock.now()
    if now < meeting.applications_open_at:
        raise DomainError("not_open", "报名尚未开始。", 422)
    if now >= meeting.applications_close_at:
        raise DomainError("closed", "报名已截止。", 422)


async def apply(
    actor: Principal | None, meeting_id: int, data: dict, email: str = ""
) -> Application:
    """A resident applies once per meeting, inside the window, ≥18, with declaration and consent."""
    me = require_resident(actor)
    meeting = await get_meeting(meeting_id)
    _check_window(meeting)
    values = _application_values(meeting, data)
    if not _flag(data.get("no_conflict")):
        raise DomainError(
            "no_declaration", "请声明与会议议题无利益冲突。", 422, field="no_conflict"
        )
    if not _flag(data.get("consent")):
        raise DomainError(
            "no_consent", "请阅读个人信息处理告知并同意后再提交。", 422, field="consent"
        )
    if not email:
        from canyu.accounts import service as accounts

        email = (await accounts.get_resident(me.id)).email
    now = clock.now()
    try:
        async with in_transaction():
            application = await Application.create(
                meeting=meeting,
                resident_id=me.id,
                email=email,
                no_conflict=True,
                consent=True,
                keep_in_pool=_flag(data.get("keep_in_pool")),
                created_at=now,
                updated_at=now,
                **values,
            )
    except IntegrityError:
        raise Conflict(
            "already_applied", "您已报名这次会议，可在“我的报名”中修改或撤回。"
        ) from None
    return application


async def my_application(actor: Principal | None, meeting_id: int) -> Application | None:
    if actor is None or not actor.is_resident:
        return None
    return await Application.get_or_none(meeting_id=meeting_id, resident_id=actor.id)


async def _owned_application(actor: Principal | None, application_id: int) -> Application:
    me = require_resident(actor)
    application = await Application.get_or_none(id=application_id).prefetch_related("meeting")
    if application is None or application.resident_id != me.id:
        raise NotFound("找不到这份报名。")
    return application


async def own_application(actor: Principal | None, application_id: int) -> Application:
    return await _owned_application(actor, application_id)


async def update_application(
    actor: Principal | None, application_id: int, data: dict
) -> Application:
    """Editable until the close; a reviewed application goes back to review."""
    application = await _owned_application(actor, application_id)
    _check_window(application.meeting)
    if application.status == "withdrawn":
        raise Conflict("withdrawn", "这份报名已撤回。")
    values = _application_values(application.meeting, data)
    values["keep_in_pool"] = _flag(data.get("keep_in_pool"))
    await Application.filter(id=application.id).update(
        **values, status="submitted", review_reason="", reviewed_at=None, updated_at=clock.now()
    )
    return await Application.get(id=application.id)


async def withdraw_application(actor: Principal | None, application_id: int) -> None:
    application = await _owned_application(actor, application_id)
    _check_window(application.meeting)
    await Application.filter(id=application.id).update(status="withdrawn", updated_at=clock.now())


async def list_applications(actor: Principal | None, meeting_id: int) -> list[Application]:
    await _own_meeting(actor, meeting_id)
    return await Application.filter(meeting_id=meeting_id).order_by("id")


async def review(
    actor: Principal | None, application_id: int, decision: str, reason: str = ""
) -> Application:
    """资格审查: qualified or rejected (a rejection needs a reason); the applicant is mailed."""
    application = await Application.get_or_none(id=application_id).prefetch_related("meeting")
    if application is None:
        raise NotFound("找不到这份报名。")
    actor = authorize(actor, ORGANIZERS, application.meeting.unit_id)
    if decision not in ("qualified", "rejected"):
        raise DomainError("invalid_decision", "审查结论只能是通过或不通过。", 422, field="decision")
    reason = _text(
        {"reason": reason or ""}, "reason", 1000, required=decision == "rejected", label="理由"
    )
    if application.status == "withdrawn":
        raise Conflict("withdrawn", "这份报名已撤回。")
    if not reachable(application):
        raise Conflict(
            "applicant_deleted", "报名者已注销账号，个人信息已删除，不能再审查这份报名。"
        )
    if (
        application.meeting.commitment_status != "none"
        and application.meeting.commitment_status != "failed"
    ):
        raise Conflict("pool_frozen", "候选名单已冻结，不能再修改审查结论。")
    async with in_transaction():
        await Application.filter(id=application.id).update(
            status=decision, review_reason=reason, reviewed_at=clock.now()
        )
        await audit.record(
            "meeting.application_reviewed",
            actor,
            target_type="application",
            target_id=application.id,
            unit_id=application.meeting.unit_id,
            decision=decision,
        )
        await notify.queue_mail(
            to=application.email,
            template="meetings_reviewed",
            subject=N_("列席会议报名资格审查结果"),
            context={
                "name": application.name,
                "meeting": application.meeting,
                "decision": decision,
                "reason": reason,
            },
            kind="meetings_reviewed",
        )
    application.status = decision
    application.review_reason = reason
    return application


# --- the pool, the commitment and the draw --------------------------------------------


async def frozen_pool(meeting: Meeting) -> tuple[list[dict], list[int]]:
    """Pseudonymous rows of the qualified applications, minus those selected too recently."""
    qualified = await Application.filter(meeting_id=meeting.id, status="qualified").order_by("id")
    excluded: list[int] = []
    recent: set[int] = set()
    if meeting.reselect_months > 0 and qualified:
        since = meeting.meets_at - timedelta(days=30 * meeting.reselect_months)
        rows = (
            await Invitation.filter(
                status="accepted",
                meeting__meets_at__gte=since,
                meeting__meets_at__lt=meeting.meets_at,
            )
            .exclude(meeting_id=meeting.id)
            .values_list("application__resident_id", flat=True)
        )
        recent = set(rows)
    day = close_day(meeting)
    pool = []
    for app in qualified:
        if app.resident_id in recent:
            excluded.append(app.id)
            continue
        pool.append(
            {
                "id": app.id,
                "category": app.category,
                "gender": app.gender,
                "district": app.district,
                "age_band": age_band(app.birth_year, day),
            }
        )
    return pool, excluded


#: What each kind of quota problem (``selection.quota_problems``) tells the organizer; the
#: message's parameters come from the problem, with the feature's label.
_PROBLEM_MESSAGES = {
    "pool_too_small": N_("合格报名者 %(pool)s 人，少于列席名额 %(seats)s 人，不能抽签。"),
    "not_enough": N_("配额“%(label)s=%(value)s”至少 %(min)s 人，但合格报名者中只有 %(have)s 人。"),
    "min_sum": N_("“%(label)s”各取值的最少人数合计 %(sum)s 人，超过列席名额 %(seats)s 人。"),
    "max_sum": N_("“%(label)s”各取值最多只能选出 %(sum)s 人，少于列席名额 %(seats)s 人。"),
    "min_above_max": N_("配额“%(label)s=%(value)s”的最少人数 %(min)s 大于最多人数 %(max)s。"),
}


def _problem_error(problem: dict) -> DomainError:
    message = _PROBLEM_MESSAGES.get(problem["kind"])
    if message is None:
        return DomainError("infeasible_quotas", "配额无法满足。", 422)
    feature = problem.get("feature", "")
    params = {key: value for key, value in problem.items() if key != "kind"}
    if "value" in params:  # 男, 市民 …: shown in the reader's language like the label
        params["value"] = i18n.gettext(str(params["value"]))
    return DomainError(
        "infeasible_quotas", message, 422,
        label=i18n.gettext(FEATURE_LABELS.get(feature, feature)), **params
    )


async def start_commitment(
    actor: Principal | None, meeting_id: int, time_budget: float, wait: bool = False
) -> Meeting:
    """After the close: freeze the pool, refuse unmeetable quotas, compute the lottery in its own process."""  # noqa: E501
    actor, meeting = await _own_meeting(actor, meeting_id)
    if clock.now() < meeting.applications_close_at:
        raise DomainError("not_closed", "报名截止后才能冻结候选名单并公示。", 409)
    if meeting.commitment_status not in ("none", "failed"):
        raise Conflict("commitment_exists", "候选名单已冻结，承诺正在计算或已公示。")
    pool, excluded = await frozen_pool(meeting)
    problems = selection.quota_problems(pool, meeting.quotas, meeting.seats)
    if problems:
        raise _problem_error(problems[0])
    async with in_transaction():
        changed = await Meeting.filter(
            id=meeting.id, commitment_status__in=("none", "failed")
        ).update(
            commitment_status="computing",
            commitment_error="",
            commitment_started_at=clock.now(),
            commitment={"pool": pool, "excluded": excluded},
        )
        if not changed:
            raise Conflict("commitment_exists", "候选名单已冻结，承诺正在计算或已公示。")
        await audit.record(
            "meeting.pool_frozen",
            actor,
            target_type="meeting",
            target_id=meeting.id,
            unit_id=meeting.unit_id,
            pool=len(pool),
        )
    job = _compute_commitment(
        meeting.id, pool, meeting.quotas, meeting.seats, meeting.alternates, time_budget
    )
    if wait:
        await job
    else:
        task = asyncio.create_task(job)
        _TASKS.add(task)
        task.add_done_callback(_TASKS.discard)
    return await get_meeting(meeting.id)


async def _compute_commitment(
    meeting_id: int, pool: list[dict], quotas: dict, seats: int, alternates: int, budget: float
) -> None:
    fallback_from = None
    try:
        try:
            panels = await asyncio.to_thread(
                selection.compute_in_subprocess,
                pool,
                quotas,
                seats,
                "maximin",
                selection.DEFAULT_PANELS,
                budget,
            )
            algorithm = "maximin"
        except TimeoutError:
            log.warning("maximin exceeded %s s for meeting %s: legacy fallback", budget, meeting_id)
            fallback_from = "maximin"
            algorithm = "legacy"
            panels = await asyncio.to_thread(
                selection.compute_in_subprocess,
                pool,
                quotas,
                seats,
                "legacy",
                selection.DEFAULT_PANELS,
                LEGACY_BUDGET_FACTOR * budget,
            )
        commitment = selection.build_commitment(
            meeting_id, pool, quotas, seats, alternates, algorithm, panels, fallback_from
        )
        excluded = (await Meeting.get(id=meeting_id)).commitment or {}
        commitment["excluded_recently_selected"] = excluded.get("excluded", [])
        await Meeting.filter(id=meeting_id, commitment_status="computing").update(
            commitment_status="ready", commitment=commitment
        )
    except Exception as exc:
        log.exception("commitment of meeting %s failed", meeting_id)
        detail = str(exc)
        if "Infeasible" in detail:
            detail = "配额无法同时满足，请调整配额后重新开始。" + detail
        await Meeting.filter(id=meeting_id, commitment_status="computing").update(
            commitment_status="failed", commitment_error=detail[:2000]
        )


def commitment_json(meeting: Meeting) -> dict:
    if meeting.commitment_status == "none":
        raise NotFound("这次会议尚未冻结候选名单。")
    answer: dict[str, Any] = {"status": meeting.commitment_status, "sha256": None}
    if meeting.commitment_status == "ready" and meeting.commitment:
        answer.update(meeting.commitment)
        answer["sha256"] = meeting.commitment["commitment_sha256"]
    elif meeting.commitment_status == "failed":
        answer["error"] = meeting.commitment_error
    else:
        answer["pool_size"] = len((meeting.commitment or {}).get("pool", []))
    return answer


async def draw_delegates(actor: Principal | None, meeting_id: int, seed: Any) -> dict:
    """The seeded draw: panel index and alternates by the published rules; the selected are invited."""  # noqa: E501
    actor, meeting = await _own_meeting(actor, meeting_id)
    if not isinstance(seed, str) or not seed.strip():
        raise DomainError("empty_seed", "请填写来自公开来源的随机种子。", 422, field="seed")
    if len(seed) > 500:
        raise DomainError(
            "too_long",
            "%(label)s太长（最多 %(max)s 字）。",
            422,
            field="seed",
            label="种子",
            max=500,
        )
    if meeting.record is not None:
        raise Conflict("already_drawn", "这次会议已经抽签。")
    if meeting.commitment_status != "ready":
        raise Conflict("commitment_not_ready", "承诺尚未公示，不能抽签。")
    record = selection.draw(meeting.commitment, seed)
    now = clock.now()
    async with in_transaction():
        changed = await Meeting.filter(
            id=meeting.id, record__isnull=True, drawn_at__isnull=True
        ).update(record=record, drawn_at=now)
        if not changed:
            raise Conflict("already_drawn", "这次会议已经抽签。")
        await audit.record(
            "meeting.drawn",
            actor,
            target_type="meeting",
            target_id=meeting.id,
            unit_id=meeting.unit_id,
            seed=record["seed"],
            panel_index=record["panel_index"],
        )
        invitations = [await _invite(meeting, app_id, "selected") for app_id in record["selected"]]
        # A selected applicant who deleted the account is declined at once (the record stays as
        # drawn); their seat goes to the next alternate in the recorded order, as for any decline.
        for _ in range(sum(1 for i in invitations if i.status == "declined")):
            if await _invite_next_alternate(meeting) is None:
                break
    return record


def record_of(meeting: Meeting) -> dict:
    if meeting.record is None:
        raise NotFound("这次会议尚未抽签。")
    return meeting.record


async def _invite(meeting: Meeting, application_id: int, kind: str) -> Invitation:
    """Inside the caller's transaction: the invitation and its mail. An applicant who cannot be
    reached (account deleted) gets an invitation declined on the spot, with the reason in the
    audit log, and no mail: the caller moves on to the next alternate."""
    application = await Application.get(id=application_id)
    if not reachable(application):
        return await _decline_unreachable(meeting, application, kind)
    deadline = min(clock.now() + timedelta(hours=meeting.confirm_hours), meeting.meets_at)
    invitation = await Invitation.create(
        meeting=meeting,
        application=application,
        kind=kind,
        token=secrets.token_urlsafe(24),
        deadline=deadline,
        created_at=clock.now(),
    )
    await notify.queue_mail(
        to=application.email,
        template="meetings_invitation",
        subject=N_("邀请您列席政府决策会议"),
        context={
            "name": application.name,
            "meeting": meeting,
            "invitation": invitation,
            "link": notify.absolute_url(f"/meetings/invitations/{invitation.token}"),
        },
        kind="meetings_invitation",
    )
    return invitation


async def _decline_unreachable(meeting: Meeting, application: Application, kind: str) -> Invitation:
    now = clock.now()
    invitation = await Invitation.create(
        meeting=meeting,
        application=application,
        kind=kind,
        token=secrets.token_urlsafe(24),
        status="declined",
        deadline=now,
        responded_at=now,
        created_at=now,
    )
    await record_unreachable_decline(meeting, invitation)
    return invitation


async def record_unreachable_decline(meeting: Meeting, invitation: Invitation) -> None:
    """The audit entry of an invitation declined because its applicant deleted the account."""
    await audit.record(
        "meeting.invitation_declined",
        target_type="invitation",
        target_id=invitation.id,
        unit_id=meeting.unit_id,
        meeting_id=meeting.id,
        application_id=invitation.application_id,  # type: ignore[attr-defined]
        kind=invitation.kind,
        reason=DECLINED_ACCOUNT_DELETED,
    )


async def _invite_next_alternate(meeting: Meeting) -> Invitation | None:
    """Invite the next alternate in the recorded order while a seat is open."""
    meeting = await Meeting.get(id=meeting.id)
    if meeting.record is None:
        return None
    holding = await Invitation.filter(
        meeting_id=meeting.id, status__in=("invited", "accepted")
    ).count()
    if holding >= meeting.seats:
        return None
    tried = set(
        await Invitation.filter(meeting_id=meeting.id).values_list("application_id", flat=True)
    )
    for app_id in meeting.record["alternates"]:
        if app_id in tried:
            continue
        application = await Application.get_or_none(id=app_id)
        if application is None or application.status != "qualified":
            continue
        try:
            async with in_transaction():
                invitation = await _invite(meeting, app_id, "alternate")
        except IntegrityError:
            return None
        if invitation.status == "invited":
            return invitation
    return None


async def invitation_by_token(token: str) -> Invitation:
    invitation = await Invitation.get_or_none(token=token[:64]).prefetch_related(
        "meeting", "application"
    )
    if invitation is None:
        raise NotFound("找不到这份邀请。")
    return invitation


async def respond(token: str, accept: bool) -> Invitation:
    """Confirm or decline before the deadline; a decline invites the next alternate."""
    invitation = await invitation_by_token(token)
    if invitation.status != "invited":
        raise Conflict("already_answered", "这份邀请已经答复或已过期。")
    if clock.now() >= invitation.deadline:
        await expire_invitations()
        raise DomainError("invitation_expired", "确认期限已过，名额已由候补人员递补。", 422)
    status = "accepted" if accept else "declined"
    async with in_transaction():
        changed = await Invitation.filter(id=invitation.id, status="invited").update(
            status=status, responded_at=clock.now()
        )
        if not changed:
            raise Conflict("already_answered", "这份邀请已经答复或已过期。")
    if not accept:
        await _invite_next_alternate(invitation.meeting)
    invitation.status = status
    return invitation


async def expire_invitations() -> int:
    """Scheduler job: silence past the deadline expires the invitation and invites the next alternate."""  # noqa: E501
    now = clock.now()
    due = await Invitation.filter(status="invited", deadline__lte=now).prefetch_related("meeting")
    count = 0
    for invitation in due:
        changed = await Invitation.filter(id=invitation.id, status="invited").update(
            status="expired"
        )
        if changed:
            count += 1
            await _invite_next_alternate(invitation.meeting)
    # A seat left open by a race between two answers is filled here.
    for meeting in await Meeting.filter(drawn_at__isnull=False, meets_at__gt=now):
        for _ in range(meeting.seats):
            if await _invite_next_alternate(meeting) is None:
                break
    return count


async def roster(meeting: Meeting) -> list[Invitation]:
    return (
        await Invitation.filter(meeting_id=meeting.id)
        .order_by("id")
        .prefetch_related("application")
    )


async def check_in(actor: Principal | None, invitation_id: int) -> Invitation:
    invitation = await Invitation.get_or_none(id=invitation_id).prefetch_related("meeting")
    if invitation is None:
        raise NotFound("找不到这位代表。")
    actor = authorize(actor, ORGANIZERS, invitation.meeting.unit_id)
    if invitation.status != "accepted":
        raise Conflict("not_confirmed", "只有已确认参会的代表可以签到。")
    changed = await Invitation.filter(id=invitation.id, checked_in_at__isnull=True).update(
        checked_in_at=clock.now()
    )
    if not changed:
        raise Conflict("already_checked_in", "这位代表已经签到。")
    await audit.record(
        "meeting.checked_in",
        actor,
        target_type="invitation",
        target_id=invitation.id,
        unit_id=invitation.meeting.unit_id,
    )
    return await Invitation.get(id=invitation.id)


async def pool_members(actor: Principal | None, year: int) -> list[Application]:
    """代表库: applicants of the year who agreed to be kept for later meetings.

    The pool is district-wide, but a person's full name is for the unit they applied to:
    ``pool_name_visible`` tells whether this actor may see it (admins, organizers of the
    meeting's unit); everyone else sees it masked (张*)."""
    actor = authorize(actor, ORGANIZERS)
    start = datetime(year, 1, 1, tzinfo=clock.zone())
    end = datetime(year + 1, 1, 1, tzinfo=clock.zone())
    members = (
        await Application.filter(
            keep_in_pool=True, status="qualified", created_at__gte=start, created_at__lt=end
        )
        .order_by("id")
        .prefetch_related("meeting")
    )
    for a in members:
        a.pool_name_visible = actor.role == "admin" or a.meeting.unit_id == actor.unit_id
    return members


# --- suggestions ---------------------------------------------------------------------


async def add_suggestion(actor: Principal | None, meeting_id: int, data: dict) -> Suggestion:
    """A delegate (confirmed) or staff on their behalf records a suggestion on a topic."""
    meeting = await get_meeting(meeting_id)
    application_id = None
    if actor is not None and actor.is_resident:
        application = await Application.get_or_none(meeting_id=meeting.id, resident_id=actor.id)
        if application is None or not await Invitation.exists(
            application_id=application.id, status="accepted"
        ):
            raise DomainError("not_delegate", "只有已确认参会的列席代表可以提出意见建议。", 403)
        application_id = application.id
    else:
        authorize(actor, ORGANIZERS, meeting.unit_id)
        raw = data.get("application_id")
        if raw not in (None, ""):
            application_id = _int({"a": raw}, "a", "代表", 1, 2**31)
            if not await Application.exists(id=application_id, meeting_id=meeting.id):
                raise DomainError(
                    "invalid_delegate", "这位代表不属于本次会议。", 422, field="application_id"
                )
    topic_id = _int({"t": data.get("topic_id")}, "t", "议题", 1, 2**31)
    topic = await Topic.get_or_none(id=topic_id, meeting_id=meeting.id)
    if topic is None:
        raise DomainError("invalid_topic", "请选择本次会议的议题。", 422, field="topic_id")
    body = _text(data, "body", 5000, label="意见建议")
    owner_unit = _text(data, "owner_unit", 64, required=False) or "区政务公开办"
    due = data.get("due_on")
    if isinstance(due, date):
        due_on = due
    else:
        try:
            due_on = date.fromisoformat(str(due)) if due else clock.today() + timedelta(days=30)
        except ValueError:
            raise DomainError(
                "invalid_date", "%(label)s不是有效的日期。", 422, field="due_on", label="办理期限"
            ) from None
    async with in_transaction():
        suggestion = await Suggestion.create(
            meeting=meeting,
            topic=topic,
            application_id=application_id,
            body=body,
            owner_unit=owner_unit,
            due_on=due_on,
            created_at=clock.now(),
        )
        if actor.is_staff:
            await audit.record(
                "meeting.suggestion_added",
                actor,
                target_type="suggestion",
                target_id=suggestion.id,
                unit_id=meeting.unit_id,
            )
    return suggestion


async def answer_suggestion(
    actor: Principal | None, suggestion_id: int, status: str, answer: str
) -> Suggestion:
    """The owner unit's answer (已采纳 / 部分采纳 / 未采纳) is published and mailed to the delegate."""  # noqa: E501
    suggestion = await Suggestion.get_or_none(id=suggestion_id).prefetch_related(
        "meeting", "application", "topic"
    )
    if suggestion is None:
        raise NotFound("找不到这条意见建议。")
    actor = authorize(actor, ORGANIZERS, suggestion.meeting.unit_id)
    if status not in SUGGESTION_STATUSES or status == "processing":
        raise DomainError(
            "invalid_status", "请选择办理结果：已采纳、部分采纳或未采纳。", 422, field="status"
        )
    answer = _text({"answer": answer}, "answer", 5000, label="答复")
    async with in_transaction():
        await Suggestion.filter(id=suggestion.id).update(
            status=status, answer=answer, answered_at=clock.now()
        )
        await audit.record(
            "meeting.suggestion_answered",
            actor,
            target_type="suggestion",
            target_id=suggestion.id,
            unit_id=suggestion.meeting.unit_id,
            status=status,
        )
        if suggestion.application and suggestion.application.email:
            await notify.queue_mail(
                to=suggestion.application.email,
                template="meetings_answer",
                subject=N_("您的意见建议已有答复"),
                context={
                    "name": suggestion.application.name,
                    "meeting": suggestion.meeting,
                    "suggestion": suggestion,
                    "status_label": SUGGESTION_STATUSES[status],
                    "answer": answer,
                },
                kind="meetings_answer",
            )
    return await Suggestion.get(id=suggestion.id)


async def suggestions_of(meeting: Meeting) -> list[Suggestion]:
    return (
        await Suggestion.filter(meeting_id=meeting.id)
        .order_by("id")
        .prefetch_related("topic", "application")
    )


def _overdue(actor: Principal | None) -> QuerySet[Suggestion]:
    """Suggestions past their answer's due day, in the actor's unit's meetings (every unit's
    for an admin)."""
    authorize(actor, ORGANIZERS)
    query = Suggestion.filter(status="processing", due_on__lt=clock.today())
    if actor.role != "admin":
        query = query.filter(meeting__unit_id=actor.unit_id)
    return query


async def overdue_suggestions(actor: Principal | None) -> list[Suggestion]:
    return await _overdue(actor).order_by("due_on").prefetch_related("meeting", "topic")


async def waiting_reviews(actor: Principal | None) -> int:
    """Applications waiting for the qualification review, in the actor's unit's meetings (every
    unit's for an admin): only those ``review`` would still take (the pool not frozen, the
    applicant reachable)."""
    authorize(actor, ORGANIZERS)
    query = Application.filter(
        status="submitted",
        meeting__commitment_status__in=("none", "failed"),
        resident_id__gt=0,
    ).exclude(email="")
    if actor.role != "admin":
        query = query.filter(meeting__unit_id=actor.unit_id)
    return await query.count()


async def waiting_overdue(actor: Principal | None) -> int:
    """How many suggestions are past their answer's due day (the staff home's count)."""
    return await _overdue(actor).count()


def masked_roster(invitations: list[Invitation]) -> list[dict]:
    return [
        {
            "name": masking.mask_name(inv.application.name),
            "category": inv.application.category,
            "district": inv.application.district,
            "kind": inv.kind,
        }
        for inv in invitations
        if inv.status == "accepted"
    ]


async def resume_stalled(budget: float) -> int:
    """Scheduler job: a computation lost with its process (restart) is marked failed, to be started again."""  # noqa: E501
    limit = clock.now() - timedelta(seconds=2 * budget + 120)
    return await Meeting.filter(
        commitment_status="computing", commitment_started_at__lt=limit
    ).update(commitment_status="failed", commitment_error="计算进程中断，请重新开始。")


async def applications_of_resident(
    actor: Principal | None,
) -> list[tuple[Application, Invitation | None]]:
    """A resident's applications with their status and any invitation (and its deadline)."""
    me = require_resident(actor)
    applications = (
        await Application.filter(resident_id=me.id).order_by("-id").prefetch_related("meeting")
    )
    invitations = {
        inv.application_id: inv
        for inv in await Invitation.filter(application_id__in=[a.id for a in applications])
    }
    return [(a, invitations.get(a.id)) for a in applications]
