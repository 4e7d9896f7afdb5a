"""Working days (工作日) with a configurable holiday calendar.

The calendar file has one date per line: ``2026-10-01`` is a holiday, ``+2026-10-11`` is a
working weekend day (调休上班). Lines starting with ``#`` are comments."""

from __future__ import annotations

from datetime import date, timedelta
from functools import cache
from pathlib import Path

from canyu import PROJECT_ROOT

DEFAULT_CALENDAR = PROJECT_ROOT / "src" / "canyu" / "data" / "holidays.txt"
_calendar_path: Path = DEFAULT_CALENDAR


def configure(path: str | Path | None) -> None:
    global _calendar_path
    _calendar_path = Path(path) if path else DEFAULT_CALENDAR
    _calendar.cache_clear()


@cache
def _calendar() -> tuple[frozenset[date], frozenset[date]]:
    holidays, workdays = set(), set()
    if _calendar_path.exists():
        for line in _calendar_path.read_text(encoding="utf-8").splitlines():
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            if line.startswith("+"):
                workdays.add(date.fromisoformat(line[1:]))
            else:
                holidays.add(date.fromisoformat(line))
    return frozenset(holidays), frozenset(workdays)


def is_workday(day: date) -> bool:
    holidays, extra = _calendar()
    if day in extra:
        return True
    return day.weekday() < 5 and day not in holidays


def add_workdays(start: date, n: int) -> date:
    """The n-th working day after ``start`` (start itself not counted)."""
    day = start
    while n > 0:
        day += timedelta(days=1)
        if is_workday(day):
            n -= 1
    return day


def workdays_between(start: date, end: date) -> int:
    """Working days in (start, end]."""
    count, day = 0, start
    while day < end:
        day += timedelta(days=1)
        if is_workday(day):
            count += 1
    return count
