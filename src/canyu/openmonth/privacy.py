"""A resident's data in the open month (个人信息保护法 arts. 45, 47 and 19): the export of
their registrations and ratings, the anonymization when the account is deleted, and the purge
after the retention period.

Counts stay exact: a registration is never deleted, its places and companions stay, so the
event's ``taken`` counter still equals the places of the holding rows (``service.reconcile``),
attendance and ratings still add up. What goes is who it was: name, phone, email, the ID number
(encrypted, and its keyed hash), the link to the account and the person key (a resident id, or
a keyed hash of the phone number)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tortoise.expressions import Expression, Q, RawSQL, ResolveContext, ResolveResult

from canyu.accounts import privacy
from canyu.core import clock
from canyu.core.errors import Conflict
from canyu.openmonth import service
from canyu.openmonth.models import MonthlyPlaces, OpenEvent, Rating, Registration

#: Person keys of anonymized rows start with this, followed by the row's own id (unique, so
#: the one-per-person-per-event constraints still hold).
ANONYMOUS = "anon:"


class _AnonymousKey(Expression):
    """``'anon:' || id`` in an UPDATE: each row's key from its own id, in one statement (the
    same SQL on SQLite and PostgreSQL)."""

    def resolve(self, resolve_context: ResolveContext) -> ResolveResult:
        return ResolveResult(term=RawSQL(f"'{ANONYMOUS}' || CAST(id AS TEXT)"))


_ANONYMOUS_KEY = _AnonymousKey()
_CLEARED: dict[str, Any] = {
    "name": "",
    "phone": "",
    "email": "",
    "resident_id": None,
    "id_number_encrypted": "",
    "id_number_hash": None,
}


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def _person_key(resident_id: int) -> str:
    return f"r{resident_id}"


async def export_personal_data(resident_id: int) -> dict[str, Any]:
    """The resident's registrations (as registered, with companions, ticket, status and
    check-in, the ID number masked as everywhere: 3101**********123X) and the ratings they
    gave."""
    registrations = (
        await Registration.filter(resident_id=resident_id).select_related("event").order_by("id")
    )
    ratings = (
        await Rating.filter(person_key=_person_key(resident_id))
        .select_related("event")
        .order_by("id")
    )
    return {
        "registrations": [
            {
                "id": r.id,
                "event": r.event.title,
                "starts_at": _iso(r.event.starts_at),
                "ends_at": _iso(r.event.ends_at),
                "name": r.name,
                "phone": r.phone,
                "email": r.email,
                "id_number": service.masked_id_number(r) or None,
                "status": r.status,
                "places": r.places,
                "companions": r.companions,
                "child_companions": r.child_companions,
                "guardian_consent": r.guardian_consent,
                "ticket_code": r.ticket_code,
                "source": r.source,
                "created_at": _iso(r.created_at),
                "confirmed_at": _iso(r.confirmed_at),
                "offered_until": _iso(r.offered_until),
                "cancelled_at": _iso(r.cancelled_at),
                "checked_in_at": _iso(r.checked_in_at),
                "no_show": r.no_show,
            }
            for r in registrations
        ],
        "ratings": [
            {
                "event": rating.event.title,
                "stars": rating.stars,
                "comment": rating.comment,
                "created_at": _iso(rating.created_at),
            }
            for rating in ratings
        ],
    }


async def erase_personal_data(resident_id: int) -> None:
    """Account deleted. A place at an event still to come is given up as a cancellation would
    (while online cancellation is allowed): the counter is freed and the waiting list moves
    up. Then every registration and rating loses name, phone, email, the ID number, the
    account link and the person key; the month counters of the person go."""
    now = clock.now()
    registrations = await Registration.filter(resident_id=resident_id).select_related("event")
    for r in registrations:
        event = r.event
        cancellable = r.status == "waitlisted" or (
            r.status in service.HOLDING and now < event.cancellation_closes_at
        )
        if event.starts_at > now and cancellable:
            r.email = ""  # no mail to an address that is being erased
            try:
                await service._cancel(r, event, None)
            except Conflict:
                pass  # its status changed meanwhile (an offer expired): nothing held to free
    ids = [r.id for r in registrations]
    if ids:
        await Registration.filter(id__in=ids).update(person_key=_ANONYMOUS_KEY, **_CLEARED)
    await Rating.filter(person_key=_person_key(resident_id)).update(person_key=_ANONYMOUS_KEY)
    await MonthlyPlaces.filter(person_key=_person_key(resident_id)).delete()


async def purge_expired(before: datetime) -> int:
    """Past the retention period: registrations and ratings of events that ended before
    ``before`` lose name, phone, email, the ID number, the account link and the person key;
    places, companions, statuses, check-ins and stars stay. Month counters of months before the
    one of ``before`` are deleted (no registration can use them any more). Returns how many
    rows changed (a second run changes none)."""
    ended = list(await OpenEvent.filter(ends_at__lt=before).values_list("id", flat=True))
    purged = 0
    if ended:
        not_yet = ~Q(person_key__startswith=ANONYMOUS)
        purged += int(
            await Registration.filter(Q(event_id__in=ended), not_yet).update(
                person_key=_ANONYMOUS_KEY, **_CLEARED
            )
            or 0
        )
        purged += int(
            await Rating.filter(Q(event_id__in=ended), not_yet).update(person_key=_ANONYMOUS_KEY)
            or 0
        )
    month = clock.local(before).strftime("%Y-%m")
    purged += int(await MonthlyPlaces.filter(month__lt=month).delete() or 0)
    return purged


def register_personal_data() -> None:
    """Called once by the feature's routes module (loaded by the app)."""
    privacy.register("openmonth", export_personal_data, erase_personal_data)
    privacy.register_retention("openmonth", purge_expired)
