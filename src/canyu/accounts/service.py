"""Sign-in by mailed code, tokens and sessions, profiles, staff accounts."""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.expressions import F, Q
from tortoise.transactions import in_transaction

from canyu.accounts.models import AuthToken, Resident, SignInCode, SignInLock, Staff, Unit
from canyu.audit import service as audit
from canyu.core import clock, sql
from canyu.core.districts import is_district
from canyu.core.errors import Conflict, DomainError, NotFound, RateLimited, Unauthorized
from canyu.core.i18n import N_
from canyu.core.permissions import ROLES, Principal
from canyu.core.ratelimit import limiter, network_of
from canyu.core.security import (
    DUMMY_PASSWORD_HASH,
    hash_password,
    keyed_hash,
    new_token,
    token_hash,
    verify_password,
)
from canyu.notify import service as notify

CODE_TTL = timedelta(minutes=10)
MAX_CODE_FAILURES = 5
CODE_LOCK = timedelta(minutes=15)
MAX_PASSWORD_FAILURES = 5
PASSWORD_LOCK = timedelta(minutes=15)
SESSION_TTL = timedelta(days=14)
API_TOKEN_TTL = timedelta(days=30)

_EMAIL_RE = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")
_PHONE_RE = re.compile(r"^1[3-9]\d{9}$")


# --- identity ---------------------------------------------------------------


def normalize_email(email: Any) -> str:
    """Lower case, without a ``+tag``: the form that identifies a person."""
    if not isinstance(email, str):
        raise DomainError("invalid_email", "请输入有效的电子邮箱地址。", 400, field="email")
    email = email.strip()
    if len(email) > 254 or not _EMAIL_RE.match(email):
        raise DomainError("invalid_email", "请输入有效的电子邮箱地址。", 400, field="email")
    local, _, domain = email.lower().rpartition("@")
    local = local.split("+", 1)[0]
    if not local or len(local) > 64:
        raise DomainError("invalid_email", "请输入有效的电子邮箱地址。", 400, field="email")
    return f"{local}@{domain}"


def email_identity(email: str) -> str:
    return keyed_hash("email", normalize_email(email))


def _code_hash(identity: str, code: str) -> str:
    return keyed_hash("sign-in-code", f"{identity}:{code}")


async def _lock_of(identity: str) -> SignInLock | None:
    return await SignInLock.get_or_none(email_hmac=identity)


def _is_locked(lock: SignInLock | None) -> bool:
    return bool(lock and lock.locked_until and lock.locked_until > clock.now())


def _locked_error() -> RateLimited:
    return RateLimited("验证码错误次数过多，此邮箱已锁定 15 分钟，请稍后再试。", code="locked")


async def request_code(email: Any, ip: str | None = None) -> None:
    """Mail a 6-digit code, valid 10 minutes and single use, stored only as a hash.

    A locked address gets no new code (429 ``locked``); requests are rate limited per
    address and per network.
    """
    normalized = normalize_email(email)
    identity = keyed_hash("email", normalized)
    if _is_locked(await _lock_of(identity)):
        raise _locked_error()
    await limiter().hit("code-address", "5/10minute", identity)
    await limiter().hit("code-network", "60/minute", network_of(ip))
    code = f"{secrets.randbelow(1_000_000):06d}"
    now = clock.now()
    async with in_transaction():
        updated = await SignInCode.filter(email_hmac=identity).update(
            code_hash=_code_hash(identity, code),
            expires_at=now + CODE_TTL,
            used_at=None,
            created_at=now,
        )
        if not updated:
            try:
                async with in_transaction():
                    await SignInCode.create(
                        email_hmac=identity,
                        code_hash=_code_hash(identity, code),
                        expires_at=now + CODE_TTL,
                        created_at=now,
                    )
            except IntegrityError:
                await SignInCode.filter(email_hmac=identity).update(
                    code_hash=_code_hash(identity, code), expires_at=now + CODE_TTL, used_at=None
                )
        await notify.queue_mail(
            to=email.strip(),
            template="sign_in_code",
            subject=N_("参与平台登录验证码"),
            context={"code": code, "minutes": 10},
            kind="sign_in_code",
        )


async def _count_failure(identity: str, ip: str | None) -> None:
    """One more wrong code; the fifth locks the address (answering 429 at once)."""
    async with in_transaction():
        changed = await SignInLock.filter(email_hmac=identity).update(failures=F("failures") + 1)
        if not changed:
            try:
                async with in_transaction():
                    await SignInLock.create(email_hmac=identity, failures=1)
            except IntegrityError:
                await SignInLock.filter(email_hmac=identity).update(failures=F("failures") + 1)
        lock = await SignInLock.get(email_hmac=identity)
        await audit.record(
            "resident.code_failed", ip=ip, target_type="identity", failures=lock.failures
        )
        if lock.failures >= MAX_CODE_FAILURES:
            await SignInLock.filter(id=lock.id).update(
                locked_until=clock.now() + CODE_LOCK, failures=0
            )
            # The code in hand dies with the lock: a new one must be requested after it.
            await SignInCode.filter(email_hmac=identity).update(used_at=clock.now())
            await audit.record("resident.locked", ip=ip, target_type="identity")
            locked = True
        else:
            locked = False
    if locked:
        raise _locked_error()
    raise DomainError("invalid_code", "验证码不正确或已过期，请检查后重试。", 400, field="code")


async def verify_code(email: Any, code: Any, ip: str | None = None) -> Resident:
    """Exchange a valid code for the resident (created at the first sign-in)."""
    normalized = normalize_email(email)
    identity = keyed_hash("email", normalized)
    if _is_locked(await _lock_of(identity)):
        raise _locked_error()
    if not isinstance(code, str) or not re.fullmatch(r"\d{6}", code.strip()):
        await _count_failure(identity, ip)
    code = code.strip()
    now = clock.now()
    # Single use: only one request can flip used_at from NULL.
    used = await SignInCode.filter(
        email_hmac=identity,
        code_hash=_code_hash(identity, code),
        used_at__isnull=True,
        expires_at__gt=now,
    ).update(used_at=now)
    if not used:
        await _count_failure(identity, ip)
    await SignInLock.filter(email_hmac=identity).update(failures=0)
    resident = await Resident.get_or_none(email_hmac=identity)
    if resident is None:
        try:
            resident = await Resident.create(
                email_hmac=identity, email=email.strip(), created_at=now, verified_at=now
            )
        except IntegrityError:
            resident = await Resident.get(email_hmac=identity)
    else:
        await Resident.filter(id=resident.id).update(verified_at=now, deleted_at=None)
        resident.verified_at = now
    return resident


# --- tokens and sessions ------------------------------------------------------


async def issue_token(
    *, resident: Resident | None = None, staff: Staff | None = None, kind: str = "api"
) -> str:
    """A new bearer token (``api``) or browser session (``session``); only its hash is kept."""
    raw = new_token()
    now = clock.now()
    await AuthToken.create(
        token_hash=token_hash(raw),
        kind=kind,
        resident=resident,
        staff=staff,
        created_at=now,
        expires_at=now + (API_TOKEN_TTL if kind == "api" else SESSION_TTL),
    )
    return raw


#: A resident's own record as ``Principal.profile`` carries it (see ``own_record``).
OWN_RECORD_FIELDS = ("name", "email", "phone", "birth_year", "email_hmac", "verified_at")

_PRINCIPAL_SQL = (
    "SELECT t.id AS token_id, r.id AS resident_id, r.deleted_at AS resident_deleted_at,"
    " r.name, r.email, r.phone, r.birth_year, r.email_hmac, r.verified_at,"
    " s.id AS staff_id, s.display_name, s.username, s.role, s.active,"
    " u.id AS unit_id, u.name AS unit_name"
    " FROM auth_token t"
    " LEFT JOIN resident r ON r.id = t.resident_id"
    " LEFT JOIN staff s ON s.id = t.staff_id"
    " LEFT JOIN unit u ON u.id = s.unit_id"
    " WHERE t.token_hash = ? AND t.kind = ? AND t.revoked_at IS NULL AND t.expires_at > ?"
)


async def principal_for_token(raw: str, kind: str) -> Principal | None:
    """The live principal behind a token, or None when it is unknown, expired or revoked.

    Every authenticated request asks this, so it is one hand-written query (``core.sql``)."""
    if not raw or len(raw) > 128:
        return None
    row = await sql.fetch_one(_PRINCIPAL_SQL, token_hash(raw), kind, clock.now())
    if row is None:
        return None
    if row["resident_id"] is not None:
        if row["resident_deleted_at"] is not None:
            return None
        return Principal(
            "resident",
            row["resident_id"],
            row["name"] or row["email"],
            token_id=row["token_id"],
            profile={field: row[field] for field in OWN_RECORD_FIELDS},
        )
    if row["staff_id"] is not None:
        if not row["active"]:
            return None
        return Principal(
            "staff",
            row["staff_id"],
            row["display_name"] or row["username"],
            role=row["role"],
            unit_id=row["unit_id"],
            unit_name=row["unit_name"],
            token_id=row["token_id"],
        )
    return None


async def revoke_token(token_id: int) -> None:
    await AuthToken.filter(id=token_id, revoked_at__isnull=True).update(revoked_at=clock.now())


async def revoke_all(*, resident_id: int | None = None, staff_id: int | None = None) -> None:
    query = AuthToken.filter(revoked_at__isnull=True)
    query = (
        query.filter(resident_id=resident_id) if resident_id else query.filter(staff_id=staff_id)
    )
    await query.update(revoked_at=clock.now())


# --- profiles -------------------------------------------------------------------

PROFILE_FIELDS = ("name", "phone", "district", "birth_year")


def profile_of(resident: Resident) -> dict[str, Any]:
    return {
        "id": resident.id,
        "email": resident.email,
        "name": resident.name,
        "phone": resident.phone,
        "district": resident.district,
        "birth_year": resident.birth_year,
        "created_at": resident.created_at.isoformat(),
    }


def validate_profile(data: dict[str, Any]) -> dict[str, Any]:
    """Clean profile fields: name ≤ 50, a Chinese mobile number, a Pudong 街镇, a birth year."""
    clean: dict[str, Any] = {}
    if "name" in data and data["name"] is not None:
        name = str(data["name"]).strip()
        if len(name) > 50:
            raise DomainError("invalid_name", "姓名不能超过 50 个字。", field="name")
        if any(ch in name for ch in "<>\"'&\n\r\t"):
            raise DomainError("invalid_name", "姓名不能包含特殊符号。", field="name")
        clean["name"] = name
    if "phone" in data and data["phone"] is not None:
        phone = re.sub(r"[\s-]", "", str(data["phone"]))
        phone = phone.removeprefix("+86")
        if phone and not _PHONE_RE.match(phone):
            raise DomainError(
                "invalid_phone", "请输入有效的 11 位手机号码，例如 13812345678。", field="phone"
            )
        clean["phone"] = phone
    if "district" in data and data["district"] is not None:
        district = str(data["district"]).strip()
        if district and not is_district(district):
            raise DomainError(
                "invalid_district", "请从列表中选择浦东新区的街镇。", field="district"
            )
        clean["district"] = district
    if "birth_year" in data:
        year = data["birth_year"]
        if year in (None, ""):
            clean["birth_year"] = None
        else:
            try:
                year = int(year)
            except (TypeError, ValueError):
                raise DomainError(
                    "invalid_birth_year", "请输入四位数的出生年份。", field="birth_year"
                ) from None
            if not 1900 <= year <= clock.today().year:
                raise DomainError(
                    "invalid_birth_year", "请输入四位数的出生年份。", field="birth_year"
                )
            clean["birth_year"] = year
    return clean


async def get_resident(resident_id: int) -> Resident:
    resident = await Resident.get_or_none(id=resident_id, deleted_at__isnull=True)
    if resident is None:
        raise NotFound()
    return resident


async def own_record(
    resident_id: int, known: Mapping[str, Any] | None = None
) -> Mapping[str, Any]:
    """A resident's own record as ``Principal.profile`` holds it (``OWN_RECORD_FIELDS``):
    ``known`` when the token look-up brought it, else read now. Raises NotFound for a deleted
    account."""
    if known is not None:
        return known
    resident = await get_resident(resident_id)
    return {field: getattr(resident, field) for field in OWN_RECORD_FIELDS}


async def update_profile(resident_id: int, data: dict[str, Any]) -> Resident:
    clean = validate_profile(data)
    if "phone" in clean:
        clean["phone_hmac"] = keyed_hash("phone", clean["phone"]) if clean["phone"] else None
    resident = await get_resident(resident_id)
    try:
        await Resident.filter(id=resident_id).update(**clean)
    except IntegrityError:
        raise Conflict("phone_taken", "该手机号码已被其他账号使用。", field="phone") from None
    for key, value in clean.items():
        setattr(resident, key, value)
    return resident


# --- staff ----------------------------------------------------------------------


async def ensure_unit(name: str, kind: str | None = None) -> Unit:
    name = name.strip()
    if not name or len(name) > 64:
        raise DomainError("invalid_unit", "单位名称不能为空，且不超过 64 个字。", field="unit")
    unit = await Unit.get_or_none(name=name)
    if unit is None:
        kind = kind or ("district" if is_district(name) else "department")
        try:
            unit = await Unit.create(name=name, kind=kind)
        except IntegrityError:
            unit = await Unit.get(name=name)
    return unit


def _check_password(password: str) -> None:
    if len(password) < 10:
        raise DomainError("weak_password", "密码至少需要 10 个字符。", field="password")
    if len(password) > 256:
        raise DomainError("invalid_password", "密码不能超过 256 个字符。", field="password")


async def create_staff(
    username: str,
    role: str,
    password: str,
    unit_name: str | None = None,
    display_name: str = "",
    actor: Principal | None = None,
) -> Staff:
    username = (username or "").strip()
    if not re.fullmatch(r"[A-Za-z0-9_.-]{3,64}", username):
        raise DomainError(
            "invalid_username",
            "用户名须为 3–64 位字母、数字、点、下划线或连字符。",
            field="username",
        )
    if role not in ROLES:
        raise DomainError("invalid_role", "角色无效。", field="role")
    if role == "organizer" and not unit_name:
        raise DomainError("unit_required", "组织者必须属于一个单位。", field="unit")
    _check_password(password)
    async with in_transaction():
        unit = await ensure_unit(unit_name) if unit_name else None
        try:
            async with in_transaction():
                staff = await Staff.create(
                    username=username,
                    display_name=(display_name or username)[:50],
                    password_hash=hash_password(password),
                    role=role,
                    unit=unit,
                    created_at=clock.now(),
                )
        except IntegrityError:
            raise Conflict("username_taken", "该用户名已存在。", field="username") from None
        await audit.record(
            "staff.created",
            actor,
            target_type="staff",
            target_id=staff.id,
            unit_id=unit.id if unit else None,
            username=username,
            role=role,
        )
    return staff


async def authenticate_staff(username: Any, password: Any, ip: str | None = None) -> Staff:
    """Check a password; five wrong ones lock the account for fifteen minutes."""
    if not isinstance(username, str) or not isinstance(password, str):
        raise Unauthorized("用户名或密码不正确。", code="invalid_credentials")
    await limiter().hit("staff-login-network", "30/minute", network_of(ip))
    staff = await Staff.get_or_none(username=username.strip())
    if staff is None:
        verify_password(DUMMY_PASSWORD_HASH, password)
        async with in_transaction():
            await audit.record(
                "staff.sign_in_failed", ip=ip, username=username[:64], reason="unknown"
            )
        raise Unauthorized("用户名或密码不正确。", code="invalid_credentials")
    now = clock.now()
    if staff.locked_until and staff.locked_until > now:
        raise RateLimited("密码错误次数过多，账号已锁定 15 分钟。", code="locked")
    if not staff.active or not verify_password(staff.password_hash, password):
        async with in_transaction():
            await Staff.filter(id=staff.id).update(failed_logins=F("failed_logins") + 1)
            failures = (await Staff.get(id=staff.id)).failed_logins
            await audit.record(
                "staff.sign_in_failed",
                ip=ip,
                target_type="staff",
                target_id=staff.id,
                username=staff.username,
                failures=failures,
            )
            locked = failures >= MAX_PASSWORD_FAILURES
            if locked:
                await Staff.filter(id=staff.id).update(
                    locked_until=now + PASSWORD_LOCK, failed_logins=0
                )
                await audit.record("staff.locked", ip=ip, target_type="staff", target_id=staff.id)
        # Raised after the transaction: an exception inside it would roll the count back.
        if locked:
            raise RateLimited("密码错误次数过多，账号已锁定 15 分钟。", code="locked")
        raise Unauthorized("用户名或密码不正确。", code="invalid_credentials")
    async with in_transaction():
        await Staff.filter(id=staff.id).update(
            failed_logins=0, locked_until=None, last_login_at=now
        )
        await audit.record(
            "staff.sign_in", _staff_principal(staff), ip=ip, target_type="staff", target_id=staff.id
        )
    return staff


def _staff_principal(staff: Staff) -> Principal:
    return Principal("staff", staff.id, staff.display_name or staff.username, role=staff.role)


async def list_staff() -> list[Staff]:
    return await Staff.all().select_related("unit").order_by("username")


async def list_units() -> list[Unit]:
    return await Unit.all().order_by("kind", "name")


async def update_staff(
    staff_id: int,
    actor: Principal,
    *,
    role: str | None = None,
    unit_name: str | None = None,
    active: bool | None = None,
    password: str | None = None,
) -> Staff:
    staff = await Staff.get_or_none(id=staff_id)
    if staff is None:
        raise NotFound()
    changes: dict[str, Any] = {}
    if role is not None:
        if role not in ROLES:
            raise DomainError("invalid_role", "角色无效。", field="role")
        changes["role"] = role
    if password:
        _check_password(password)
        changes["password_hash"] = hash_password(password)
        changes["failed_logins"] = 0
        changes["locked_until"] = None
    if active is not None:
        if not active and staff.id == actor.id:
            raise Conflict("cannot_disable_self", "不能停用自己的账号。")
        changes["active"] = active
    async with in_transaction():
        if unit_name is not None:
            changes["unit_id"] = (await ensure_unit(unit_name)).id if unit_name.strip() else None
        if (changes.get("role", staff.role) == "organizer") and not changes.get(
            "unit_id",
            staff.unit_id,  # type: ignore[attr-defined]
        ):
            raise DomainError("unit_required", "组织者必须属于一个单位。", field="unit")
        await Staff.filter(id=staff_id).update(**changes)
        if active is False or password:
            await revoke_all(staff_id=staff_id)
        await audit.record(
            "staff.updated",
            actor,
            target_type="staff",
            target_id=staff_id,
            fields=sorted(k for k in changes if k != "password_hash")
            + (["password"] if password else []),
        )
    return await Staff.get(id=staff_id).select_related("unit")


async def find_residents(query: str, limit: int = 20) -> list[Resident]:
    """Staff look-up by exact email (for phone-in registrations)."""
    if "@" in query:
        try:
            identity = email_identity(query)
        except DomainError:
            return []
        return await Resident.filter(email_hmac=identity, deleted_at__isnull=True).limit(limit)
    return await Resident.filter(Q(name=query) | Q(phone=query), deleted_at__isnull=True).limit(
        limit
    )
