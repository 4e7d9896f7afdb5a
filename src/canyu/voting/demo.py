"""Demo data of the vote: last year's closed campaign with its result, and this year's open one."""

from __future__ import annotations

import random
from datetime import datetime
from typing import Any

from tortoise.transactions import in_transaction

from canyu.core import clock
from canyu.core.permissions import Principal
from canyu.core.security import keyed_hash
from canyu.voting import service
from canyu.voting.models import (
    Ballot,
    BallotAudit,
    BallotChoice,
    Campaign,
    Candidate,
    ExpertScore,
)

CLOSED_TITLE = "2025年浦东新区“最受欢迎的政府开放活动”评选"
OPEN_TITLE = "2026年浦东新区“最受欢迎的政府开放活动”评选"
RULES = (
    "本次评选面向全体市民。登录后每人每天可投 1 票，每票可选 1 至 3 个活动。"
    "最终得分由网络投票（占 70%）和专家评审（占 30%）两部分组成，结果在投票截止后公布。"
)

CLOSED_CANDIDATES = (
    ("张江科学城“走进科创企业”开放日", "走进张江药谷和集成电路企业，了解科创政策如何落地。"),
    ("陆家嘴金融城“家门口的金融服务”开放活动", "金融监管部门与市民面对面，讲解防范非法集资。"),
    ("浦东城市运行管理中心“一网统管”开放日", "参观城运中心大屏，看城市运行如何“一屏观天下”。"),
    ("花木街道“美丽家园”旧改现场开放", "实地看看老旧小区加装电梯和微更新项目。"),
    ("区市场监管局“阳光厨房”开放日", "走进学校和养老机构食堂，看食品安全如何把关。"),
    ("川沙新镇“乡村振兴示范村”开放活动", "参观连民村民宿集群，了解乡村振兴实事项目。"),
)

EXPERTS = (("专家甲", 9001), ("专家乙", 9002), ("专家丙", 9003))


def _local(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=clock.zone())


def _admin() -> Principal:
    """The demo acts as the district office (no particular account)."""
    return Principal("staff", 0, "区政务公开办（演示数据）", role="admin")


async def _open_month_candidates() -> list[dict[str, Any]]:
    """This year's candidates: the open-month demo events when that feature has them."""
    module = service._openmonth()
    fn = getattr(module, "event_briefs", None) if module else None
    briefs = list(await fn(None)) if fn else []
    if isinstance(briefs, dict):  # pragma: no cover - either shape is accepted
        briefs = list(briefs.values())
    # Events that already took place and were rated come first: the vote is about them.
    briefs = sorted(
        (b for b in briefs if b and b.get("title")), key=lambda b: -(b.get("rating_count") or 0)
    )
    picked = briefs[:6]
    if len(picked) >= 2:
        return [{"title": b["title"][:120], "event_id": int(b["id"])} for b in picked]
    return [{"title": t, "summary": s} for t, s in CLOSED_CANDIDATES]


async def _closed_campaign(admin: Principal) -> str:
    campaign = await service.create_campaign(
        admin,
        {
            "title": CLOSED_TITLE,
            "rules": RULES,
            "opens_at": _local(2025, 10, 1, 9),
            "closes_at": _local(2025, 10, 31, 18),
            "ballots_per_day": 1,
            "choices_per_ballot": 3,
            "public_weight": 0.7,
            "expert_weight": 0.3,
            "candidates": [{"title": t, "summary": s} for t, s in CLOSED_CANDIDATES],
        },
    )
    candidates = await Candidate.filter(campaign_id=campaign.id).order_by("position")
    rng = random.Random(2025)  # demo data, reproducible
    popularity = [9, 6, 8, 4, 5, 7]
    suspicious = []
    async with in_transaction():
        for i in range(420):
            day = _local(2025, 10, 1 + (i % 30), 8 + rng.randrange(14), rng.randrange(60))
            ids = rng.sample(range(len(candidates)), k=rng.choice((1, 2, 3)))
            ids = sorted(ids, key=lambda k: -popularity[k] * rng.random())[: len(ids)]
            ballot = await Ballot.create(
                campaign_id=campaign.id,
                identity_hmac=keyed_hash("demo-voter", str(i)),
                resident_id=0,
                local_day=day.date(),
                slot=0,
                cast_at=day,
            )
            for k in ids:
                await BallotChoice.create(
                    ballot_id=ballot.id, candidate_id=candidates[k].id, campaign_id=campaign.id
                )
            burst = i >= 400  # twenty ballots from one network within minutes
            await BallotAudit.create(
                ballot_id=ballot.id,
                campaign_id=campaign.id,
                network_hash=keyed_hash("demo-network", "burst" if burst else str(i))[:32],
                agent_hash=keyed_hash("demo-agent", "bot" if burst else str(i % 40))[:32],
                seconds_since_verification=5 if burst else 3600 + i,
                pow_result="ok",
                disposable_domain=burst,
            )
            if burst:
                suspicious.append(ballot.id)
        await Ballot.filter(id__in=suspicious).update(
            invalidated_at=_local(2025, 11, 1, 10),
            invalidation_reason="同一网段短时间集中投票，且使用一次性邮箱",
            invalidated_by=admin.id,
        )
        expert_base = [92, 85, 88, 80, 83, 90]
        for label, reviewer_id in EXPERTS:
            for k, cand in enumerate(candidates):
                await ExpertScore.create(
                    campaign_id=campaign.id,
                    candidate_id=cand.id,
                    reviewer_id=reviewer_id,
                    reviewer_label=label,
                    score=max(0, min(100, expert_base[k] + rng.randrange(-5, 6))),
                    updated_at=_local(2025, 10, 30, 15),
                )
    return f"vote: closed campaign “{CLOSED_TITLE}” with 420 ballots (20 invalidated) and results"


async def _open_campaign(admin: Principal) -> str:
    candidates = await _open_month_candidates()
    await service.create_campaign(
        admin,
        {
            "title": OPEN_TITLE,
            "rules": RULES,
            "opens_at": clock.local_day_at(-2, 9),
            "closes_at": clock.local_day_at(28, 17),
            "ballots_per_day": 1,
            "choices_per_ballot": 3,
            "public_weight": 0.7,
            "expert_weight": 0.3,
            "candidates": candidates,
        },
    )
    source = "open-month events" if candidates[0].get("event_id") else "free entries"
    return f"vote: open campaign “{OPEN_TITLE}” with {len(candidates)} candidates ({source})"


async def load() -> list[str]:
    """Idempotent: a campaign that exists (by title) is left as it is."""
    admin = _admin()
    lines = []
    if not await Campaign.exists(title=CLOSED_TITLE):
        lines.append(await _closed_campaign(admin))
    if not await Campaign.exists(title=OPEN_TITLE):
        lines.append(await _open_campaign(admin))
    return lines or ["vote: demo campaigns already loaded"]
