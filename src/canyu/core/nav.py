"""Menu entries that features add to the header and to the staff home page."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Link:
    path: str
    label: str  # a Chinese msgid, translated when shown
    roles: frozenset[str] = frozenset()
    order: int = 50
    #: On the staff home page: how many items wait there for this staff member (None: no count).
    waiting: Callable[[Any], Awaitable[int]] | None = None


PUBLIC: list[Link] = []
STAFF: list[Link] = []


def public_link(path: str, label: str, order: int = 50) -> None:
    if all(link.path != path for link in PUBLIC):
        PUBLIC.append(Link(path, label, order=order))
        PUBLIC.sort(key=lambda link: link.order)


def staff_link(
    path: str,
    label: str,
    roles: set[str] | frozenset[str],
    order: int = 50,
    waiting: Callable[[Any], Awaitable[int]] | None = None,
) -> None:
    """A page of the staff home; ``waiting(actor)`` counts what waits there for ``actor``."""
    if all(link.path != path for link in STAFF):
        STAFF.append(Link(path, label, frozenset(roles), order, waiting))
        STAFF.sort(key=lambda link: link.order)


@dataclass(frozen=True)
class HomeSection:
    """A block of the home page: ``loader()`` returns the context of ``template``."""

    template: str
    loader: object  # async () -> dict
    order: int = 50


HOME: list[HomeSection] = []


def home_section(template: str, loader: object, order: int = 50) -> None:
    if all(section.template != template for section in HOME):
        HOME.append(HomeSection(template, loader, order))
        HOME.sort(key=lambda section: section.order)
