"""A resident's right to their data (个人信息保护法 arts. 45 and 47): download it all, delete the
account. Each feature registers how to export and how to anonymize what it holds about a person;
public contributions stay, anonymized."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from tortoise.transactions import in_transaction

from canyu.accounts.models import Resident
from canyu.accounts.service import get_resident, profile_of, revoke_all
from canyu.audit import service as audit
from canyu.core import clock
from canyu.core.permissions import Principal


@dataclass(frozen=True)
class PersonalDataSource:
    name: str
    export: Callable[[int], Awaitable[Any]]
    erase: Callable[[int], Awaitable[None]]


SOURCES: dict[str, PersonalDataSource] = {}
#: name -> purge(before): erase personal data of things that ended before ``before``;
#: returns how many records were purged.
RETENTION: dict[str, Callable[[datetime], Awaitable[int]]] = {}


def register(
    name: str, export: Callable[[int], Awaitable[Any]], erase: Callable[[int], Awaitable[None]]
) -> None:
    """A feature declares what it keeps about a resident (export) and how to anonymize it."""
    SOURCES[name] = PersonalDataSource(name, export, erase)


def register_retention(name: str, purge: Callable[[datetime], Awaitable[int]]) -> None:
    """A feature's purge of personal data past the retention period (events, meetings, votes)."""
    RETENTION[name] = purge


async def purge_expired(retention_days: int) -> dict[str, int]:
    """Run every registered purge for things that ended more than ``retention_days`` ago; each
    purge that removed something is audited."""
    before = clock.now() - timedelta(days=retention_days)
    purged: dict[str, int] = {}
    for name, purge in sorted(RETENTION.items()):
        async with in_transaction():
            count = await purge(before)
            if count:
                await audit.record(
                    "privacy.purged", target_type=name, records=count, before=before.isoformat()
                )
        purged[name] = count
    return purged


async def export_resident(resident_id: int) -> dict[str, Any]:
    """Everything the platform keeps about one resident, as JSON-ready data."""
    resident = await get_resident(resident_id)
    data: dict[str, Any] = {
        "exported_at": clock.now().isoformat(),
        "profile": profile_of(resident),
    }
    for name, source in sorted(SOURCES.items()):
        data[name] = await source.export(resident_id)
    return data


async def delete_resident(resident: Principal, ip: str | None = None) -> None:
    """Delete the account: personal data erased or anonymized everywhere, sessions revoked.

    The row stays (public contributions point to it) with no name, address or phone, and its
    identity hash is freed, so the same address may later start a fresh account."""
    async with in_transaction():
        row = await get_resident(resident.id)
        for source in SOURCES.values():
            await source.erase(row.id)
        await Resident.filter(id=row.id).update(
            email="",
            email_hmac=f"deleted:{row.id}",
            name="",
            phone="",
            phone_hmac=None,
            district="",
            birth_year=None,
            deleted_at=clock.now(),
        )
        await revoke_all(resident_id=row.id)
        await audit.record(
            "resident.deleted", resident, ip=ip, target_type="resident", target_id=row.id
        )
