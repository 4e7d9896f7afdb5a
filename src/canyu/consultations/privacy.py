"""A resident's data in comment periods (个人信息保护法 arts. 45, 47 and 19): the export, the
anonymization when the account is deleted, and the purge after the retention period.

Public contributions (comments, message-board questions, supports) stay where they are,
anonymized: no name, no link to the account. A subscription holds nothing but the resident's
address and wishes, so it is deleted: with the account, or a retention period after the resident
unsubscribed."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tortoise.expressions import F, Q, Subquery

from canyu.accounts import privacy
from canyu.consultations.models import (
    BoardQuestion,
    Comment,
    CommentSupport,
    Consultation,
    DigestItem,
    Subscription,
)
from canyu.core import clock

#: ``resident_id`` of a comment or a question that belongs to no account any more.
NO_ACCOUNT = 0


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


async def export_personal_data(resident_id: int) -> dict[str, Any]:
    """Everything the resident wrote or asked for: comments (with their moderation and
    disposition), supports, message-board questions (with answers, rating and follow-up) and the
    policy subscription."""
    comments = (
        await Comment.filter(resident_id=resident_id)
        .prefetch_related("consultation", "section")
        .order_by("id")
    )
    supports = (
        await CommentSupport.filter(resident_id=resident_id)
        .prefetch_related("comment__consultation")
        .order_by("id")
    )
    questions = (
        await BoardQuestion.filter(resident_id=resident_id)
        .prefetch_related("consultation")
        .order_by("id")
    )
    subscription = await Subscription.get_or_none(resident_id=resident_id)
    return {
        "comments": [
            {
                "id": cm.id,
                "consultation": cm.consultation.title,
                "section": cm.section.title if cm.section else None,
                "author_name": cm.author_name,
                "body": cm.body,
                "status": cm.status,
                "reject_reason": cm.reject_reason,
                "outcome": cm.outcome,
                "outcome_reason": cm.outcome_reason,
                "supports": cm.supports,
                "created_at": _iso(cm.created_at),
            }
            for cm in comments
        ],
        "supports": [
            {
                "comment_id": s.comment.id,
                "consultation": s.comment.consultation.title,
                "created_at": _iso(s.created_at),
            }
            for s in supports
        ],
        "questions": [
            {
                "id": q.id,
                "consultation": q.consultation.title,
                "author_name": q.author_name,
                "body": q.body,
                "answer": q.answer,
                "answered_at": _iso(q.answered_at),
                "rating": q.rating,
                "follow_up": q.follow_up,
                "follow_up_answer": q.follow_up_answer,
                "created_at": _iso(q.created_at),
            }
            for q in questions
        ],
        "subscription": None
        if subscription is None
        else {
            "email": subscription.email,
            "topics": subscription.topics,
            "audiences": subscription.audiences,
            "mode": subscription.mode,
            "active": subscription.active,
            "created_at": _iso(subscription.created_at),
            "unsubscribed_at": _iso(subscription.unsubscribed_at),
        },
    }


async def _unlink_supports(query: Any) -> int:
    """Supports stay counted but point to no account: ``resident_id`` becomes minus the row's
    own id (unique, so the one-support-per-resident constraint still holds)."""
    return int(await query.filter(resident_id__gt=0).update(resident_id=F("id") * -1) or 0)


async def erase_personal_data(resident_id: int) -> None:
    """Account deleted: comments and questions stay, shown as 匿名, without the account link;
    supports stay counted; the subscription and its pending digest lines are deleted."""
    await Comment.filter(resident_id=resident_id).update(resident_id=NO_ACCOUNT, author_name="")
    await BoardQuestion.filter(resident_id=resident_id).update(
        resident_id=NO_ACCOUNT, author_name=""
    )
    await _unlink_supports(CommentSupport.filter(resident_id=resident_id))
    subscription_ids = await Subscription.filter(resident_id=resident_id).values_list(
        "id", flat=True
    )
    if subscription_ids:
        await DigestItem.filter(subscription_id__in=list(subscription_ids)).delete()
        await Subscription.filter(id__in=list(subscription_ids)).delete()


async def _purge_unsubscribed(before: datetime) -> int:
    """Subscriptions unsubscribed before ``before`` are deleted with their pending digest lines
    (the address goes with them). One unsubscribed before the moment was recorded gets its
    moment now, so its retention period starts at the first run."""
    await Subscription.filter(active=False, unsubscribed_at__isnull=True).update(
        unsubscribed_at=clock.now()
    )
    ended = Subscription.filter(active=False, unsubscribed_at__lt=before)
    await DigestItem.filter(subscription_id__in=Subquery(ended.values("id"))).delete()
    return int(await ended.delete() or 0)


async def purge_expired(before: datetime) -> int:
    """Past the retention period: comments of periods closed before ``before``, and
    message-board questions whose last exchange happened before it, lose the author's name and
    the link to the account; supports of those comments lose the link too; subscriptions
    unsubscribed before it are deleted. Returns how many rows changed (a second run changes
    none)."""
    purged = await _purge_unsubscribed(before)
    has_person = Q(resident_id__not=NO_ACCOUNT) | Q(author_name__not="")
    closed = await Consultation.filter(closes_at__lt=before).values_list("id", flat=True)
    if closed:
        purged += int(
            await Comment.filter(Q(consultation_id__in=list(closed)), has_person).update(
                resident_id=NO_ACCOUNT, author_name=""
            )
            or 0
        )
        comments = Comment.filter(consultation_id__in=list(closed)).values("id")
        purged += await _unlink_supports(CommentSupport.filter(comment_id__in=Subquery(comments)))
    quiet = (
        Q(created_at__lt=before)
        & (Q(answered_at__isnull=True) | Q(answered_at__lt=before))
        & (Q(follow_up_at__isnull=True) | Q(follow_up_at__lt=before))
        & (Q(follow_up_answered_at__isnull=True) | Q(follow_up_answered_at__lt=before))
    )
    purged += int(
        await BoardQuestion.filter(quiet, has_person).update(resident_id=NO_ACCOUNT, author_name="")
        or 0
    )
    return purged


def register_personal_data() -> None:
    """Called once by the feature's routes module (loaded by the app)."""
    privacy.register("consultations", export_personal_data, erase_personal_data)
    privacy.register_retention("consultations", purge_expired)
