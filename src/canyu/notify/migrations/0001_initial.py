from tortoise import migrations
from tortoise.migrations import operations as ops
import functools
from json import dumps, loads
from tortoise import fields


class Migration(migrations.Migration):
    initial = True

    operations = [
        ops.CreateModel(
            name="OutboxMail",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                ("to_addr", fields.CharField(max_length=254)),
                ("subject", fields.CharField(max_length=200)),
                ("body_text", fields.TextField(unique=False)),
                ("body_html", fields.TextField(default="", unique=False)),
                (
                    "attachments",
                    fields.JSONField(
                        default=list,
                        description='[{"filename", "content_type", "data" (base64)}]',
                        encoder=functools.partial(dumps, separators=(",", ":")),
                        decoder=loads,
                    ),
                ),
                ("message_id", fields.CharField(unique=True, max_length=128)),
                ("status", fields.CharField(default="pending", db_index=True, max_length=8)),
                ("attempts", fields.IntField(default=0)),
                (
                    "next_attempt_at",
                    fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=False),
                ),
                (
                    "claimed_until",
                    fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
                ),
                (
                    "claim_token",
                    fields.CharField(
                        default="",
                        db_index=True,
                        description="Which worker round holds the lease (random per round).",
                        max_length=32,
                    ),
                ),
                ("last_error", fields.CharField(default="", max_length=500)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ("sent_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                (
                    "kind",
                    fields.CharField(
                        default="",
                        description='What the mail is about, for tests and support ("sign_in_code", "ticket", ...).',
                        max_length=32,
                    ),
                ),
            ],
            options={
                "table": "outbox_mail",
                "app": "notify",
                "pk_attr": "id",
                "table_description": "A mail written in the same transaction as the change that caused it.",
            },
            bases=["Model"],
        ),
    ]
