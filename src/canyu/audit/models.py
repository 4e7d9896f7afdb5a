"""The append-only log of staff actions and security events (操作日志)."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model


class AuditEntry(Model):
    id = fields.IntField(primary_key=True)
    at = fields.DatetimeField(db_index=True)
    actor_kind = fields.CharField(max_length=8, default="system")  # staff|resident|system|anon
    actor_id = fields.IntField(null=True)
    actor_label = fields.CharField(max_length=80, default="")
    action = fields.CharField(max_length=64, db_index=True)
    target_type = fields.CharField(max_length=32, default="")
    target_id = fields.CharField(max_length=64, default="")
    unit_id = fields.IntField(null=True)
    #: Keyed hash of the client's network, never the raw address.
    network_hash = fields.CharField(max_length=16, default="")
    details = fields.JSONField(default=dict)

    class Meta:
        table = "audit_entry"
        ordering = ["-id"]

    async def save(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        if self._saved_in_db:
            raise PermissionError("audit entries are append-only")
        return await super().save(*args, **kwargs)

    async def delete(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        raise PermissionError("audit entries are append-only")
