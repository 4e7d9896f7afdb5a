"""Residents (verified email), staff (password, role, unit) and their tokens."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model


class Unit(Model):
    """单位: a department (委办局) or a sub-district/town (街镇)."""

    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=64, unique=True)
    kind = fields.CharField(max_length=16)  # department | district | office
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "unit"


class Resident(Model):
    """居民: a person whose email address has been verified by a mailed code."""

    id = fields.IntField(primary_key=True)
    #: HMAC of the normalized address: the identity, unique.
    email_hmac = fields.CharField(max_length=64, unique=True)
    email = fields.CharField(max_length=254)
    name = fields.CharField(max_length=50, default="")
    phone = fields.CharField(max_length=20, default="")
    phone_hmac = fields.CharField(max_length=64, null=True, unique=True)
    district = fields.CharField(max_length=16, default="")
    birth_year = fields.IntField(null=True)
    created_at = fields.DatetimeField()
    verified_at = fields.DatetimeField()
    deleted_at = fields.DatetimeField(null=True)

    class Meta:
        table = "resident"


class SignInCode(Model):
    """The one live mailed code of an address, stored only as a keyed hash."""

    id = fields.IntField(primary_key=True)
    email_hmac = fields.CharField(max_length=64, unique=True)
    code_hash = fields.CharField(max_length=64)
    expires_at = fields.DatetimeField()
    used_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField()

    class Meta:
        table = "sign_in_code"


class SignInLock(Model):
    """Wrong codes per address: five lock it for fifteen minutes."""

    id = fields.IntField(primary_key=True)
    email_hmac = fields.CharField(max_length=64, unique=True)
    failures = fields.IntField(default=0)
    locked_until = fields.DatetimeField(null=True)

    class Meta:
        table = "sign_in_lock"


class Staff(Model):
    """工作人员: an account with an argon2 password, one role and (for organizers) a unit."""

    id = fields.IntField(primary_key=True)
    username = fields.CharField(max_length=64, unique=True)
    display_name = fields.CharField(max_length=50, default="")
    email = fields.CharField(max_length=254, default="")
    password_hash = fields.CharField(max_length=255)
    role = fields.CharField(max_length=16)
    unit: fields.ForeignKeyNullableRelation[Unit] = fields.ForeignKeyField(
        "accounts.Unit", related_name="staff", null=True, on_delete=fields.RESTRICT
    )
    active = fields.BooleanField(default=True)
    failed_logins = fields.IntField(default=0)
    locked_until = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField()
    last_login_at = fields.DatetimeField(null=True)

    class Meta:
        table = "staff"


class AuthToken(Model):
    """An API bearer token or a browser session, stored as its SHA-256, revocable."""

    id = fields.IntField(primary_key=True)
    token_hash = fields.CharField(max_length=64, unique=True)
    kind = fields.CharField(max_length=8)  # api | session
    resident: fields.ForeignKeyNullableRelation[Resident] = fields.ForeignKeyField(
        "accounts.Resident", related_name="tokens", null=True, on_delete=fields.CASCADE
    )
    staff: fields.ForeignKeyNullableRelation[Staff] = fields.ForeignKeyField(
        "accounts.Staff", related_name="tokens", null=True, on_delete=fields.CASCADE
    )
    created_at = fields.DatetimeField()
    expires_at = fields.DatetimeField()
    revoked_at = fields.DatetimeField(null=True)

    class Meta:
        table = "auth_token"
