"""A resident's data in decision meetings (个人信息保护法 arts. 45, 47 and 19): the export of
their applications (with the draw result, the invitation and their suggestions), the
anonymization when the account is deleted, and the purge after the retention period.

The published draw stays verifiable: its record (the pseudonymous pool of application ids with
category, gender, 街镇 and age band, the seed and the result) is kept whole, and so are the
application rows' id and those same strata. Name, email, occupation, reasons and the link to the
account go."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tortoise.expressions import Q

from canyu.accounts import privacy
from canyu.core import clock
from canyu.meetings import service
from canyu.meetings.models import Application, Invitation, Meeting, Suggestion

#: Statuses an application leaves (to ``withdrawn``) when its author deletes the account
#: before the pool is frozen.
_OPEN_STATUSES = ("submitted", "qualified")
#: Commitment states in which the pool is not frozen yet.
_POOL_NOT_FROZEN = ("none", "failed")
#: What an erased or purged application no longer holds.
_CLEARED: dict[str, Any] = {
    "name": "",
    "email": "",
    "occupation": "",
    "reason": "",
    "review_reason": "",
    "keep_in_pool": False,
}


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def _drawn_as(meeting: Meeting, application_id: int) -> str | None:
    record = meeting.record or {}
    if application_id in record.get("selected", []):
        return "selected"
    if application_id in record.get("alternates", []):
        return "alternate"
    return None


async def export_personal_data(resident_id: int) -> list[dict[str, Any]]:
    """The resident's applications as submitted, the review, the draw result, the invitation
    and the suggestions they made as a delegate."""
    applications = (
        await Application.filter(resident_id=resident_id).prefetch_related("meeting").order_by("id")
    )
    ids = [a.id for a in applications]
    invitations = {i.application_id: i for i in await Invitation.filter(application_id__in=ids)}  # type: ignore[attr-defined]
    suggestions: dict[int, list[Suggestion]] = {}
    for s in (
        await Suggestion.filter(application_id__in=ids).prefetch_related("topic").order_by("id")
    ):
        suggestions.setdefault(s.application_id, []).append(s)  # type: ignore[attr-defined]
    out = []
    for a in applications:
        invitation = invitations.get(a.id)
        out.append(
            {
                "id": a.id,
                "meeting": a.meeting.title,
                "meets_at": _iso(a.meeting.meets_at),
                "name": a.name,
                "email": a.email,
                "gender": a.gender,
                "birth_year": a.birth_year,
                "district": a.district,
                "occupation": a.occupation,
                "category": a.category,
                "reason": a.reason,
                "no_conflict": a.no_conflict,
                "consent": a.consent,
                "keep_in_pool": a.keep_in_pool,
                "status": a.status,
                "review_reason": a.review_reason,
                "created_at": _iso(a.created_at),
                "updated_at": _iso(a.updated_at),
                "drawn_as": _drawn_as(a.meeting, a.id),
                "invitation": None
                if invitation is None
                else {
                    "kind": invitation.kind,
                    "status": invitation.status,
                    "deadline": _iso(invitation.deadline),
                    "responded_at": _iso(invitation.responded_at),
                    "checked_in_at": _iso(invitation.checked_in_at),
                },
                "suggestions": [
                    {
                        "topic": s.topic.title,
                        "body": s.body,
                        "owner_unit": s.owner_unit,
                        "status": s.status,
                        "answer": s.answer,
                        "answered_at": _iso(s.answered_at),
                        "created_at": _iso(s.created_at),
                    }
                    for s in suggestions.get(a.id, [])
                ],
            }
        )
    return out


async def erase_personal_data(resident_id: int) -> None:
    """Account deleted. Every application loses its personal fields and its link to the account
    (``resident_id`` becomes minus the application id: unique per meeting, as the constraint
    wants). For a meeting still to come, an application not yet in a frozen pool is withdrawn,
    and an open or accepted invitation is declined (audited with the reason), so the scheduler
    invites the next alternate in the recorded order. An application in a frozen pool that is
    drawn later, or whose turn as an alternate comes later, is declined at that moment and
    mailed nothing (``service.reachable``). Past meetings keep their statuses (who attended,
    as counted), and suggestions stay, attached to the anonymous application."""
    now = clock.now()
    for a in await Application.filter(resident_id=resident_id).prefetch_related("meeting"):
        upcoming = a.meeting.meets_at > now
        status = a.status
        if (
            upcoming
            and status in _OPEN_STATUSES
            and a.meeting.commitment_status in _POOL_NOT_FROZEN
        ):
            status = "withdrawn"
        await Application.filter(id=a.id).update(
            resident_id=-a.id, status=status, updated_at=now, **_CLEARED
        )
        if not upcoming:
            continue
        for invitation in await Invitation.filter(
            application_id=a.id, status__in=("invited", "accepted")
        ):
            if await Invitation.filter(id=invitation.id, status__in=("invited", "accepted")).update(
                status="declined", responded_at=now
            ):
                await service.record_unreachable_decline(a.meeting, invitation)


async def purge_expired(before: datetime) -> int:
    """Past the retention period: applications to meetings held before ``before`` lose name,
    email, occupation and reasons. The strata and the account link stay (the re-selection rule
    looks back up to ten years at who attended); the draw record is not touched. Returns how
    many applications changed (a second run changes none)."""
    held = await Meeting.filter(meets_at__lt=before).values_list("id", flat=True)
    if not held:
        return 0
    has_person = (
        Q(name__not="")
        | Q(email__not="")
        | Q(occupation__not="")
        | Q(reason__not="")
        | Q(review_reason__not="")
        | Q(keep_in_pool=True)
    )
    changed = await Application.filter(Q(meeting_id__in=list(held)), has_person).update(**_CLEARED)
    return int(changed or 0)


def register_personal_data() -> None:
    """Called once by the feature's routes module (loaded by the app)."""
    privacy.register("meetings", export_personal_data, erase_personal_data)
    privacy.register_retention("meetings", purge_expired)
