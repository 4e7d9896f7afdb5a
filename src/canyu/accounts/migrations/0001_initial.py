from tortoise import fields, migrations
from tortoise.fields.base import OnDelete
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    initial = True

    operations = [
        ops.CreateModel(
            name="Resident",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                (
                    "email_hmac",
                    fields.CharField(
                        unique=True,
                        description="HMAC of the normalized address: the identity, unique.",
                        max_length=64,
                    ),
                ),
                ("email", fields.CharField(max_length=254)),
                ("name", fields.CharField(default="", max_length=50)),
                ("phone", fields.CharField(default="", max_length=20)),
                ("phone_hmac", fields.CharField(null=True, unique=True, max_length=64)),
                ("district", fields.CharField(default="", max_length=16)),
                ("birth_year", fields.IntField(null=True)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ("verified_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ("deleted_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={
                "table": "resident",
                "app": "accounts",
                "pk_attr": "id",
                "table_description": "居民: a person whose email address has been verified by a mailed code.",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="SignInCode",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                ("email_hmac", fields.CharField(unique=True, max_length=64)),
                ("code_hash", fields.CharField(max_length=64)),
                ("expires_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ("used_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={
                "table": "sign_in_code",
                "app": "accounts",
                "pk_attr": "id",
                "table_description": "The one live mailed code of an address, stored only as a keyed hash.",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="SignInLock",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                ("email_hmac", fields.CharField(unique=True, max_length=64)),
                ("failures", fields.IntField(default=0)),
                (
                    "locked_until",
                    fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
                ),
            ],
            options={
                "table": "sign_in_lock",
                "app": "accounts",
                "pk_attr": "id",
                "table_description": "Wrong codes per address: five lock it for fifteen minutes.",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="Unit",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                ("name", fields.CharField(unique=True, max_length=64)),
                ("kind", fields.CharField(max_length=16)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={
                "table": "unit",
                "app": "accounts",
                "pk_attr": "id",
                "table_description": "单位: a department (委办局) or a sub-district/town (街镇).",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="Staff",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                ("username", fields.CharField(unique=True, max_length=64)),
                ("display_name", fields.CharField(default="", max_length=50)),
                ("email", fields.CharField(default="", max_length=254)),
                ("password_hash", fields.CharField(max_length=255)),
                ("role", fields.CharField(max_length=16)),
                (
                    "unit",
                    fields.ForeignKeyField(
                        "accounts.Unit",
                        source_field="unit_id",
                        null=True,
                        db_constraint=True,
                        to_field="id",
                        related_name="staff",
                        on_delete=OnDelete.RESTRICT,
                    ),
                ),
                ("active", fields.BooleanField(default=True)),
                ("failed_logins", fields.IntField(default=0)),
                (
                    "locked_until",
                    fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
                ),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                (
                    "last_login_at",
                    fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
                ),
            ],
            options={
                "table": "staff",
                "app": "accounts",
                "pk_attr": "id",
                "table_description": "工作人员: an account with an argon2 password, one role and (for organizers) a unit.",
            },
            bases=["Model"],
        ),
        ops.CreateModel(
            name="AuthToken",
            fields=[
                (
                    "id",
                    fields.IntField(generated=True, primary_key=True, unique=True, db_index=True),
                ),
                ("token_hash", fields.CharField(unique=True, max_length=64)),
                ("kind", fields.CharField(max_length=8)),
                (
                    "resident",
                    fields.ForeignKeyField(
                        "accounts.Resident",
                        source_field="resident_id",
                        null=True,
                        db_constraint=True,
                        to_field="id",
                        related_name="tokens",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                (
                    "staff",
                    fields.ForeignKeyField(
                        "accounts.Staff",
                        source_field="staff_id",
                        null=True,
                        db_constraint=True,
                        to_field="id",
                        related_name="tokens",
                        on_delete=OnDelete.CASCADE,
                    ),
                ),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ("expires_at", fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ("revoked_at", fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={
                "table": "auth_token",
                "app": "accounts",
                "pk_attr": "id",
                "table_description": "An API bearer token or a browser session, stored as its SHA-256, revocable.",
            },
            bases=["Model"],
        ),
    ]
