import functools
from json import dumps, loads

from tortoise import fields, migrations
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    initial = True

    operations = [
        ops.CreateModel(
            name="AuditEntry",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                ("at", fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=False)),
                ("actor_kind", fields.CharField(default="system", max_length=8)),
                ("actor_id", fields.IntField(null=True)),
                ("actor_label", fields.CharField(default="", max_length=80)),
                ("action", fields.CharField(db_index=True, max_length=64)),
                ("target_type", fields.CharField(default="", max_length=32)),
                ("target_id", fields.CharField(default="", max_length=64)),
                ("unit_id", fields.IntField(null=True)),
                (
                    "network_hash",
                    fields.CharField(
                        default="",
                        description="Keyed hash of the client's network, never the raw address.",
                        max_length=16,
                    ),
                ),
                (
                    "details",
                    fields.JSONField(
                        default=dict,
                        encoder=functools.partial(dumps, separators=(",", ":")),
                        decoder=loads,
                    ),
                ),
            ],
            options={"table": "audit_entry", "app": "audit", "pk_attr": "id"},
            bases=["Model"],
        ),
    ]
