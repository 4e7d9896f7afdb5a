"""``canyu demo``: realistic Chinese demo data, loaded idempotently."""

from __future__ import annotations

import importlib

from canyu.accounts import service as accounts
from canyu.accounts.models import Staff

#: Each feature may add ``canyu.<feature>.demo.load() -> list[str]``.
FEATURE_DEMOS = (
    "canyu.consultations.demo",
    "canyu.meetings.demo",
    "canyu.openmonth.demo",
    "canyu.voting.demo",
)

DEMO_PASSWORD = "canyu-demo-2026"  # noqa: S105 - printed by `canyu demo`, for demos only
DEMO_STAFF = (
    ("admin", "admin", "区政务公开办", "区政务公开办管理员"),
    ("fagaiwei", "organizer", "区发展和改革委员会", "发改委联络员"),
    ("zhangjiang", "organizer", "张江镇", "张江镇联络员"),
    ("huamu", "organizer", "花木街道", "花木街道联络员"),
    ("moderator", "moderator", "区政务公开办", "留言审核员"),
    ("reviewer", "reviewer", None, "评审专家"),
)


async def load() -> list[str]:
    lines = []
    for username, role, unit, name in DEMO_STAFF:
        if not await Staff.exists(username=username):
            await accounts.create_staff(
                username, role, DEMO_PASSWORD, unit_name=unit, display_name=name
            )
    lines.append(
        f"staff accounts: {', '.join(s[0] for s in DEMO_STAFF)} (password: {DEMO_PASSWORD})"
    )
    for name in FEATURE_DEMOS:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:
                continue
            raise
        lines.extend(await module.load())
    return lines
