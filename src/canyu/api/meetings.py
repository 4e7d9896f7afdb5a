"""Decision meetings (capability 2): the call, applications, review, commitment and draw."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field
from starlette.responses import Response

from canyu.api.framework import ApiContext, ApiJSONResponse, Body, endpoint
from canyu.meetings import service


class MeetingCreate(Body):
    title: str = Field(max_length=200)
    meets_at: datetime
    topics: list[Any] = Field(default_factory=list, max_length=50)
    applications_open_at: datetime
    applications_close_at: datetime
    seats: int
    alternates: int = 0
    quotas: dict[str, Any] = Field(default_factory=dict)
    summary: str = Field(default="", max_length=20000)
    location: str = Field(default="", max_length=200)
    eligibility: str = Field(default="", max_length=5000)
    seed_source: str = Field(default="", max_length=1000)
    reselect_months: int = 12


class ApplicationCreate(Body):
    name: str = Field(max_length=50)
    gender: str = Field(max_length=4)
    birth_year: int
    district: str = Field(max_length=16)
    occupation: str = Field(max_length=100)
    category: str = Field(max_length=4)
    reason: str = Field(max_length=2000)
    no_conflict: bool = False
    consent: bool = False
    keep_in_pool: bool = False


class Review(Body):
    decision: str = Field(max_length=16)
    reason: str = Field(default="", max_length=1000)


class DrawRequest(Body):
    seed: str = Field(max_length=500)


class SuggestionCreate(Body):
    topic_id: int
    body: str = Field(max_length=5000)
    owner_unit: str = Field(default="", max_length=64)
    due_on: str = Field(default="", max_length=10)
    application_id: int | None = None


class SuggestionAnswer(Body):
    status: str = Field(max_length=16)
    answer: str = Field(max_length=5000)


def _suggestion(s: Any) -> dict:
    return {
        "id": s.id,
        "topic_id": s.topic_id,
        "body": s.body,
        "owner_unit": s.owner_unit,
        "due_on": s.due_on,
        "status": s.status,
        "answer": s.answer,
        "answered_at": s.answered_at,
    }


@endpoint(
    "POST",
    "/meetings",
    summary="创建决策会议与公开报名",
    tag="meetings",
    auth="staff",
    body=MeetingCreate,
    status=201,
    errors=(403, 422),
    roles=service.ORGANIZERS,
)
async def create_meeting(ctx: ApiContext, body: MeetingCreate) -> Response:
    meeting = await service.create_meeting(ctx.user, body.model_dump())
    return ApiJSONResponse(await service.meeting_json(meeting), status_code=201)


@endpoint("GET", "/meetings", summary="决策会议列表", tag="meetings")
async def list_meetings(ctx: ApiContext) -> dict:
    return {"items": [await service.meeting_json(m) for m in await service.list_meetings()]}


@endpoint("GET", "/meetings/{id:int}", summary="决策会议", tag="meetings", errors=(404,))
async def get_meeting(ctx: ApiContext, id: int) -> dict:
    return await service.meeting_json(await service.get_meeting(id))


@endpoint(
    "POST",
    "/meetings/{id:int}/applications",
    summary="报名列席",
    tag="meetings",
    auth="resident",
    body=ApplicationCreate,
    status=201,
    errors=(404, 409, 422),
    description="未满 18 周岁、未声明无利益冲突、未同意个人信息处理或不在报名期内 422；重复报名 409。",  # noqa: E501
)
async def apply(ctx: ApiContext, id: int, body: ApplicationCreate) -> Response:
    application = await service.apply(ctx.user, id, body.model_dump())
    return ApiJSONResponse({"id": application.id, "status": application.status}, status_code=201)


@endpoint(
    "POST",
    "/applications/{id:int}/review",
    summary="资格审查",
    tag="meetings",
    auth="staff",
    body=Review,
    errors=(403, 404, 409, 422),
    roles=service.ORGANIZERS,
)
async def review(ctx: ApiContext, id: int, body: Review) -> dict:
    application = await service.review(ctx.user, id, body.decision, body.reason)
    return {"id": application.id, "status": application.status, "reason": application.review_reason}


@endpoint(
    "POST",
    "/meetings/{id:int}/commitment",
    summary="冻结候选名单并计算公示承诺",
    tag="meetings",
    auth="staff",
    status=202,
    errors=(403, 404, 409, 422),
    description="报名截止后：冻结合格报名者名单，检查配额，在独立进程中计算均匀抽签的 m 个名单。",
    roles=service.ORGANIZERS,
)
async def start_commitment(ctx: ApiContext, id: int) -> Response:
    settings = ctx.request.app.state.settings
    meeting = await service.start_commitment(ctx.user, id, settings.draw_time_budget)
    return ApiJSONResponse(service.commitment_json(meeting), status_code=202)


@endpoint(
    "GET", "/meetings/{id:int}/commitment", summary="公示的承诺", tag="meetings", errors=(404,)
)
async def get_commitment(ctx: ApiContext, id: int) -> dict:
    return service.commitment_json(await service.get_meeting(id))


@endpoint(
    "POST",
    "/meetings/{id:int}/draw",
    summary="输入公开随机种子并抽签",
    tag="meetings",
    auth="staff",
    body=DrawRequest,
    status=201,
    errors=(403, 404, 409, 422),
    roles=service.ORGANIZERS,
)
async def draw(ctx: ApiContext, id: int, body: DrawRequest) -> Response:
    record = await service.draw_delegates(ctx.user, id, body.seed)
    return ApiJSONResponse(record, status_code=201)


@endpoint("GET", "/meetings/{id:int}/draw", summary="遴选记录", tag="meetings", errors=(404,))
async def get_draw(ctx: ApiContext, id: int) -> dict:
    return service.record_of(await service.get_meeting(id))


@endpoint(
    "POST",
    "/meetings/{id:int}/suggestions",
    summary="提出意见建议",
    tag="meetings",
    auth="optional",
    body=SuggestionCreate,
    status=201,
    errors=(401, 403, 404, 422),
    roles={"resident", *service.ORGANIZERS},
)
async def add_suggestion(ctx: ApiContext, id: int, body: SuggestionCreate) -> Response:
    suggestion = await service.add_suggestion(ctx.user, id, body.model_dump())
    return ApiJSONResponse(_suggestion(suggestion), status_code=201)


@endpoint(
    "POST",
    "/suggestions/{id:int}/answer",
    summary="答复意见建议",
    tag="meetings",
    auth="staff",
    body=SuggestionAnswer,
    errors=(403, 404, 422),
    roles=service.ORGANIZERS,
)
async def answer_suggestion(ctx: ApiContext, id: int, body: SuggestionAnswer) -> dict:
    return _suggestion(await service.answer_suggestion(ctx.user, id, body.status, body.answer))


@endpoint(
    "GET", "/meetings/{id:int}/suggestions", summary="意见建议及答复", tag="meetings", errors=(404,)
)
async def list_suggestions(ctx: ApiContext, id: int) -> dict:
    meeting = await service.get_meeting(id)
    return {"items": [_suggestion(s) for s in await service.suggestions_of(meeting)]}


def _application(a: Any) -> dict:
    return {
        "id": a.id,
        "meeting_id": a.meeting_id,
        "status": a.status,
        "reason_of_review": a.review_reason,
        **{f: getattr(a, f) for f in (*service.APPLICATION_FIELDS, "keep_in_pool")},
    }


@endpoint(
    "GET",
    "/applications/{id:int}",
    summary="我的报名",
    tag="meetings",
    auth="resident",
    errors=(404,),
)
async def get_application(ctx: ApiContext, id: int) -> dict:
    return _application(await service.own_application(ctx.user, id))


@endpoint(
    "PUT",
    "/applications/{id:int}",
    summary="修改报名（截止前）",
    tag="meetings",
    auth="resident",
    body=ApplicationCreate,
    errors=(404, 409, 422),
)
async def put_application(ctx: ApiContext, id: int, body: ApplicationCreate) -> dict:
    return _application(await service.update_application(ctx.user, id, body.model_dump()))


@endpoint(
    "DELETE",
    "/applications/{id:int}",
    summary="撤回报名（截止前）",
    tag="meetings",
    auth="resident",
    errors=(404, 409, 422),
)
async def withdraw_application(ctx: ApiContext, id: int) -> dict:
    await service.withdraw_application(ctx.user, id)
    return {"id": id, "status": "withdrawn"}
