"""Consultations (公开征询意见): drafts by section, comments, dispositions, FAQ, the message
board (政策留言板) and subscriptions (政策订阅)."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model


class Consultation(Model):
    """征求意见稿: a draft policy open for comment between opens_at and closes_at."""

    id = fields.IntField(primary_key=True)
    title = fields.CharField(max_length=200)
    #: The owning unit (organizers act only on their own unit).
    unit_id = fields.IntField(null=True, db_index=True)
    drafting_unit = fields.CharField(max_length=100, default="")
    kind = fields.CharField(max_length=20)
    basis = fields.TextField(default="")
    contact = fields.CharField(max_length=300, default="")
    body = fields.TextField(default="")
    interpretation = fields.TextField(default="")
    opens_at = fields.DatetimeField()
    closes_at = fields.DatetimeField()
    period_reason = fields.TextField(default="")
    audiences = fields.JSONField(default=list)
    topics = fields.JSONField(default=list)
    published_at = fields.DatetimeField(null=True)
    open_notified_at = fields.DatetimeField(null=True)
    report_published_at = fields.DatetimeField(null=True)
    report_summary = fields.TextField(default="")
    created_by_id = fields.IntField(null=True)
    created_at = fields.DatetimeField()
    updated_at = fields.DatetimeField()

    class Meta:
        table = "consultation"


class Section(Model):
    """条 / 章节: a part of the draft that can be commented on."""

    id = fields.IntField(primary_key=True)
    consultation: fields.ForeignKeyRelation[Consultation] = fields.ForeignKeyField(
        "consultations.Consultation", related_name="sections", on_delete=fields.CASCADE
    )
    position = fields.IntField()
    title = fields.CharField(max_length=200)
    body = fields.TextField(default="")

    class Meta:
        table = "consultation_section"
        unique_together = (("consultation", "position"),)


class Attachment(Model):
    """A PDF or Word file published with the draft, stored outside static/."""

    id = fields.IntField(primary_key=True)
    consultation: fields.ForeignKeyRelation[Consultation] = fields.ForeignKeyField(
        "consultations.Consultation", related_name="attachments", on_delete=fields.CASCADE
    )
    filename = fields.CharField(max_length=200)
    content_type = fields.CharField(max_length=100)
    size = fields.IntField()
    stored_name = fields.CharField(max_length=80, unique=True)
    created_at = fields.DatetimeField()

    class Meta:
        table = "consultation_attachment"


class Comment(Model):
    """意见: pending until a moderator publishes or rejects it, then given a disposition."""

    id = fields.IntField(primary_key=True)
    consultation: fields.ForeignKeyRelation[Consultation] = fields.ForeignKeyField(
        "consultations.Consultation", related_name="comments", on_delete=fields.CASCADE
    )
    section: fields.ForeignKeyNullableRelation[Section] = fields.ForeignKeyField(
        "consultations.Section", related_name="comments", null=True, on_delete=fields.SET_NULL
    )
    resident_id = fields.IntField(db_index=True)
    author_name = fields.CharField(max_length=50, default="")
    body = fields.TextField()
    status = fields.CharField(max_length=12, default="pending", db_index=True)
    sensitive_hits = fields.JSONField(default=list)
    reject_reason = fields.TextField(default="")
    moderated_at = fields.DatetimeField(null=True)
    moderated_by_id = fields.IntField(null=True)
    outcome = fields.CharField(max_length=16, null=True)
    outcome_reason = fields.TextField(default="")
    disposed_at = fields.DatetimeField(null=True)
    supports = fields.IntField(default=0)
    created_at = fields.DatetimeField()

    class Meta:
        table = "consultation_comment"


class CommentSupport(Model):
    """赞同: one per resident and published comment (a unique constraint)."""

    id = fields.IntField(primary_key=True)
    comment: fields.ForeignKeyRelation[Comment] = fields.ForeignKeyField(
        "consultations.Comment", related_name="support_rows", on_delete=fields.CASCADE
    )
    resident_id = fields.IntField()
    created_at = fields.DatetimeField()

    class Meta:
        table = "consultation_comment_support"
        unique_together = (("comment", "resident_id"),)


class FaqEntry(Model):
    """常见问题与解答: a staff-written question and answer of one policy."""

    id = fields.IntField(primary_key=True)
    consultation: fields.ForeignKeyRelation[Consultation] = fields.ForeignKeyField(
        "consultations.Consultation", related_name="faq", on_delete=fields.CASCADE
    )
    question = fields.TextField()
    answer = fields.TextField()
    position = fields.IntField(default=0)
    created_at = fields.DatetimeField()

    class Meta:
        table = "consultation_faq"


class BoardQuestion(Model):
    """政策留言板留言: a question about a policy, assigned to a unit with a reply deadline."""

    id = fields.IntField(primary_key=True)
    consultation: fields.ForeignKeyRelation[Consultation] = fields.ForeignKeyField(
        "consultations.Consultation", related_name="questions", on_delete=fields.CASCADE
    )
    resident_id = fields.IntField(db_index=True)
    author_name = fields.CharField(max_length=50, default="")
    body = fields.TextField()
    unit_id = fields.IntField(null=True, db_index=True)
    due_on = fields.DateField()
    answer = fields.TextField(default="")
    answered_at = fields.DatetimeField(null=True)
    answered_by_id = fields.IntField(null=True)
    rating = fields.CharField(max_length=24, null=True)
    follow_up = fields.TextField(default="")
    follow_up_at = fields.DatetimeField(null=True)
    follow_up_answer = fields.TextField(default="")
    follow_up_answered_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField()

    class Meta:
        table = "consultation_board_question"


class Subscription(Model):
    """政策订阅: one per resident, topics and audiences, mailed at once or daily."""

    id = fields.IntField(primary_key=True)
    resident_id = fields.IntField(unique=True)
    email = fields.CharField(max_length=254)
    topics = fields.JSONField(default=list)
    audiences = fields.JSONField(default=list)
    mode = fields.CharField(max_length=12, default="immediate")
    active = fields.BooleanField(default=True)
    created_at = fields.DatetimeField()
    #: When the resident unsubscribed (null while subscribed), the start of its retention period
    unsubscribed_at = fields.DatetimeField(null=True)

    class Meta:
        table = "consultation_subscription"


class DigestItem(Model):
    """A notice waiting for a subscriber's daily digest."""

    id = fields.IntField(primary_key=True)
    subscription: fields.ForeignKeyRelation[Subscription] = fields.ForeignKeyField(
        "consultations.Subscription", related_name="digest_items", on_delete=fields.CASCADE
    )
    line = fields.CharField(max_length=300)
    path = fields.CharField(max_length=200)
    created_at = fields.DatetimeField()
    sent_at = fields.DatetimeField(null=True)

    class Meta:
        table = "consultation_digest_item"
