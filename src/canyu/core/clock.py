"""The one clock. Tests move it; nothing else calls ``datetime.now()``."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo

_offset = timedelta(0)
_frozen: datetime | None = None
_zone: tzinfo = ZoneInfo("Asia/Shanghai")


def now() -> datetime:
    """The current instant, timezone-aware UTC."""
    if _frozen is not None:
        return _frozen
    return datetime.now(UTC) + _offset


def set_zone(name: str) -> None:
    global _zone
    _zone = ZoneInfo(name)


def zone() -> tzinfo:
    return _zone


def local(moment: datetime | None = None) -> datetime:
    """A moment in the configured zone (Asia/Shanghai by default)."""
    moment = now() if moment is None else moment
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(_zone)


def today() -> date:
    """The calendar day in the configured zone: what "per day" means."""
    return local().date()


def local_midnight(day: date) -> datetime:
    """The UTC instant at which ``day`` starts in the configured zone."""
    return datetime(day.year, day.month, day.day, tzinfo=_zone).astimezone(UTC)


def local_day_at(days: int, hour: int) -> datetime:
    """The UTC instant of ``hour`` o'clock, local time, ``days`` days from today (negative:
    before): the whole hours that demo data is dated with."""
    day = today() + timedelta(days=days)
    return datetime(day.year, day.month, day.day, hour, tzinfo=_zone).astimezone(UTC)


# --- for tests -------------------------------------------------------------


def travel(delta: timedelta) -> None:
    """Move the clock by ``delta`` (accumulates)."""
    global _offset, _frozen
    if _frozen is not None:
        _frozen = _frozen + delta
    else:
        _offset += delta


def freeze(moment: datetime) -> None:
    global _frozen
    if moment.tzinfo is None:
        raise ValueError("freeze needs an aware datetime")
    _frozen = moment.astimezone(UTC)


def reset() -> None:
    global _offset, _frozen
    _offset = timedelta(0)
    _frozen = None
