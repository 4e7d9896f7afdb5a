"""Vote (capability 4): campaigns, ballots, expert scores, results (API.md "Vote")."""

from __future__ import annotations

from typing import Any

from pydantic import AwareDatetime, BaseModel, Field
from starlette.responses import Response

from canyu.api.framework import ApiContext, ApiJSONResponse, Body, endpoint
from canyu.voting import service


class CandidateIn(Body):
    title: str | None = Field(default=None, max_length=120)
    event_id: int | None = None
    summary: str | None = Field(default=None, max_length=2000)
    photo_url: str | None = Field(default=None, max_length=300)


class CampaignIn(Body):
    title: str = Field(max_length=120)
    rules: str = Field(default="", max_length=5000)
    opens_at: AwareDatetime
    closes_at: AwareDatetime
    results_at: AwareDatetime | None = None
    ballots_per_day: int = 1
    choices_per_ballot: int = 1
    public_weight: float = 0.7
    expert_weight: float = 0.3
    candidates: list[CandidateIn] = Field(max_length=service.MAX_CANDIDATES)


class CandidateRef(BaseModel):
    id: int
    title: str


class CampaignCreated(BaseModel):
    id: int
    candidates: list[CandidateRef]


class BallotIn(Body):
    candidate_ids: list[int] = Field(max_length=service.MAX_CANDIDATES)
    #: The ALTCHA solution (base64), required when CANYU_POW_DIFFICULTY is above 0.
    altcha: str | None = Field(default=None, max_length=4000)


class BallotCreated(BaseModel):
    id: int


class ScoreIn(Body):
    candidate_id: int
    score: float


class ScoresIn(Body):
    scores: list[ScoreIn] = Field(max_length=service.MAX_CANDIDATES)


class InvalidateIn(Body):
    ballot_ids: list[int] = Field(max_length=5000)
    reason: str = Field(max_length=200)


@endpoint(
    "POST",
    "/campaigns",
    summary="创建评选",
    tag="vote",
    auth="staff",
    roles=("admin",),
    body=CampaignIn,
    response=CampaignCreated,
    status=201,
    errors=(403, 422),
    description=(
        "仅管理员。权重在 0 到 1 之间且合计为 1；"
        "候选可来自开放活动（event_id）或自由填写。"
    ),
)
async def create_campaign(ctx: ApiContext, body: CampaignIn) -> dict[str, Any]:
    data = body.model_dump()
    data["candidates"] = [c.model_dump(exclude_none=True) for c in body.candidates]
    campaign = await service.create_campaign(ctx.user, data)  # type: ignore[arg-type]
    candidates = await service.candidates_of(campaign.id)
    return {"id": campaign.id, "candidates": [{"id": c.id, "title": c.title} for c in candidates]}


@endpoint("GET", "/campaigns", summary="评选列表", tag="vote")
async def list_campaigns(ctx: ApiContext) -> dict[str, Any]:
    return {
        "items": [
            await service.campaign_view(campaign) for campaign in await service.list_campaigns()
        ]
    }


@endpoint("GET", "/campaigns/{id:int}", summary="评选与候选活动", tag="vote", errors=(404,))
async def get_campaign(ctx: ApiContext, id: int) -> dict[str, Any]:
    return await service.campaign_view(await service.get_campaign(id))


@endpoint(
    "GET",
    "/campaigns/{id:int}/challenge",
    summary="人机验证题目（ALTCHA）",
    tag="vote",
    errors=(404,),
    description='CANYU_POW_DIFFICULTY 为 0 时答复 {"enabled": false}。',
)
async def challenge(ctx: ApiContext, id: int) -> Response:
    await service.get_campaign(id)
    difficulty = ctx.request.app.state.settings.pow_difficulty
    if difficulty <= 0:
        return ApiJSONResponse({"enabled": False})
    return ApiJSONResponse(service.new_challenge(difficulty), headers={"Cache-Control": "no-store"})


@endpoint(
    "POST",
    "/campaigns/{id:int}/ballots",
    summary="投票",
    tag="vote",
    auth="resident",
    body=BallotIn,
    response=BallotCreated,
    status=201,
    errors=(404, 409, 422, 429),
    description=(
        "候选不重复、不超过每票可选数量。当天（CANYU_TIMEZONE 的日历日）次数用完答复 409；"
        "不在投票时间内或选择无效答复 422。启用人机验证时须带 altcha。"
    ),
)
async def cast_ballot(ctx: ApiContext, id: int, body: BallotIn) -> dict[str, Any]:
    ballot = await service.cast_ballot(
        ctx.user,
        id,
        body.candidate_ids,
        ip=ctx.ip,
        user_agent=ctx.request.headers.get("user-agent", ""),
        pow_payload=body.altcha,
        pow_difficulty=ctx.request.app.state.settings.pow_difficulty,
    )
    return {"id": ballot.id}


@endpoint(
    "POST",
    "/campaigns/{id:int}/expert-scores",
    summary="专家评审打分",
    tag="vote",
    auth="staff",
    roles=("admin", "reviewer"),
    body=ScoresIn,
    errors=(403, 404, 422),
    description=(
        "管理员或评审专家为候选活动打 0–100 分；再次提交覆盖本人原分。"
        "专家分为各评审的平均分。"
    ),
)
async def expert_scores(ctx: ApiContext, id: int, body: ScoresIn) -> dict[str, Any]:
    count = await service.submit_expert_scores(
        ctx.user,  # type: ignore[arg-type]
        id,
        [s.model_dump() for s in body.scores],
    )
    return {"status": "ok", "scored": count}


@endpoint(
    "GET",
    "/campaigns/{id:int}/results",
    summary="评选结果",
    tag="vote",
    auth="optional",
    errors=(404,),
    description='截止前对所有人（含工作人员）答复 {"status":"open","results":null}。',
)
async def results(ctx: ApiContext, id: int) -> dict[str, Any]:
    answer = await service.results(id)
    if answer["results"] is not None:
        answer["results"] = [
            {
                k: r[k]
                for k in (
                    "candidate_id",
                    "title",
                    "votes",
                    "invalidated",
                    "public_score",
                    "expert_score",
                    "final_score",
                    "rank",
                )
            }
            for r in answer["results"]
        ]
    return answer


@endpoint(
    "GET",
    "/campaigns/{id:int}/anomalies",
    summary="异常投票报告",
    tag="vote",
    auth="staff",
    roles=("admin",),
    errors=(403, 404),
)
async def anomalies(ctx: ApiContext, id: int) -> dict[str, Any]:
    return await service.anomaly_report(ctx.user, id)  # type: ignore[arg-type]


@endpoint(
    "POST",
    "/campaigns/{id:int}/invalidations",
    summary="作废选票",
    tag="vote",
    auth="staff",
    roles=("admin",),
    body=InvalidateIn,
    errors=(403, 404, 422),
    description="仅管理员，须说明理由；选票不删除，作废数量随结果公布。",
)
async def invalidate(ctx: ApiContext, id: int, body: InvalidateIn) -> dict[str, Any]:
    changed = await service.invalidate_ballots(ctx.user, id, body.ballot_ids, body.reason)  # type: ignore[arg-type]
    return {"invalidated": changed}
