"""Shared steps of the consultation tests."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from canyu.core import clock


def iso(delta: timedelta) -> str:
    return (clock.now() + delta).isoformat()


async def make_consultation(client: Any, headers: dict[str, str], **overrides: Any) -> dict[str, Any]:
    body = {
        "title": "浦东新区老旧小区加装电梯补贴办法（征求意见稿）",
        "kind": "normative",
        "body": "为推进既有多层住宅加装电梯工作，制定本办法。",
        "basis": "《上海市既有多层住宅加装电梯操作指引》",
        "contact": "区住房和城乡建设委员会，电话 021-12345678",
        "interpretation": "本办法明确补贴标准和申请流程。",
        "opens_at": iso(timedelta(minutes=-1)),
        "closes_at": iso(timedelta(days=20)),
        "period_reason": "",
        "sections": [
            {"title": "第一条 适用范围", "body": "本办法适用于浦东新区行政区域内的既有多层住宅。"},
            {"title": "第二条 补贴标准", "body": "每台电梯补贴不超过 28 万元。"},
        ],
        "published": True,
    }
    body.update(overrides)
    r = await client.post("/api/v1/consultations", json=body, headers=headers)
    assert r.status_code == 201, r.text
    return r.json()
