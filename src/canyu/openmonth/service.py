"""政府开放月: the rules of open-day events, registration, the waiting list and check-in.

Places are taken with a conditional UPDATE inside the transaction that writes the
registration, and "one registration per person per event" is a unique constraint, so the
rules hold under any concurrency on SQLite and on PostgreSQL with several workers:
at every instant the places held by confirmed and offered registrations never exceed the
event's capacity.
"""

from __future__ import annotations

import functools
import logging
import os
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from tortoise.exceptions import IntegrityError
from tortoise.expressions import F
from tortoise.functions import Count, Sum
from tortoise.transactions import in_transaction

from canyu.audit import service as audit
from canyu.core import clock, sql
from canyu.core.districts import district_of, is_district
from canyu.core.errors import Conflict, DomainError, Forbidden, NotFound
from canyu.core.i18n import N_, gettext
from canyu.core.id_numbers import normalize_id_number
from canyu.core.masking import mask_id_number
from canyu.core.permissions import Principal, authorize, require_resident
from canyu.core.security import decrypt, encrypt, keyed_hash
from canyu.notify import service as notify
from canyu.openmonth import tickets
from canyu.openmonth.models import MonthlyPlaces, OpenEvent, Rating, Registration

log = logging.getLogger("canyu.openmonth")

MODES = ("offline", "online", "hybrid")
MODE_LABELS = {"offline": N_("线下"), "online": N_("线上直播"), "hybrid": N_("线上线下")}
THEMES = (
    N_("民心工程"),
    N_("实事项目"),
    N_("城市治理"),
    N_("营商环境"),
    N_("生态环境"),
    N_("民生服务"),
    N_("文化旅游"),
    N_("其他"),
)
STATUSES = ("confirmed", "waitlisted", "offered", "cancelled", "expired")
STATUS_LABELS = {
    "confirmed": N_("已确认"),
    "waitlisted": N_("候补中"),
    "offered": N_("候补递补待确认"),
    "cancelled": N_("已取消"),
    "expired": N_("递补已过期"),
}
HOLDING = ("confirmed", "offered")
CHILD_AGE = 14
MAX_COMPANIONS = 10
_TICKET_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no I, O, 0, 1: read out on the phone
assert len(_TICKET_ALPHABET) == 32  # new_ticket_code takes 5 bits per letter
_TICKET_RE = re.compile(r"^[A-Z0-9]{6,16}$")
_PHONE_RE = re.compile(r"^1[3-9]\d{9}$")
STAFF_ROLES = ("organizer", "admin")


# --- configuration ---------------------------------------------------------------


@dataclass
class Rules:
    """The configurable rules (CANYU_PLACES_PER_MONTH, CANYU_OFFER_HOURS): never scaled."""

    places_per_month: int = 3
    offer_hours: int = 24


def _rules_from_env() -> Rules:
    def value(name: str, default: int) -> int:
        raw = os.environ.get(f"CANYU_{name}", "")
        return int(raw) if raw.strip() else default

    return Rules(value("PLACES_PER_MONTH", 3), value("OFFER_HOURS", 24))


RULES = _rules_from_env()


def configure(places_per_month: int | None = None, offer_hours: int | None = None) -> Rules:
    """Change the rules in this process (the settings do it from the environment)."""
    if places_per_month is not None:
        RULES.places_per_month = places_per_month
    if offer_hours is not None:
        RULES.offer_hours = offer_hours
    return RULES


# --- briefs for the October vote -----------------------------------------------------


async def _rating_stats(event_ids: list[int]) -> dict[int, tuple[float | None, int]]:
    rows = (
        await Rating.filter(event_id__in=event_ids)
        .group_by("event_id")
        .annotate(n=Count("id"), total=Sum("stars"))
        .values("event_id", "n", "total")
    )
    stats: dict[int, tuple[float | None, int]] = {}
    for row in rows:
        n = int(row["n"] or 0)
        stats[row["event_id"]] = (round(float(row["total"] or 0) / n, 2) if n else None, n)
    return stats


async def _attendance(event_ids: list[int]) -> dict[int, int]:
    rows = (
        await Registration.filter(event_id__in=event_ids, checked_in_at__isnull=False)
        .group_by("event_id")
        .annotate(total=Sum("places"))
        .values("event_id", "total")
    )
    return {row["event_id"]: int(row["total"] or 0) for row in rows}


def _brief(event: OpenEvent, ratings: dict, attendance: dict) -> dict[str, Any]:
    average, count = ratings.get(event.id, (None, 0))
    return {
        "id": event.id,
        "title": event.title,
        "summary": event.summary,
        "theme": event.theme,
        "mode": event.mode,
        "starts_at": event.starts_at,
        "unit": event.unit_name,
        "average_rating": average,
        "rating_count": count,
        "attendee_count": attendance.get(event.id, 0),
        "photo_url": image_path(event.image_url),
    }


async def event_brief(event_id: int) -> dict | None:
    """A published event as the October vote shows it, or None when unknown or unpublished.

    ``average_rating`` is the mean of the 1–5 ratings (None without ratings),
    ``attendee_count`` the places of checked-in registrations.
    """
    event = await OpenEvent.get_or_none(id=event_id, published=True)
    if event is None:
        return None
    return _brief(event, await _rating_stats([event.id]), await _attendance([event.id]))


async def event_briefs(event_ids: list[int] | None = None) -> list[dict]:
    """Briefs of published events (all of them, or those of ``event_ids``), by start time."""
    query = OpenEvent.filter(published=True)
    if event_ids is not None:
        query = query.filter(id__in=list(event_ids))
    events = await query.order_by("starts_at", "id")
    ids = [e.id for e in events]
    if not ids:
        return []
    ratings, attendance = await _rating_stats(ids), await _attendance(ids)
    return [_brief(e, ratings, attendance) for e in events]


# --- events ----------------------------------------------------------------------------


def _text(data: dict, key: str, max_len: int, *, required: bool = False, label: str = "") -> str:
    value = data.get(key)
    value = "" if value is None else str(value).strip()
    if required and not value:
        raise DomainError("invalid_event", "请填写%(label)s。", field=key, label=label or key)
    if len(value) > max_len:
        raise DomainError(
            "invalid_event",
            "%(label)s不能超过 %(n)s 个字。",
            field=key,
            label=label or key,
            n=max_len,
        )
    return value


def _int(data: dict, key: str, default: int | None, low: int, high: int, label: str) -> int | None:
    value = data.get(key)
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise DomainError("invalid_event", "%(label)s应为整数。", field=key, label=label) from None
    if isinstance(value, float) and value != number:
        raise DomainError("invalid_event", "%(label)s应为整数。", field=key, label=label)
    if not low <= number <= high:
        raise DomainError(
            "invalid_event",
            "%(label)s应在 %(low)s 到 %(high)s 之间。",
            field=key,
            label=label,
            low=low,
            high=high,
        )
    return number


def _moment(data: dict, key: str, default: datetime | None, label: str) -> datetime:
    value = data.get(key)
    if value is None or value == "":
        if default is None:
            raise DomainError("invalid_event", "请填写%(label)s。", field=key, label=label)
        return default
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise DomainError("invalid_event", "%(label)s不是有效的时间。", field=key, label=label)
    return value


_IMAGE_PATH = re.compile(r"/events/images/[0-9a-f]{32}\.(?:jpg|png|webp|gif)")


def image_path(image_url: str | None) -> str:
    """The same-site path of an event's uploaded image, or "" for none. A link to another site
    is not shown: the pages' CSP allows images from this site only."""
    path = urlsplit(image_url or "").path
    return path if _IMAGE_PATH.fullmatch(path) else ""


def _image_url(value: str) -> str:
    """An image link: this site's uploaded image (its path) or an http(s) address."""
    return value if value and _IMAGE_PATH.fullmatch(value) else _url(value, "image_url")


def _url(value: str, key: str) -> str:
    if value and not re.match(r"^https?://[^\s<>\"']+$", value):
        raise DomainError("invalid_event", "链接须以 http:// 或 https:// 开头。", field=key)
    return value


def clean_event(data: dict[str, Any]) -> dict[str, Any]:
    """Validate the fields of an event; times are aware datetimes."""
    clean: dict[str, Any] = {
        "title": _text(data, "title", 120, required=True, label=N_("活动名称")),
        "summary": _text(data, "summary", 5000, required=True, label=N_("活动简介")),
        "theme": _text(data, "theme", 16, label=N_("主题")) or "其他",
        "location": _text(data, "location", 200, label=N_("活动地点")),
        "stream_url": _url(_text(data, "stream_url", 300, label=N_("直播链接")), "stream_url"),
        "requirements": _text(data, "requirements", 2000, label=N_("参加要求")),
        "image_url": _image_url(_text(data, "image_url", 300, label=N_("图片"))),
    }
    mode = data.get("mode") or "offline"
    if mode not in MODES:
        raise DomainError("invalid_event", "活动形式须为线下、线上直播或线上线下。", field="mode")
    clean["mode"] = mode
    district = _text(data, "district", 16, label=N_("街镇"))
    if district and not is_district(district):
        raise DomainError("invalid_event", "请从列表中选择浦东新区的街镇。", field="district")
    clean["district"] = district or district_of(clean["location"]) or ""
    clean["capacity"] = _int(data, "capacity", None, 1, 100_000, N_("名额"))
    if clean["capacity"] is None:
        raise DomainError("invalid_event", "请填写%(label)s。", field="capacity", label="名额")
    clean["max_companions"] = _int(
        data, "max_companions", 0, 0, MAX_COMPANIONS, N_("可携带同行人数")
    )
    clean["min_age"] = _int(data, "min_age", None, 0, 100, N_("最低年龄"))
    clean["id_check"] = bool(data.get("id_check"))
    starts = _moment(data, "starts_at", None, N_("开始时间"))
    ends = _moment(data, "ends_at", None, N_("结束时间"))
    if ends <= starts:
        raise DomainError("invalid_event", "结束时间须晚于开始时间。", field="ends_at")
    opens = _moment(data, "registration_opens_at", clock.now(), N_("报名开始时间"))
    closes = _moment(data, "registration_closes_at", starts, N_("报名截止时间"))
    if closes <= opens:
        raise DomainError(
            "invalid_event", "报名截止时间须晚于报名开始时间。", field="registration_closes_at"
        )
    if closes > ends:
        raise DomainError(
            "invalid_event", "报名截止时间不能晚于活动结束时间。", field="registration_closes_at"
        )
    cutoff = _moment(data, "cancellation_closes_at", starts, N_("取消截止时间"))
    if cutoff > ends:
        raise DomainError(
            "invalid_event", "取消截止时间不能晚于活动结束时间。", field="cancellation_closes_at"
        )
    clean.update(
        starts_at=starts,
        ends_at=ends,
        registration_opens_at=opens,
        registration_closes_at=closes,
        cancellation_closes_at=cutoff,
        published=bool(data.get("published")),
    )
    return clean


async def _unit_for(actor: Principal, unit_name: str | None) -> tuple[int, str]:
    from canyu.accounts import service as accounts

    if unit_name and actor.is_admin:
        unit = await accounts.ensure_unit(unit_name)
        return unit.id, unit.name
    if actor.unit_id is not None:
        return actor.unit_id, actor.unit_name or ""
    unit = await accounts.ensure_unit("区政务公开办", "office")
    return unit.id, unit.name


async def create_event(actor: Principal | None, data: dict[str, Any]) -> OpenEvent:
    """Organizers create events of their own unit; admins for any unit (``unit``)."""
    actor = authorize(actor, STAFF_ROLES)
    clean = clean_event(data)
    unit_id, unit_name = await _unit_for(actor, str(data.get("unit") or "").strip() or None)
    if not clean["district"] and is_district(unit_name):
        clean["district"] = unit_name
    async with in_transaction():
        event = await OpenEvent.create(
            **clean,
            unit_id=unit_id,
            unit_name=unit_name,
            created_by=actor.id,
            created_at=clock.now(),
        )
        await audit.record(
            "openmonth.event_created",
            actor,
            target_type="event",
            target_id=event.id,
            unit_id=unit_id,
            title=event.title,
            published=event.published,
        )
    return event


async def update_event(actor: Principal | None, event_id: int, data: dict[str, Any]) -> OpenEvent:
    """Edit an event; the capacity never drops below the places already held."""
    event = await _staff_event(actor, event_id)
    clean = clean_event(data)
    async with in_transaction():
        # Conditional: a registration taken meanwhile cannot be squeezed out.
        changed = await OpenEvent.filter(id=event.id, taken__lte=clean["capacity"]).update(**clean)
        if not changed:
            raise Conflict(
                "capacity_below_taken",
                "名额不能少于已确认和递补中的人数（%(n)s）。",
                field="capacity",
                n=event.taken,
            )
        await audit.record(
            "openmonth.event_updated",
            actor,
            target_type="event",
            target_id=event.id,
            unit_id=event.unit_id,
        )
    return await OpenEvent.get(id=event.id)


async def publish_events(actor: Principal | None, event_ids: list[int]) -> int:
    """管理员发布开放月活动安排: admins publish drafts (any unit)."""
    actor = authorize(actor, ("admin",))
    async with in_transaction():
        changed = await OpenEvent.filter(
            id__in=event_ids, published=False, cancelled_at__isnull=True
        ).update(published=True)
        await audit.record(
            "openmonth.events_published",
            actor,
            target_type="event",
            target_id=",".join(map(str, event_ids))[:64],
            count=changed,
        )
    return changed


async def _staff_event(actor: Principal | None, event_id: int) -> OpenEvent:
    event = await OpenEvent.get_or_none(id=event_id)
    if event is None:
        raise NotFound()
    authorize(actor, STAFF_ROLES, event.unit_id)
    return event


async def staff_event(actor: Principal | None, event_id: int) -> OpenEvent:
    """An event its organizer unit (or an admin) manages."""
    return await _staff_event(actor, event_id)


def can_manage(actor: Principal | None, event: OpenEvent) -> bool:
    return bool(
        actor
        and actor.is_staff
        and (actor.is_admin or (actor.role == "organizer" and actor.unit_id == event.unit_id))
    )


async def get_event(event_id: int, actor: Principal | None = None) -> OpenEvent:
    """A published event, or a draft for its organizer unit and admins."""
    event = await OpenEvent.get_or_none(id=event_id)
    if event is None or (not event.published and not can_manage(actor, event)):
        raise NotFound("找不到这个活动。")
    return event


async def list_events(
    *,
    actor: Principal | None = None,
    staff_view: bool = False,
    month: str | None = None,
    day: str | None = None,
    district: str | None = None,
    theme: str | None = None,
    mode: str | None = None,
    available: bool = False,
    upcoming: bool = False,
    limit: int = 500,
) -> list[OpenEvent]:
    """The catalogue: published events (a staff view adds the unit's drafts)."""
    query = OpenEvent.all()
    if staff_view:
        actor = authorize(actor, STAFF_ROLES)
        if not actor.is_admin:
            query = query.filter(unit_id=actor.unit_id)
    else:
        query = query.filter(published=True)
    if month and re.fullmatch(r"\d{4}-\d{2}", month):
        year, mon = int(month[:4]), int(month[5:])
        start = clock.local_midnight(datetime(year, mon, 1).date())
        nxt = datetime(year + (mon == 12), mon % 12 + 1, 1).date()
        query = query.filter(starts_at__gte=start, starts_at__lt=clock.local_midnight(nxt))
    if day and re.fullmatch(r"\d{4}-\d{2}-\d{2}", day):
        try:
            the_day = datetime.strptime(day, "%Y-%m-%d").date()
        except ValueError:
            the_day = None
        if the_day:
            query = query.filter(
                starts_at__gte=clock.local_midnight(the_day),
                starts_at__lt=clock.local_midnight(the_day + timedelta(days=1)),
            )
    if district:
        query = query.filter(district=district)
    if theme:
        query = query.filter(theme=theme)
    if mode in MODES:
        query = query.filter(mode=mode)
    if available:
        # Places a resident can still ask for: not full, not cancelled, registration not over.
        query = query.filter(
            taken__lt=F("capacity"),
            cancelled_at__isnull=True,
            registration_closes_at__gt=clock.now(),
        )
    if upcoming:
        query = query.filter(ends_at__gt=clock.now(), cancelled_at__isnull=True)
    return await query.order_by("starts_at", "id").limit(limit)


async def counts(event_ids: list[int]) -> dict[int, dict[str, int]]:
    """Per event: places of confirmed and offered registrations, and waiting registrations
    (COUNT over rows, never the counter)."""
    result = {eid: {"confirmed": 0, "offered": 0, "waitlisted": 0} for eid in event_ids}
    if not event_ids:
        return result
    rows = (
        await Registration.filter(event_id__in=event_ids, status__in=(*HOLDING, "waitlisted"))
        .group_by("event_id", "status")
        .annotate(n=Count("id"), total=Sum("places"))
        .values("event_id", "status", "n", "total")
    )
    for row in rows:
        slot = result[row["event_id"]]
        slot[row["status"]] = int(row["n"] if row["status"] == "waitlisted" else row["total"] or 0)
    return result


def registration_open(event: OpenEvent, at: datetime | None = None) -> bool:
    at = at or clock.now()
    return (
        event.published
        and event.cancelled_at is None
        and event.registration_opens_at <= at < event.registration_closes_at
    )


def places_left(event: OpenEvent) -> int:
    return max(0, event.capacity - event.taken)


async def registration_of(actor: Principal | None, event_id: int) -> Registration | None:
    """The resident's registration for an event (whatever its status), if any."""
    if actor is None or not actor.is_resident:
        return None
    return await Registration.get_or_none(event_id=event_id, person_key=_resident_key(actor.id))


def event_json(
    event: OpenEvent, count: dict[str, int], *, show_stream: bool = False
) -> dict[str, Any]:
    """The API shape of an event (API.md): ``confirmed`` counts places, companions included."""
    return {
        "id": event.id,
        "title": event.title,
        "summary": event.summary,
        "theme": event.theme,
        "mode": event.mode,
        "location": event.location,
        "district": event.district,
        "stream_url": event.stream_url if show_stream and event.stream_url else None,
        "starts_at": event.starts_at,
        "ends_at": event.ends_at,
        "capacity": event.capacity,
        "confirmed": count["confirmed"],
        "offered": count["offered"],
        "waitlisted": count["waitlisted"],
        "places_left": max(0, event.capacity - count["confirmed"] - count["offered"]),
        "registration_opens_at": event.registration_opens_at,
        "registration_closes_at": event.registration_closes_at,
        "cancellation_closes_at": event.cancellation_closes_at,
        "registration_open": registration_open(event),
        "max_companions": event.max_companions,
        "min_age": event.min_age,
        "id_check": event.id_check,
        "requirements": event.requirements,
        "image_url": event.image_url or None,
        "unit": event.unit_name,
        "published": event.published,
        "cancelled": event.cancelled_at is not None,
    }


async def may_see_stream(actor: Principal | None, event: OpenEvent) -> bool:
    """The stream link is shown only to people holding a confirmed place (and to staff)."""
    if can_manage(actor, event):
        return True
    registration = await registration_of(actor, event.id)
    return bool(registration and registration.status == "confirmed")


# --- registration ----------------------------------------------------------------------


def _resident_key(resident_id: int) -> str:
    return f"r{resident_id}"


def _phone_key(phone: str) -> str:
    return "p" + keyed_hash("openmonth-phone", phone)[:40]


def _sealed_id_number(event: OpenEvent, value: Any, consent: Any) -> tuple[str, str | None]:
    """For an event that checks ID on site: the ID number validated, encrypted, and its keyed
    hash (the "one ID number per event" key). An ID number is sensitive personal information
    (个人信息保护法 arts. 28–29): it needs its own consent, given apart from the registration.
    Other events collect none: a number sent for them is dropped, never stored."""
    if not event.id_check:
        return "", None
    if not str(value or "").strip():
        raise DomainError(
            "id_number_required",
            "本活动现场核验身份证件，请填写报名人的居民身份证号码。",
            field="id_number",
        )
    number = normalize_id_number(value)
    if consent is not True:
        raise DomainError(
            "id_number_consent_required",
            "身份证号码属于敏感个人信息，请勾选单独同意后再提交。",
            field="id_number_consent",
        )
    return seal_id_number(number)


#: ID numbers are needed for the check at the door only: kept this many days after the event
#: ends (a dispute about who came), then deleted, long before the rest of the registration.
ID_NUMBER_DAYS = 7


async def forget_id_numbers() -> int:
    """Hourly job: delete the ID numbers of events that ended more than ID_NUMBER_DAYS ago
    (the encrypted number and its hash); audited when it deleted any."""
    before = clock.now() - timedelta(days=ID_NUMBER_DAYS)
    ended = await OpenEvent.filter(ends_at__lt=before, id_check=True).values_list("id", flat=True)
    if not ended:
        return 0
    async with in_transaction():
        count = await Registration.filter(
            event_id__in=list(ended), id_number_encrypted__not=""
        ).update(id_number_encrypted="", id_number_hash=None)
        if count:
            await audit.record(
                "privacy.purged", target_type="openmonth_id_numbers", records=count,
                before=before.isoformat(),
            )
    return int(count)


def seal_id_number(number: str) -> tuple[str, str]:
    """A validated ID number as stored: encrypted (AES-256-GCM), and its keyed hash."""
    return encrypt(number), keyed_hash("openmonth-id-number", number)


def masked_id_number(registration: Registration) -> str:
    """The registration's ID number as staff and its owner see it (3101**********123X), or ""
    without one. The whole number is never shown, mailed or exported."""
    sealed = registration.id_number_encrypted
    if not sealed:
        return ""
    try:
        return mask_id_number(decrypt(sealed))
    except Exception:  # another secret key, a damaged value: say so, show nothing of it
        log.warning("registration %s: its ID number cannot be decrypted", registration.id)
        return gettext("（无法解密）")


def _month_of(event: OpenEvent) -> str:
    return clock.local(event.starts_at).strftime("%Y-%m")


def new_ticket_code() -> str:
    """Ten characters of the 32-letter alphabet, each from 5 random bits of one random byte
    (256 is a multiple of 32: every letter equally likely; 50 bits in all)."""
    return "".join(_TICKET_ALPHABET[b & 31] for b in secrets.token_bytes(10))


def normalize_ticket_code(value: Any) -> str:
    code = re.sub(r"[\s-]", "", str(value or "")).upper()
    return code if _TICKET_RE.match(code) else ""


def _companion_counts(companions: Any, child_companions: Any) -> tuple[int, int]:
    """The counts as whole numbers of at least 0 (before any rule of the event)."""
    try:
        n = int(companions or 0)
        children = int(child_companions or 0)
    except (TypeError, ValueError):
        raise DomainError("invalid_companions", "同行人数应为整数。", field="companions") from None
    if isinstance(companions, bool) or n < 0 or children < 0:
        raise DomainError("invalid_companions", "同行人数不能为负数。", field="companions")
    return n, children


def _parse_companions(
    companions: Any, child_companions: Any, consent: Any, event: OpenEvent
) -> tuple[int, int]:
    n, children = _companion_counts(companions, child_companions)
    if n > event.max_companions:
        if event.max_companions == 0:
            raise DomainError("invalid_companions", "本活动不能携带同行人。", field="companions")
        raise DomainError(
            "invalid_companions",
            "本活动每人最多携带 %(n)s 名同行人。",
            field="companions",
            n=event.max_companions,
        )
    if children > n:
        raise DomainError(
            "invalid_companions", "14 岁以下儿童人数不能超过同行人数。", field="child_companions"
        )
    if children and not consent:
        raise DomainError(
            "guardian_consent_required",
            "携带 14 岁以下儿童须由监护人勾选同意。",
            field="guardian_consent",
        )
    return n, children


_MONTH_UPSERT = (
    "INSERT INTO openmonth_monthly_places (person_key, month, places) VALUES (?, ?, ?) "
    "ON CONFLICT (person_key, month) DO UPDATE "
    "SET places = openmonth_monthly_places.places + excluded.places "
    "WHERE openmonth_monthly_places.places + excluded.places <= ? RETURNING places"
)


_MONTH_HELD_SQL = (
    "SELECT places FROM openmonth_monthly_places WHERE person_key = ? AND month = ?"
)


async def _take_month_places(person_key: str, month: str, n: int) -> bool:
    """Take ``n`` of the person's monthly places: one conditional upsert on the unique
    (person, month) row, so two registrations at once can never pass the cap together."""
    cap = RULES.places_per_month
    if n > cap:
        return False
    return bool(await sql.fetch(_MONTH_UPSERT, person_key, month, n, cap))


async def _free_month_places(person_key: str, month: str, n: int) -> None:
    await MonthlyPlaces.filter(person_key=person_key, month=month, places__gte=n).update(
        places=F("places") - n
    )


_TAKE_PLACES_SQL = (
    "UPDATE openmonth_event SET taken = taken + ? WHERE id = ? AND taken <= capacity - ?"
)


async def _take_event_places(event_id: int, n: int) -> bool:
    """The one place where places are taken: confirmed + offered never exceed capacity
    (one conditional UPDATE; the row lock orders concurrent takers)."""
    return bool(await sql.execute(_TAKE_PLACES_SQL, n, event_id, n))


async def _free_event_places(event_id: int, n: int) -> None:
    await OpenEvent.filter(id=event_id, taken__gte=n).update(taken=F("taken") - n)


def _monthly_limit_error() -> DomainError:
    return DomainError(
        "monthly_limit",
        "您本月已确认的名额已达上限（每人每月 %(n)s 个名额，含同行人）。",
        n=RULES.places_per_month,
    )


def _ticket_attachments(
    event: OpenEvent, ticket_code: str
) -> list[notify.Attachment | notify.BuiltAttachment]:
    """The QR e-ticket (drawn by the mail worker when it sends the mail) and the calendar file."""
    return [
        notify.BuiltAttachment(
            f"ticket-{ticket_code}.png", "image/png", "openmonth.ticket_png", {"code": ticket_code}
        ),
        notify.Attachment(f"event-{event.id}.ics", "text/calendar", event_ics(event, ticket_code)),
    ]


def ticket_png(code: str) -> bytes:
    """The e-ticket's QR code: it encodes the ticket code alone."""
    return tickets.qr_png(code)


notify.register_builder("openmonth.ticket_png", ticket_png)


def event_ics(event: OpenEvent, ticket_code: str | None = None) -> bytes:
    """An iCalendar file for the event (with the ticket number when there is one)."""
    description = event.summary[:500]
    if ticket_code:
        description += f"\n电子票号 Ticket: {ticket_code}"
    return tickets.calendar(
        uid=f"openmonth-{event.id}-{ticket_code or 'event'}@canyu",
        stamp=clock.now(),
        starts=event.starts_at,
        ends=event.ends_at,
        summary=event.title,
        location=event.location or ("" if event.mode == "offline" else "线上直播"),
        url=notify.absolute_url(f"/events/{event.id}"),
        description=description,
    )


def _mail_context(event: OpenEvent, registration: Registration, **extra: Any) -> dict[str, Any]:
    return {
        "event": event,
        "registration": registration,
        "event_url": notify.absolute_url(f"/events/{event.id}"),
        "my_url": notify.absolute_url("/me/events"),
        "mode_label": MODE_LABELS.get(event.mode, event.mode),
        **extra,
    }


def _mail_statement(
    registration: Registration,
    event: OpenEvent,
    template: str,
    subject: str,
    attachments: list[notify.Attachment | notify.BuiltAttachment] | None = None,
    **extra: Any,
) -> sql.Statement | None:
    """The outbox row of a mail to the registrant (none without an address)."""
    if not registration.email:
        return None
    return notify.mail_statement(
        to=registration.email,
        template=f"openmonth_{template}",
        subject=subject,
        context=_mail_context(
            event, registration, subject_params={"title": event.title[:60]}, **extra
        ),
        attachments=attachments,
        kind=f"openmonth_{template}",
    )


async def _mail(
    registration: Registration,
    event: OpenEvent,
    template: str,
    subject: str,
    attachments: list[notify.Attachment | notify.BuiltAttachment] | None = None,
    **extra: Any,
) -> None:
    statement = _mail_statement(registration, event, template, subject, attachments, **extra)
    if statement is not None:
        await sql.execute(statement.sql, *statement.params)


_EVENT_SQL = "SELECT * FROM openmonth_event WHERE id = ? AND published = ?"


async def _person_of(actor: Principal) -> dict[str, Any]:
    """The registrant's own record: as read with the token when it was (Principal.profile)."""
    from canyu.accounts import service as accounts

    row = await accounts.own_record(actor.id, actor.profile)
    return {
        "person_key": _resident_key(actor.id),
        "resident_id": actor.id,
        "name": row["name"],
        "phone": row["phone"],
        "email": row["email"],
        "birth_year": row["birth_year"],
    }


async def register(
    actor: Principal | None,
    event_id: int,
    companions: Any = 0,
    child_companions: Any = 0,
    guardian_consent: Any = False,
    source: str = "web",
    id_number: Any = None,
    id_number_consent: Any = False,
) -> Registration:
    """报名: a confirmed place while places are left, otherwise the waiting list.

    Refused (nothing changes): an unpublished or cancelled event (404/422), outside the
    registration window (422), invalid companions or a child without the guardian's consent
    (422), a missing or invalid ID number when the event checks ID on site (422), a second
    registration or the same ID number from another person (409), beyond the monthly cap of
    confirmed places (422).
    """
    actor = require_resident(actor)
    person = await _person_of(actor)
    ask = _Ask(companions, child_companions, guardian_consent, source, id_number, id_number_consent)
    return await _register(event_id, person, ask, None)


async def register_by_phone(
    actor: Principal | None,
    event_id: int,
    *,
    name: str,
    phone: str,
    email: str = "",
    companions: Any = 0,
    child_companions: Any = 0,
    guardian_consent: Any = False,
    id_number: Any = None,
    id_number_consent: Any = False,
) -> Registration:
    """12345 热线电话报名: staff of the event's unit register a caller by hand.

    The caller is the resident with that email address when one exists, otherwise a person
    identified by the phone number; every rule of ``register`` applies (the caller's ID
    number when the event checks ID on site).
    """
    event = await _staff_event(actor, event_id)
    name = (name or "").strip()
    phone = re.sub(r"[\s-]", "", phone or "").removeprefix("+86")
    email = (email or "").strip()
    if not name or len(name) > 50:
        raise DomainError("invalid_name", "请填写姓名（不超过 50 个字）。", field="name")
    if not _PHONE_RE.match(phone):
        raise DomainError(
            "invalid_phone", "请输入有效的 11 位手机号码，例如 13812345678。", field="phone"
        )
    person: dict[str, Any] = {
        "person_key": _phone_key(phone),
        "resident_id": None,
        "name": name,
        "phone": phone,
        "email": "",
        "birth_year": None,
    }
    if email:
        from canyu.accounts import service as accounts

        person["email"] = accounts.normalize_email(email)
        found = await accounts.find_residents(email, limit=2)
        if len(found) == 1:
            person.update(
                person_key=_resident_key(found[0].id),
                resident_id=found[0].id,
                birth_year=found[0].birth_year,
            )
    if not event.published:
        raise NotFound("找不到这个活动。")
    ask = _Ask(
        companions, child_companions, guardian_consent, "phone", id_number, id_number_consent
    )
    return await _register(event.id, person, ask, actor)


@dataclass(frozen=True)
class _Ask:
    """What a registration asks for, as sent (validated against the event in the program)."""

    companions: Any
    child_companions: Any
    guardian_consent: Any
    source: str
    id_number: Any
    id_number_consent: Any


async def _register(
    event_id: int, person: dict[str, Any], ask: _Ask, staff: Principal | None
) -> Registration:
    """Run the registration program; its IntegrityError (a unique constraint answered: the
    person's own registration of this event, an ID number already used, or a ticket code
    drawn twice) is sorted out here, outside the transaction, and the program runs again
    where that is right (a cancelled registration is revived)."""
    existing_id: int | None = None
    for attempt in range(3):
        program = _registration_program(
            event_id, person, ask, staff, existing_id, new_ticket_code(), clock.now()
        )
        try:
            return await sql.run(program)
        except IntegrityError:
            key = person["person_key"]
            existing = await Registration.get_or_none(event_id=event_id, person_key=key)
            if existing is not None and existing.status not in ("cancelled", "expired"):
                raise _already_registered() from None
            event = await OpenEvent.get(id=event_id)
            if event.id_check:
                _sealed, id_hash = _sealed_id_number(event, ask.id_number, ask.id_number_consent)
                await _check_id_number_free(event_id, key, id_hash)
            if existing is None and attempt == 2:
                raise  # not the person's registration (three ticket collisions?): a real fault
            existing_id = existing.id if existing is not None else None
    raise _already_registered()


def _registration_fields(
    event: OpenEvent, person: dict[str, Any], ask: _Ask, now: datetime
) -> dict[str, Any]:
    """Every check that needs no query, and the registration's columns. Refusals raise."""
    if event.cancelled_at is not None:
        raise DomainError("event_cancelled", "此活动已取消。")
    if not registration_open(event, now):
        if now < event.registration_opens_at:
            raise DomainError(
                "registration_not_open",
                "报名尚未开始，开始时间：%(at)s。",
                at=clock.local(event.registration_opens_at).strftime("%Y-%m-%d %H:%M"),
            )
        raise DomainError("registration_closed", "报名已截止。")
    n_companions, n_children = _parse_companions(
        ask.companions, ask.child_companions, ask.guardian_consent, event
    )
    if event.min_age and person.get("birth_year"):
        age = clock.local(event.starts_at).year - int(person["birth_year"])
        if age < event.min_age:
            raise DomainError("under_age", "本活动要求参加者年满 %(n)s 周岁。", n=event.min_age)
    places = 1 + n_companions
    if places > RULES.places_per_month:
        raise _monthly_limit_error()
    sealed_id, id_hash = _sealed_id_number(event, ask.id_number, ask.id_number_consent)
    return {
        "person_key": person["person_key"],
        "resident_id": person["resident_id"],
        "name": person["name"] or "",
        "phone": person["phone"] or "",
        "email": person["email"] or "",
        "places": places,
        "companions": n_companions,
        "child_companions": n_children,
        "guardian_consent": bool(ask.guardian_consent) and n_children > 0,
        "month": _month_of(event),
        "source": ask.source,
        "offered_until": None,
        "cancelled_at": None,
        "checked_in_at": None,
        "no_show": False,
        "reminded_at": None,
        "id_number_encrypted": sealed_id,
        "id_number_hash": id_hash,
    }


def _already_registered() -> Conflict:
    return Conflict("already_registered", "您已报名此活动，不能重复报名。")


async def _check_id_number_free(event_id: int, person_key: str, id_hash: str) -> None:
    """One ID number registers once per event (the unique (event, hash) constraint), whoever
    brings it: another person's active registration with it is a conflict, and another
    person's cancelled or expired one gives the hash up, so the number may register again."""
    other = await Registration.get_or_none(event_id=event_id, id_number_hash=id_hash)
    if other is None or other.person_key == person_key:
        return
    if other.status not in ("cancelled", "expired"):
        raise Conflict(
            "id_number_already_registered",
            "此身份证号码已用于报名本活动，同一证件只能报名一次。",
            field="id_number",
        )
    await Registration.filter(id=other.id, status__in=("cancelled", "expired")).update(
        id_number_hash=None
    )


def _registration_program(
    event_id: int,
    person: dict[str, Any],
    ask: _Ask,
    staff: Principal | None,
    existing_id: int | None,
    ticket: str,
    now: datetime,
) -> sql.Program[Registration]:
    """报名, as one transaction (``core.sql.run``; on SQLite one call on the database thread,
    which is what lets the rush go fast): read the event, check the request, take places or
    join the waiting list, write the registration, count the person's monthly places, queue
    the mail (the .ics is text; the QR code is drawn by the mail worker). A refusal anywhere
    rolls every part back."""
    # Take the places and read the event together (one statement on PostgreSQL, where the
    # event is read as it was before the update: its `taken` is not used); the checks follow,
    # and a refusal (an unpublished or missing event included) rolls the places back with
    # everything else. Malformed counts of companions read the event alone, to be refused by
    # the checks.
    asked = _asked_places(ask)
    if asked is not None:
        changed, found = yield sql.together(
            sql.changes(_TAKE_PLACES_SQL, asked, event_id, asked),
            sql.rows(_EVENT_SQL, event_id, True),
        )
        took = changed == 1
    else:
        took, found = False, (yield sql.rows(_EVENT_SQL, event_id, True))
    if not found:
        raise NotFound("找不到这个活动。")
    event = sql.from_row(OpenEvent, found[0])
    fields = _registration_fields(event, person, ask, now)
    key, month, places = fields["person_key"], fields["month"], fields["places"]
    assert not took or places == asked
    if took:
        fields.update(status="confirmed", ticket_code=ticket, confirmed_at=now)
    else:
        fields.update(status="waitlisted", ticket_code=None, confirmed_at=None)
    # The mail is written from the values (it shows no number the database assigns), so the
    # registration, the monthly places and the mail go to the database together.
    values = {**fields, "event_id": event.id, "created_at": now}
    unsaved = Registration(**values)
    if existing_id is None:
        write = sql.insert_statement(Registration, values, returning=True)
    else:
        # The person's cancelled or expired registration of this event comes back to life.
        write = sql.rows(_revive_sql(tuple(fields)), now, *fields.values(), existing_id)
    if took:
        count = sql.rows(_MONTH_UPSERT, key, month, places, RULES.places_per_month)
        mail = _mail_statement(
            unsaved, event, "confirmed", N_("报名成功：%(title)s"),
            _ticket_attachments(event, ticket),
        )
    else:
        count = sql.rows(_MONTH_HELD_SQL, key, month)
        mail = _mail_statement(unsaved, event, "waitlisted", N_("已进入候补名单：%(title)s"))
    stored, counted, *_queued = yield sql.together(write, count, *([mail] if mail else []))
    if not stored:
        raise _already_registered()
    if took and not counted:
        # The monthly places would pass the cap: one conditional upsert on the unique
        # (person, month) row, so two registrations at once can never pass it together.
        raise _monthly_limit_error()
    if not took and (counted[0]["places"] if counted else 0) + places > RULES.places_per_month:
        # A waiting person must still be able to accept an offer within the cap.
        raise _monthly_limit_error()
    registration = sql.from_row(Registration, stored[0])
    if staff is not None:
        yield audit.record_statement(
            "openmonth.phone_registration",
            staff,
            target_type="registration",
            target_id=registration.id,
            unit_id=event.unit_id,
            status=registration.status,
        )
    return registration


def _asked_places(ask: _Ask) -> int | None:
    """1 + the companions asked for, when the counts are well formed (whether the event
    allows them is checked against the event, see ``_parse_companions``)."""
    try:
        n, _children = _companion_counts(ask.companions, ask.child_companions)
    except DomainError:
        return None
    return 1 + n


@functools.cache
def _revive_sql(columns: tuple[str, ...]) -> str:
    """UPDATE of a cancelled or expired registration with new values (``columns`` are the
    column names of ``_registration_fields``, never input)."""
    assignments = ", ".join(f"{column} = ?" for column in ("created_at", *columns))
    return (
        f"UPDATE openmonth_registration SET {assignments} "  # noqa: S608 (column names)
        "WHERE id = ? AND status IN ('cancelled', 'expired') RETURNING *"
    )


async def _owned(actor: Principal | None, registration_id: int) -> tuple[Registration, OpenEvent]:
    actor = require_resident(actor)
    registration = await Registration.get_or_none(id=registration_id).select_related("event")
    if registration is None:
        raise NotFound("找不到这个报名。")
    if registration.resident_id != actor.id:
        raise Forbidden("这不是您的报名。", code="not_owner")
    return registration, registration.event


async def cancel_registration(actor: Principal | None, registration_id: int) -> Registration:
    """取消报名 before the cancellation cutoff; a held place goes to the waiting list."""
    registration, event = await _owned(actor, registration_id)
    if registration.status in ("cancelled", "expired"):
        raise Conflict("already_cancelled", "此报名已取消。")
    if clock.now() >= event.cancellation_closes_at and registration.status in HOLDING:
        raise DomainError("cancellation_closed", "已过取消截止时间，不能在线取消。")
    return await _cancel(registration, event, actor)


async def _cancel(
    registration: Registration, event: OpenEvent, actor: Principal | None
) -> Registration:
    now = clock.now()
    async with in_transaction():
        previous = registration.status
        changed = await Registration.filter(id=registration.id, status=previous).update(
            status="cancelled", cancelled_at=now, offered_until=None
        )
        if not changed:
            raise Conflict("changed_meanwhile", "此报名的状态刚刚发生了变化，请刷新后重试。")
        if previous in HOLDING:
            await _free_event_places(event.id, registration.places)
        if previous == "confirmed":
            await _free_month_places(
                registration.person_key, registration.month, registration.places
            )
        registration.status, registration.cancelled_at = "cancelled", now
        await _mail(registration, event, "cancelled", N_("报名已取消：%(title)s"))
        if previous in HOLDING:
            await _promote(event)
    return registration


async def _promote(event: OpenEvent) -> list[Registration]:
    """候补递补: offer freed places to the waiting list in order (a party that does not fit
    is passed over for the next one), each held until a deadline."""
    now = clock.now()
    if event.cancelled_at is not None or event.starts_at <= now:
        return []
    offered = []
    deadline = min(now + timedelta(hours=RULES.offer_hours), event.starts_at)
    waiting = (
        await Registration.filter(event_id=event.id, status="waitlisted")
        .order_by("created_at", "id")
        .limit(200)
    )
    for candidate in waiting:
        if not await _take_event_places(event.id, candidate.places):
            continue
        changed = await Registration.filter(id=candidate.id, status="waitlisted").update(
            status="offered", offered_until=deadline
        )
        if not changed:
            await _free_event_places(event.id, candidate.places)
            continue
        candidate.status, candidate.offered_until = "offered", deadline
        await _mail(
            candidate,
            event,
            "offered",
            N_("候补递补：请在期限前确认 %(title)s"),
            deadline=clock.local(deadline).strftime("%Y-%m-%d %H:%M"),
        )
        offered.append(candidate)
    return offered


async def confirm_offer(actor: Principal | None, registration_id: int) -> Registration:
    """确认递补: the owner accepts an offered place before its deadline (monthly cap applies)."""
    registration, event = await _owned(actor, registration_id)
    now = clock.now()
    if registration.status == "confirmed":
        raise Conflict("already_confirmed", "此名额已确认。")
    if registration.status != "offered":
        raise Conflict("not_offered", "此报名目前没有可确认的递补名额。")
    if registration.offered_until is None or registration.offered_until <= now:
        raise DomainError("offer_expired", "递补名额的确认期限已过。")
    ticket = new_ticket_code()
    async with in_transaction():
        if not await _take_month_places(
            registration.person_key, registration.month, registration.places
        ):
            raise _monthly_limit_error()
        changed = await Registration.filter(
            id=registration.id, status="offered", offered_until__gt=now
        ).update(status="confirmed", ticket_code=ticket, confirmed_at=now, offered_until=None)
        if not changed:
            raise Conflict("changed_meanwhile", "此报名的状态刚刚发生了变化，请刷新后重试。")
        registration.status, registration.ticket_code = "confirmed", ticket
        registration.confirmed_at, registration.offered_until = now, None
        await _mail(
            registration,
            event,
            "confirmed",
            N_("报名成功：%(title)s"),
            _ticket_attachments(event, ticket),
        )
    return registration


async def my_registrations(actor: Principal | None) -> list[Registration]:
    actor = require_resident(actor)
    return (
        await Registration.filter(resident_id=actor.id)
        .select_related("event")
        .order_by("-created_at", "-id")
    )


async def get_own_registration(actor: Principal | None, registration_id: int) -> Registration:
    registration, _ = await _owned(actor, registration_id)
    return registration


def registration_json(registration: Registration) -> dict[str, Any]:
    event = registration.event
    return {
        "id": registration.id,
        "event_id": event.id,
        "event_title": event.title,
        "starts_at": event.starts_at,
        "status": registration.status,
        "places": registration.places,
        "companions": registration.companions,
        "ticket_code": registration.ticket_code if registration.status == "confirmed" else None,
        "offered_until": registration.offered_until,
        "checked_in_at": registration.checked_in_at,
        "created_at": registration.created_at,
    }


# --- scheduler jobs --------------------------------------------------------------------


async def expire_offers() -> int:
    """Offers past their deadline expire and pass on to the next waiting person."""
    now = clock.now()
    due = (
        await Registration.filter(status="offered", offered_until__lte=now)
        .select_related("event")
        .limit(200)
    )
    expired = 0
    for registration in due:
        async with in_transaction():
            changed = await Registration.filter(
                id=registration.id, status="offered", offered_until__lte=now
            ).update(status="expired", offered_until=None)
            if not changed:
                continue
            event = await OpenEvent.get(id=registration.event.id)
            await _free_event_places(event.id, registration.places)
            registration.status = "expired"
            await _mail(registration, event, "expired", N_("递补名额已过期：%(title)s"))
            await _promote(event)
            expired += 1
    return expired


async def send_reminders() -> int:
    """活动提醒: once, in the 24 hours before the start, to confirmed registrations made
    before that (later ones have just received their confirmation)."""
    now = clock.now()
    events = await OpenEvent.filter(
        starts_at__gt=now,
        starts_at__lte=now + timedelta(hours=24),
        cancelled_at__isnull=True,
        published=True,
    )
    sent = 0
    for event in events:
        due = await Registration.filter(
            event_id=event.id,
            status="confirmed",
            reminded_at__isnull=True,
            confirmed_at__lte=event.starts_at - timedelta(hours=24),
        ).limit(1000)
        for registration in due:
            async with in_transaction():
                changed = await Registration.filter(
                    id=registration.id, status="confirmed", reminded_at__isnull=True
                ).update(reminded_at=now)
                if changed:
                    await _mail(registration, event, "reminder", N_("明天见：%(title)s"))
                    sent += 1
    return sent


async def _held_places(event_id: int) -> int:
    rows = (
        await Registration.filter(event_id=event_id, status__in=HOLDING)
        .annotate(total=Sum("places"))
        .values("total")
    )
    return int(rows[0]["total"] or 0) if rows else 0


async def reconcile() -> list[dict[str, Any]]:
    """对账: every event's counter against COUNT over its rows; mismatches are logged and
    audited (the counter is never read as the truth for a public count)."""
    mismatches = []
    held = {
        row["event_id"]: int(row["total"] or 0)
        for row in await Registration.filter(status__in=HOLDING)
        .group_by("event_id")
        .annotate(total=Sum("places"))
        .values("event_id", "total")
    }
    for event in await OpenEvent.all().only("id", "taken", "capacity"):
        rows = held.get(event.id, 0)
        if rows != event.taken or rows > event.capacity:
            # The two reads above are not one snapshot: a registration committed in between
            # looks like a difference. Only one that stays, with the counter unchanged, counts.
            again = await OpenEvent.get(id=event.id).only("id", "taken")
            rows = await _held_places(event.id)
            if again.taken != event.taken or (rows == event.taken and rows <= event.capacity):
                continue
            mismatches.append(
                {
                    "event_id": event.id,
                    "counter": event.taken,
                    "rows": rows,
                    "capacity": event.capacity,
                }
            )
    if mismatches:
        log.warning("openmonth counters differ from rows: %s", mismatches)
        async with in_transaction():
            await audit.record(
                "openmonth.counter_mismatch",
                target_type="event",
                target_id=mismatches[0]["event_id"],
                mismatches=mismatches[:20],
            )
    return mismatches


# --- staff: registrants, exports, no-shows, cancelling an event -----------------------


async def registrants(
    actor: Principal | None, event_id: int
) -> tuple[OpenEvent, list[Registration]]:
    """Full registrant details, for the event's organizer unit and admins only."""
    event = await _staff_event(actor, event_id)
    rows = await Registration.filter(event_id=event.id).order_by("created_at", "id")
    return event, rows


EXPORT_HEADER = (
    N_("报名号"),
    N_("姓名"),
    N_("手机"),
    N_("邮箱"),
    N_("状态"),
    N_("人数"),
    N_("其中 14 岁以下儿童"),
    N_("电子票号"),
    N_("报名时间"),
    N_("签到时间"),
    N_("未到场"),
    N_("来源"),
)
#: The extra column of an event that checks ID on site: the number masked, never whole.
EXPORT_ID_HEADER = N_("身份证号码（脱敏）")


def export_header(event: OpenEvent) -> list[str]:
    """The export's column titles (msgids), with the masked ID number when the event checks ID."""
    return [*EXPORT_HEADER, *((EXPORT_ID_HEADER,) if event.id_check else ())]


async def export_rows(actor: Principal | None, event_id: int) -> tuple[OpenEvent, list[list[Any]]]:
    event, rows = await registrants(actor, event_id)

    def when(value: datetime | None) -> str:
        return clock.local(value).strftime("%Y-%m-%d %H:%M") if value else ""

    data = [
        [
            r.id,
            r.name,
            r.phone,
            r.email,
            gettext(STATUS_LABELS[r.status]),
            r.places,
            r.child_companions,
            r.ticket_code or "",
            when(r.created_at),
            when(r.checked_in_at),
            gettext("是") if r.no_show else "",
            r.source,
            *((masked_id_number(r),) if event.id_check else ()),
        ]
        for r in rows
    ]
    async with in_transaction():
        await audit.record(
            "openmonth.registrants_exported",
            actor,
            target_type="event",
            target_id=event.id,
            unit_id=event.unit_id,
            rows=len(data),
        )
    return event, data


async def mark_no_shows(actor: Principal | None, event_id: int, registration_ids: list[int]) -> int:
    """未到场: after the start, confirmed registrations not checked in may be marked."""
    event = await _staff_event(actor, event_id)
    if clock.now() < event.starts_at:
        raise DomainError("event_not_started", "活动开始后才能标记未到场。")
    async with in_transaction():
        changed = await Registration.filter(
            event_id=event.id,
            id__in=registration_ids,
            status="confirmed",
            checked_in_at__isnull=True,
        ).update(no_show=True)
        await audit.record(
            "openmonth.no_shows",
            actor,
            target_type="event",
            target_id=event.id,
            unit_id=event.unit_id,
            count=changed,
        )
    return changed


async def cancel_event(actor: Principal | None, event_id: int, reason: str) -> int:
    """取消活动: every active registration is cancelled and mailed with the reason."""
    event = await _staff_event(actor, event_id)
    reason = (reason or "").strip()
    if not reason or len(reason) > 1000:
        raise DomainError("reason_required", "请填写取消原因（不超过 1000 字）。", field="reason")
    now = clock.now()
    async with in_transaction():
        changed = await OpenEvent.filter(id=event.id, cancelled_at__isnull=True).update(
            cancelled_at=now, cancel_reason=reason
        )
        if not changed:
            raise Conflict("event_already_cancelled", "此活动已经取消。")
        event.cancelled_at, event.cancel_reason = now, reason
        active = await Registration.filter(event_id=event.id, status__in=(*HOLDING, "waitlisted"))
        for registration in active:
            await Registration.filter(id=registration.id).update(
                status="cancelled", cancelled_at=now, offered_until=None
            )
            if registration.status in HOLDING:
                await _free_event_places(event.id, registration.places)
            if registration.status == "confirmed":
                await _free_month_places(
                    registration.person_key, registration.month, registration.places
                )
            await _mail(
                registration, event, "event_cancelled", N_("活动取消通知：%(title)s"), reason=reason
            )
        await audit.record(
            "openmonth.event_cancelled",
            actor,
            target_type="event",
            target_id=event.id,
            unit_id=event.unit_id,
            registrations=len(active),
            reason=reason[:200],
        )
    return len(active)


# --- check-in -----------------------------------------------------------------------------


async def check_in(
    actor: Principal | None,
    ticket_code: Any,
    event_id: int | None = None,
    scanned_at: datetime | None = None,
) -> tuple[Registration, bool]:
    """签到: the event's organizer unit or an admin checks a ticket in, once.

    Returns the registration and whether this call checked it in (False: it already was).
    An unknown code is 404; a code of another event (when ``event_id`` is given) too. A scan
    queued offline keeps its own time (``scanned_at``) if it is plausible.
    """
    authorize(actor, STAFF_ROLES)
    code = normalize_ticket_code(ticket_code)
    registration = (
        await Registration.get_or_none(ticket_code=code).select_related("event") if code else None
    )
    if registration is None or (event_id is not None and registration.event.id != event_id):
        raise NotFound("无效的电子票号。", code="unknown_ticket")
    event = registration.event
    authorize(actor, STAFF_ROLES, event.unit_id)
    if registration.status != "confirmed":
        raise DomainError("ticket_not_valid", "此电子票已失效（报名已取消）。")
    now = clock.now()
    at = now
    if (
        scanned_at is not None
        and scanned_at.tzinfo is not None
        and now - timedelta(days=2) <= scanned_at <= now
    ):
        at = scanned_at
    changed = await Registration.filter(
        id=registration.id, status="confirmed", checked_in_at__isnull=True
    ).update(checked_in_at=at, checked_in_by=actor.id, no_show=False)  # type: ignore[union-attr]
    if changed:
        registration.checked_in_at = at
        return registration, True
    return await Registration.get(id=registration.id).select_related("event"), False


def already_checked_in_error(registration: Registration) -> Conflict:
    return Conflict(
        "already_checked_in",
        "已于 %(at)s 签到。",
        at=clock.local(registration.checked_in_at).strftime("%H:%M"),
    )


async def checkin_stats(event: OpenEvent) -> dict[str, int]:
    rows = Registration.filter(event_id=event.id, status="confirmed")
    return {
        "expected": await rows.count(),
        "checked_in": await rows.filter(checked_in_at__isnull=False).count(),
    }


# --- ratings ---------------------------------------------------------------------------------


async def may_rate(actor: Principal | None, event: OpenEvent) -> bool:
    if actor is None or not actor.is_resident or clock.now() < event.ends_at:
        return False
    registration = await registration_of(actor, event.id)
    if registration is None:
        return False
    if registration.checked_in_at is not None:
        return True
    return event.mode in ("online", "hybrid") and registration.status == "confirmed"


async def rate_event(
    actor: Principal | None, event_id: int, stars: Any, comment: Any = ""
) -> Rating:
    """活动评价: after the end, checked-in attendees (and online registrants) rate 1–5, once."""
    actor = require_resident(actor)
    event = await get_event(event_id, actor)
    if clock.now() < event.ends_at:
        raise DomainError("event_not_over", "活动结束后才能评价。")
    if not await may_rate(actor, event):
        raise DomainError("not_attended", "只有签到参加（或报名线上观看）的居民才能评价。")
    try:
        value = int(stars)
    except (TypeError, ValueError):
        value = 0
    if isinstance(stars, bool) or not 1 <= value <= 5:
        raise DomainError("invalid_rating", "请选择 1 到 5 星。", field="stars")
    text = str(comment or "").strip()
    if len(text) > 500:
        raise DomainError("invalid_rating", "评价内容不能超过 500 字。", field="comment")
    try:
        async with in_transaction():
            return await Rating.create(
                event_id=event.id,
                person_key=_resident_key(actor.id),
                stars=value,
                comment=text,
                created_at=clock.now(),
            )
    except IntegrityError:
        raise Conflict("already_rated", "您已评价过此活动。") from None


async def my_rating(actor: Principal | None, event_id: int) -> Rating | None:
    if actor is None or not actor.is_resident:
        return None
    return await Rating.get_or_none(event_id=event_id, person_key=_resident_key(actor.id))


async def ratings_of(actor: Principal | None, event_id: int) -> tuple[OpenEvent, list[Rating]]:
    event = await _staff_event(actor, event_id)
    return event, await Rating.filter(event_id=event.id).order_by("-created_at")
