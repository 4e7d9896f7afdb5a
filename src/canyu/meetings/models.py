"""Decision meetings (政府决策会议), applications, the draw, invitations and suggestions."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model


class Meeting(Model):
    """政府决策会议: a meeting with an open call for public representatives."""

    id = fields.IntField(primary_key=True)
    title = fields.CharField(max_length=200)
    summary = fields.TextField(default="")
    location = fields.CharField(max_length=200, default="")
    unit_id = fields.IntField(null=True)
    meets_at = fields.DatetimeField()
    applications_open_at = fields.DatetimeField()
    applications_close_at = fields.DatetimeField()
    seats = fields.IntField()
    alternates = fields.IntField(default=0)
    quotas = fields.JSONField(default=dict)
    eligibility = fields.TextField(default="")
    seed_source = fields.TextField(default="")
    reselect_months = fields.IntField(default=12)
    confirm_hours = fields.IntField(default=72)
    decision_summary = fields.TextField(default="")
    published = fields.BooleanField(default=True)
    commitment_status = fields.CharField(max_length=16, default="none")
    commitment = fields.JSONField(null=True)
    commitment_error = fields.TextField(default="")
    commitment_started_at = fields.DatetimeField(null=True)
    record = fields.JSONField(null=True)
    drawn_at = fields.DatetimeField(null=True)
    created_by_id = fields.IntField(null=True)
    created_at = fields.DatetimeField()

    class Meta:
        table = "meeting"


class Topic(Model):
    """议题 with its materials (Markdown)."""

    id = fields.IntField(primary_key=True)
    meeting: fields.ForeignKeyRelation[Meeting] = fields.ForeignKeyField(
        "meetings.Meeting", related_name="topics", on_delete=fields.CASCADE
    )
    position = fields.IntField(default=0)
    title = fields.CharField(max_length=200)
    materials = fields.TextField(default="")

    class Meta:
        table = "meeting_topic"


class Application(Model):
    """公众代表报名: one per resident per meeting (unique constraint)."""

    id = fields.IntField(primary_key=True)
    meeting: fields.ForeignKeyRelation[Meeting] = fields.ForeignKeyField(
        "meetings.Meeting", related_name="applications", on_delete=fields.CASCADE
    )
    resident_id = fields.IntField()
    email = fields.CharField(max_length=254, default="")
    name = fields.CharField(max_length=50)
    gender = fields.CharField(max_length=4)
    birth_year = fields.IntField()
    district = fields.CharField(max_length=16)
    occupation = fields.CharField(max_length=100)
    category = fields.CharField(max_length=4)
    reason = fields.TextField()
    no_conflict = fields.BooleanField()
    consent = fields.BooleanField()
    keep_in_pool = fields.BooleanField(default=False)
    status = fields.CharField(max_length=16, default="submitted")
    review_reason = fields.TextField(default="")
    reviewed_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField()
    updated_at = fields.DatetimeField()

    class Meta:
        table = "meeting_application"
        unique_together = (("meeting", "resident_id"),)


class Invitation(Model):
    """An invitation to attend: the selected first, then alternates in the recorded order."""

    id = fields.IntField(primary_key=True)
    meeting: fields.ForeignKeyRelation[Meeting] = fields.ForeignKeyField(
        "meetings.Meeting", related_name="invitations", on_delete=fields.CASCADE
    )
    application: fields.ForeignKeyRelation[Application] = fields.ForeignKeyField(
        "meetings.Application", related_name="invitations", on_delete=fields.CASCADE
    )
    kind = fields.CharField(max_length=12)  # selected | alternate
    token = fields.CharField(max_length=64, unique=True)
    status = fields.CharField(max_length=12, default="invited")
    deadline = fields.DatetimeField()
    responded_at = fields.DatetimeField(null=True)
    checked_in_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField()

    class Meta:
        table = "meeting_invitation"
        unique_together = (("meeting", "application"),)


class Suggestion(Model):
    """意见建议 (跟踪督办): tracked until an answer is published."""

    id = fields.IntField(primary_key=True)
    meeting: fields.ForeignKeyRelation[Meeting] = fields.ForeignKeyField(
        "meetings.Meeting", related_name="suggestions", on_delete=fields.CASCADE
    )
    topic: fields.ForeignKeyRelation[Topic] = fields.ForeignKeyField(
        "meetings.Topic", related_name="suggestions", on_delete=fields.CASCADE
    )
    application: fields.ForeignKeyNullableRelation[Application] = fields.ForeignKeyField(
        "meetings.Application", related_name="suggestions", null=True, on_delete=fields.SET_NULL
    )
    body = fields.TextField()
    owner_unit = fields.CharField(max_length=64)
    due_on = fields.DateField()
    status = fields.CharField(max_length=16, default="processing")
    answer = fields.TextField(default="")
    answered_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField()

    class Meta:
        table = "meeting_suggestion"
