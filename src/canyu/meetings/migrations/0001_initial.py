import functools
from json import dumps, loads

from tortoise import fields, migrations
from tortoise.fields.base import OnDelete
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    initial = True

    operations = [
        ops.CreateModel(
            name="Meeting",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                ("title", fields.CharField(max_length=200)),
                ("summary", fields.TextField(default="", unique=False)),
                ("location", fields.CharField(default="", max_length=200)),
                ("unit_id", fields.IntField(null=True)),
                ("meets_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ("applications_open_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ("applications_close_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ("seats", fields.IntField()),
                ("alternates", fields.IntField(default=0)),
                (
                    "quotas",
                    fields.JSONField(
                        default=dict,
                        encoder=functools.partial(dumps, separators=(",", ":")),
                        decoder=loads,
                    ),
                ),
                ("eligibility", fields.TextField(default="", unique=False)),
                ("seed_source", fields.TextField(default="", unique=False)),
                ("reselect_months", fields.IntField(default=12)),
                ("confirm_hours", fields.IntField(default=72)),
                ("decision_summary", fields.TextField(default="", unique=False)),
                ("published", fields.BooleanField(default=True)),
                ("commitment_status", fields.CharField(default="none", max_length=16)),
                (
                    "commitment",
                    fields.JSONField(
                        null=True,
                        encoder=functools.partial(dumps, separators=(",", ":")),
                        decoder=loads,
                    ),
                ),
                ("commitment_error", fields.TextField(default="", unique=False)),
                (
                    "commitment_started_at",
                    fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
                ),
                (
                    "record",
                    fields.JSONField(
                        null=True,
                        encoder=functools.partial(dumps, separators=(",", ":")),
                        decoder=loads,
                    ),
                ),
                ("drawn_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ("created_by_id", fields.IntField(null=True)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={
                "table": "meeting",
                "app": "meetings",
                "pk_attr": "id",
                "table_description": "政府决策会议: a meeting with an open call for public representatives.",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="Application",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                (
                    "meeting",
                    fields.ForeignKeyField(
                        "meetings.Meeting",
                        source_field="meeting_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="applications",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("resident_id", fields.IntField()),
                ("email", fields.CharField(default="", max_length=254)),
                ("name", fields.CharField(max_length=50)),
                ("gender", fields.CharField(max_length=4)),
                ("birth_year", fields.IntField()),
                ("district", fields.CharField(max_length=16)),
                ("occupation", fields.CharField(max_length=100)),
                ("category", fields.CharField(max_length=4)),
                ("reason", fields.TextField(unique=False)),
                ("no_conflict", fields.BooleanField()),
                ("consent", fields.BooleanField()),
                ("keep_in_pool", fields.BooleanField(default=False)),
                ("status", fields.CharField(default="submitted", max_length=16)),
                ("review_reason", fields.TextField(default="", unique=False)),
                (
                    "reviewed_at",
                    fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
                ),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ("updated_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={
                "table": "meeting_application",
                "app": "meetings",
                "unique_together": (("meeting", "resident_id"),),
                "pk_attr": "id",
                "table_description": "公众代表报名: one per resident per meeting (unique constraint).",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="Invitation",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                (
                    "meeting",
                    fields.ForeignKeyField(
                        "meetings.Meeting",
                        source_field="meeting_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="invitations",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                (
                    "application",
                    fields.ForeignKeyField(
                        "meetings.Application",
                        source_field="application_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="invitations",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("kind", fields.CharField(max_length=12)),
                ("token", fields.CharField(unique=True, max_length=64)),
                ("status", fields.CharField(default="invited", max_length=12)),
                ("deadline", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                (
                    "responded_at",
                    fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
                ),
                (
                    "checked_in_at",
                    fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
                ),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={
                "table": "meeting_invitation",
                "app": "meetings",
                "unique_together": (("meeting", "application"),),
                "pk_attr": "id",
                "table_description": "An invitation to attend: the selected first, then alternates in the recorded order.",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="Topic",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                (
                    "meeting",
                    fields.ForeignKeyField(
                        "meetings.Meeting",
                        source_field="meeting_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="topics",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("position", fields.IntField(default=0)),
                ("title", fields.CharField(max_length=200)),
                ("materials", fields.TextField(default="", unique=False)),
            ],
            options={
                "table": "meeting_topic",
                "app": "meetings",
                "pk_attr": "id",
                "table_description": "议题 with its materials (Markdown).",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="Suggestion",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                (
                    "meeting",
                    fields.ForeignKeyField(
                        "meetings.Meeting",
                        source_field="meeting_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="suggestions",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                (
                    "topic",
                    fields.ForeignKeyField(
                        "meetings.Topic",
                        source_field="topic_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="suggestions",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                (
                    "application",
                    fields.ForeignKeyField(
                        "meetings.Application",
                        source_field="application_id",
                        null=True,
                        db_constraint=True,
                        to_field="id",
                        related_name="suggestions",
                        on_delete=OnDelete.SET_NULL,
                    ),
                ),
                ("body", fields.TextField(unique=False)),
                ("owner_unit", fields.CharField(max_length=64)),
                ("due_on", fields.DateField()),
                ("status", fields.CharField(default="processing", max_length=16)),
                ("answer", fields.TextField(default="", unique=False)),
                (
                    "answered_at",
                    fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
                ),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={
                "table": "meeting_suggestion",
                "app": "meetings",
                "pk_attr": "id",
                "table_description": "意见建议 (跟踪督办): tracked until an answer is published.",
            },
            bases=["Model"],
        ),
    ]
