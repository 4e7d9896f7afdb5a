import functools
from json import dumps, loads

from tortoise import fields, migrations
from tortoise.fields.base import OnDelete
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    initial = True

    operations = [
        ops.CreateModel(
            name="Consultation",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                ("title", fields.CharField(max_length=200)),
                (
                    "unit_id",
                    fields.IntField(
                        null=True,
                        db_index=True,
                        description="The owning unit (organizers act only on their own unit).",
                    ),
                ),
                ("drafting_unit", fields.CharField(default="", max_length=100)),
                ("kind", fields.CharField(max_length=20)),
                ("basis", fields.TextField(default="", unique=False)),
                ("contact", fields.CharField(default="", max_length=300)),
                ("body", fields.TextField(default="", unique=False)),
                ("interpretation", fields.TextField(default="", unique=False)),
                ("opens_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ("closes_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ("period_reason", fields.TextField(default="", unique=False)),
                (
                    "audiences",
                    fields.JSONField(
                        default=list,
                        encoder=functools.partial(dumps, separators=(",", ":")),
                        decoder=loads,
                    ),
                ),
                (
                    "topics",
                    fields.JSONField(
                        default=list,
                        encoder=functools.partial(dumps, separators=(",", ":")),
                        decoder=loads,
                    ),
                ),
                (
                    "published_at",
                    fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
                ),
                (
                    "open_notified_at",
                    fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
                ),
                (
                    "report_published_at",
                    fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
                ),
                ("report_summary", fields.TextField(default="", unique=False)),
                ("created_by_id", fields.IntField(null=True)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ("updated_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={
                "table": "consultation",
                "app": "consultations",
                "pk_attr": "id",
                "table_description": "征求意见稿: a draft policy open for comment between opens_at and closes_at.",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="Attachment",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                (
                    "consultation",
                    fields.ForeignKeyField(
                        "consultations.Consultation",
                        source_field="consultation_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="attachments",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("filename", fields.CharField(max_length=200)),
                ("content_type", fields.CharField(max_length=100)),
                ("size", fields.IntField()),
                ("stored_name", fields.CharField(unique=True, max_length=80)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={
                "table": "consultation_attachment",
                "app": "consultations",
                "pk_attr": "id",
                "table_description": "A PDF or Word file published with the draft, stored outside static/.",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="BoardQuestion",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                (
                    "consultation",
                    fields.ForeignKeyField(
                        "consultations.Consultation",
                        source_field="consultation_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="questions",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("resident_id", fields.IntField(db_index=True)),
                ("author_name", fields.CharField(default="", max_length=50)),
                ("body", fields.TextField(unique=False)),
                ("unit_id", fields.IntField(null=True, db_index=True)),
                ("due_on", fields.DateField()),
                ("answer", fields.TextField(default="", unique=False)),
                (
                    "answered_at",
                    fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
                ),
                ("answered_by_id", fields.IntField(null=True)),
                ("rating", fields.CharField(null=True, max_length=24)),
                ("follow_up", fields.TextField(default="", unique=False)),
                (
                    "follow_up_at",
                    fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
                ),
                ("follow_up_answer", fields.TextField(default="", unique=False)),
                (
                    "follow_up_answered_at",
                    fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
                ),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={
                "table": "consultation_board_question",
                "app": "consultations",
                "pk_attr": "id",
                "table_description": "政策留言板留言: a question about a policy, assigned to a unit with a reply deadline.",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="FaqEntry",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                (
                    "consultation",
                    fields.ForeignKeyField(
                        "consultations.Consultation",
                        source_field="consultation_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="faq",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("question", fields.TextField(unique=False)),
                ("answer", fields.TextField(unique=False)),
                ("position", fields.IntField(default=0)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={
                "table": "consultation_faq",
                "app": "consultations",
                "pk_attr": "id",
                "table_description": "常见问题与解答: a staff-written question and answer of one policy.",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="Section",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                (
                    "consultation",
                    fields.ForeignKeyField(
                        "consultations.Consultation",
                        source_field="consultation_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="sections",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("position", fields.IntField()),
                ("title", fields.CharField(max_length=200)),
                ("body", fields.TextField(default="", unique=False)),
            ],
            options={
                "table": "consultation_section",
                "app": "consultations",
                "unique_together": (("consultation", "position"),),
                "pk_attr": "id",
                "table_description": "条 / 章节: a part of the draft that can be commented on.",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="Comment",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                (
                    "consultation",
                    fields.ForeignKeyField(
                        "consultations.Consultation",
                        source_field="consultation_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="comments",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                (
                    "section",
                    fields.ForeignKeyField(
                        "consultations.Section",
                        source_field="section_id",
                        null=True,
                        db_constraint=True,
                        to_field="id",
                        related_name="comments",
                        on_delete=OnDelete.SET_NULL,
                    ),
                ),
                ("resident_id", fields.IntField(db_index=True)),
                ("author_name", fields.CharField(default="", max_length=50)),
                ("body", fields.TextField(unique=False)),
                ("status", fields.CharField(default="pending", db_index=True, max_length=12)),
                (
                    "sensitive_hits",
                    fields.JSONField(
                        default=list,
                        encoder=functools.partial(dumps, separators=(",", ":")),
                        decoder=loads,
                    ),
                ),
                ("reject_reason", fields.TextField(default="", unique=False)),
                (
                    "moderated_at",
                    fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
                ),
                ("moderated_by_id", fields.IntField(null=True)),
                ("outcome", fields.CharField(null=True, max_length=16)),
                ("outcome_reason", fields.TextField(default="", unique=False)),
                (
                    "disposed_at",
                    fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
                ),
                ("supports", fields.IntField(default=0)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={
                "table": "consultation_comment",
                "app": "consultations",
                "pk_attr": "id",
                "table_description": "意见: pending until a moderator publishes or rejects it, then given a disposition.",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="CommentSupport",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                (
                    "comment",
                    fields.ForeignKeyField(
                        "consultations.Comment",
                        source_field="comment_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="support_rows",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("resident_id", fields.IntField()),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={
                "table": "consultation_comment_support",
                "app": "consultations",
                "unique_together": (("comment", "resident_id"),),
                "pk_attr": "id",
                "table_description": "赞同: one per resident and published comment (a unique constraint).",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="Subscription",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                ("resident_id", fields.IntField(unique=True)),
                ("email", fields.CharField(max_length=254)),
                (
                    "topics",
                    fields.JSONField(
                        default=list,
                        encoder=functools.partial(dumps, separators=(",", ":")),
                        decoder=loads,
                    ),
                ),
                (
                    "audiences",
                    fields.JSONField(
                        default=list,
                        encoder=functools.partial(dumps, separators=(",", ":")),
                        decoder=loads,
                    ),
                ),
                ("mode", fields.CharField(default="immediate", max_length=12)),
                ("active", fields.BooleanField(default=True)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={
                "table": "consultation_subscription",
                "app": "consultations",
                "pk_attr": "id",
                "table_description": "政策订阅: one per resident, topics and audiences, mailed at once or daily.",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="DigestItem",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                (
                    "subscription",
                    fields.ForeignKeyField(
                        "consultations.Subscription",
                        source_field="subscription_id",
                        db_constraint=True,
                        to_field="id",
                        related_name="digest_items",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("line", fields.CharField(max_length=300)),
                ("path", fields.CharField(max_length=200)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ("sent_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={
                "table": "consultation_digest_item",
                "app": "consultations",
                "pk_attr": "id",
                "table_description": "A notice waiting for a subscriber's daily digest.",
            },
            bases=["Model"],
        ),
    ]
