"""Shared steps of the meeting tests: a meeting, a pool of applications, a ready commitment."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from canyu.core import clock
from canyu.core.permissions import Principal
from canyu.meetings import service

DISTRICTS = ("陆家嘴街道", "花木街道", "张江镇", "川沙新镇")
CATEGORIES = ("市民", "企业", "专家", "媒体")


def meeting_body(**overrides: Any) -> dict:
    now = clock.now()
    body = {
        "title": "浦东新区老旧小区加装电梯工作推进会",
        "meets_at": (now + timedelta(days=10)).isoformat(),
        "topics": [
            {"title": "加装电梯补贴标准", "materials": "补贴标准征求意见稿"},
            "施工期间的出行安排",
        ],
        "applications_open_at": (now - timedelta(hours=1)).isoformat(),
        "applications_close_at": (now + timedelta(days=5)).isoformat(),
        "seats": 3,
        "alternates": 2,
        "quotas": {"gender": {"男": {"min": 1, "max": 2}, "女": {"min": 1, "max": 2}}},
    }
    body.update(overrides)
    return body


def application_body(i: int = 0, **overrides: Any) -> dict:
    body = {
        "name": f"王{'一二三四五六七八九十'[i % 10]}",
        "gender": "男" if i % 2 == 0 else "女",
        "birth_year": 1960 + (i * 7) % 45,
        "district": DISTRICTS[i % len(DISTRICTS)],
        "occupation": "教师",
        "category": CATEGORIES[i % len(CATEGORIES)],
        "reason": "家住老旧小区，关心加装电梯。",
        "no_conflict": True,
        "consent": True,
    }
    body.update(overrides)
    return body


STAFF = Principal("staff", 1, "组织者", role="admin")


async def fill_pool(meeting_id: int, n: int, start: int = 1000, qualify: bool = True) -> list[int]:
    """Applications straight through the service (the API path is tested on its own)."""
    ids = []
    for i in range(n):
        resident = Principal("resident", start + i, "居民")
        app = await service.apply(
            resident, meeting_id, application_body(i), email=f"r{start + i}@example.com"
        )
        if qualify:
            await service.review(STAFF, app.id, "qualified")
        ids.append(app.id)
    return ids


async def wait_ready(client: Any, meeting_id: int, seconds: float = 60) -> dict:
    for _ in range(int(seconds * 10)):
        r = await client.get(f"/api/v1/meetings/{meeting_id}/commitment")
        data = r.json()
        if data.get("status") in ("ready", "failed"):
            return data
        await asyncio.sleep(0.1)
    raise AssertionError("commitment not ready in time")
