"""Pudong's 36 sub-districts and towns (街镇), from ``data/pudong-subdistricts.txt``."""

from __future__ import annotations

from functools import cache
from pathlib import Path

_DATA = Path(__file__).resolve().parent.parent / "data" / "pudong-subdistricts.txt"


@cache
def districts() -> tuple[tuple[str, str], ...]:
    """(name, kind) pairs in the official order; kind is 街道 or 镇."""
    rows = []
    for line in _DATA.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, kind = line.split("\t")
        rows.append((name, kind))
    return tuple(rows)


@cache
def district_names() -> frozenset[str]:
    return frozenset(name for name, _ in districts())


def is_district(name: str | None) -> bool:
    return name in district_names()


def district_of(address: str) -> str | None:
    """The first 街镇 named in a free-text address, if any."""
    for name, _ in districts():
        if name in address:
            return name
    return None
