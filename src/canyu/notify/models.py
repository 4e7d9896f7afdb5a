"""The durable outbox (待发邮件)."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model


class OutboxMail(Model):
    """A mail written in the same transaction as the change that caused it."""

    id = fields.IntField(primary_key=True)
    to_addr = fields.CharField(max_length=254)
    subject = fields.CharField(max_length=200)
    body_text = fields.TextField()
    body_html = fields.TextField(default="")
    #: [{"filename", "content_type", "data" (base64)}]
    attachments = fields.JSONField(default=list)
    message_id = fields.CharField(max_length=128, unique=True)
    status = fields.CharField(max_length=8, default="pending", db_index=True)  # pending|sent|failed
    attempts = fields.IntField(default=0)
    next_attempt_at = fields.DatetimeField(db_index=True)
    claimed_until = fields.DatetimeField(null=True)
    #: Which worker round holds the lease (random per round).
    claim_token = fields.CharField(max_length=32, default="", db_index=True)
    last_error = fields.CharField(max_length=500, default="")
    created_at = fields.DatetimeField()
    sent_at = fields.DatetimeField(null=True)
    #: What the mail is about, for tests and support ("sign_in_code", "ticket", ...).
    kind = fields.CharField(max_length=32, default="")

    class Meta:
        table = "outbox_mail"
