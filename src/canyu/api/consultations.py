"""JSON API v1 of comment periods (see API.md, "Comment periods"), thin over the service."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field
from starlette.responses import Response

from canyu.api.framework import ApiContext, ApiJSONResponse, Body, endpoint
from canyu.consultations import service


class SectionIn(Body):
    title: str = Field(max_length=200)
    body: str = Field(default="", max_length=50_000)


class ConsultationIn(Body):
    title: str = Field(max_length=200)
    kind: str = Field(max_length=20)
    body: str = Field(default="", max_length=100_000)
    basis: str = Field(default="", max_length=5000)
    contact: str = Field(default="", max_length=300)
    interpretation: str = Field(default="", max_length=100_000)
    opens_at: datetime
    closes_at: datetime
    period_reason: str = Field(default="", max_length=2000)
    sections: list[SectionIn] = Field(default_factory=list, max_length=200)
    published: bool = False
    drafting_unit: str = Field(default="", max_length=100)
    audiences: list[str] = Field(default_factory=list, max_length=20)
    topics: list[str] = Field(default_factory=list, max_length=20)


class CommentIn(Body):
    body: str = Field(max_length=20_000)
    section_id: int | None = None


class ModerationIn(Body):
    decision: str = Field(max_length=20)
    reason: str = Field(default="", max_length=500)


class DispositionIn(Body):
    outcome: str = Field(max_length=20)
    reason: str = Field(default="", max_length=2000)


class ReportIn(Body):
    summary: str = Field(default="", max_length=10_000)


def _summary(c: Any) -> dict[str, Any]:
    return {
        "id": c.id,
        "title": c.title,
        "kind": c.kind,
        "drafting_unit": c.drafting_unit,
        "phase": service.phase_of(c),
        "opens_at": c.opens_at,
        "closes_at": c.closes_at,
        "period_reason": c.period_reason,
        "audiences": c.audiences,
        "topics": c.topics,
    }


@endpoint(
    "POST",
    "/consultations",
    summary="创建征求意见稿",
    tag="consultations",
    auth="staff",
    body=ConsultationIn,
    status=201,
    errors=(401, 403, 422),
    description=(
        "kind: major_decision、rule、normative 或 other；期限短于最低要求时须填写 period_reason。"
    ),
    roles=service.ORGANIZERS,
)
async def create_consultation(ctx: ApiContext, body: ConsultationIn) -> Response:
    data = body.model_dump()
    data["sections"] = [s.model_dump() for s in body.sections]
    c = await service.create_consultation(ctx.user, data)
    sections = await service.sections_of(c.id)
    return ApiJSONResponse(
        {"id": c.id, "sections": [{"id": s.id, "title": s.title} for s in sections]},
        status_code=201,
    )


@endpoint("GET", "/consultations", summary="征求意见稿列表", tag="consultations")
async def list_consultations(ctx: ApiContext) -> dict[str, Any]:
    return {"items": [_summary(c) for c in await service.list_public()]}


@endpoint(
    "GET",
    "/consultations/{id:int}",
    summary="征求意见稿",
    tag="consultations",
    auth="optional",
    errors=(404,),
)
async def get_consultation(ctx: ApiContext, id: int) -> dict[str, Any]:
    c = await service.get_consultation(id, ctx.user)
    sections = await service.sections_of(c.id)
    return {
        **_summary(c),
        "basis": c.basis,
        "contact": c.contact,
        "body": c.body,
        "interpretation": c.interpretation,
        "sections": [
            {"id": s.id, "title": s.title, "body": s.body, "anchor": service.anchor_of(s)}
            for s in sections
        ],
    }


@endpoint(
    "POST",
    "/consultations/{id:int}/comments",
    summary="提交意见",
    tag="consultations",
    auth="resident",
    body=CommentIn,
    status=201,
    errors=(401, 403, 404, 422),
    description="先审后发：新意见状态为 pending；不在征求意见期间答复 422。",
)
async def post_comment(ctx: ApiContext, id: int, body: CommentIn) -> Response:
    comment = await service.submit_comment(ctx.user, id, body.body, body.section_id)
    return ApiJSONResponse({"id": comment.id, "status": comment.status}, status_code=201)


@endpoint(
    "GET",
    "/consultations/{id:int}/comments",
    summary="已发布的意见",
    tag="consultations",
    errors=(404,),
)
async def list_comments(ctx: ApiContext, id: int) -> dict[str, Any]:
    return {"items": [service.public_comment(c) for c in await service.published_comments(id)]}


@endpoint(
    "POST",
    "/comments/{id:int}/moderation",
    summary="审核意见",
    tag="consultations",
    auth="staff",
    body=ModerationIn,
    errors=(401, 403, 404, 409, 422),
    roles=service.MODERATORS,
)
async def moderate(ctx: ApiContext, id: int, body: ModerationIn) -> dict[str, Any]:
    comment = await service.moderate_comment(ctx.user, id, body.decision, body.reason)
    return {"id": comment.id, "status": comment.status}


@endpoint(
    "POST",
    "/comments/{id:int}/disposition",
    summary="意见采纳答复",
    tag="consultations",
    auth="staff",
    body=DispositionIn,
    errors=(401, 403, 404, 409, 422),
    roles=service.ORGANIZERS,
)
async def dispose(ctx: ApiContext, id: int, body: DispositionIn) -> dict[str, Any]:
    await service.dispose_comments(ctx.user, [id], body.outcome, body.reason)
    return {"id": id, "outcome": body.outcome}


@endpoint(
    "POST",
    "/comments/{id:int}/support",
    summary="赞同意见",
    tag="consultations",
    auth="resident",
    errors=(401, 403, 404, 409),
)
async def support(ctx: ApiContext, id: int) -> dict[str, Any]:
    return {"id": id, "supports": await service.support_comment(ctx.user, id)}


@endpoint(
    "POST",
    "/consultations/{id:int}/report",
    summary="公布意见采纳情况",
    tag="consultations",
    auth="staff",
    body=ReportIn,
    errors=(401, 403, 404, 409),
    roles=service.ORGANIZERS,
)
async def publish_report(ctx: ApiContext, id: int, body: ReportIn) -> dict[str, Any]:
    await service.publish_report(ctx.user, id, body.summary)
    return await service.report_of(id)


@endpoint(
    "GET",
    "/consultations/{id:int}/report",
    summary="意见采纳情况",
    tag="consultations",
    errors=(404,),
)
async def get_report(ctx: ApiContext, id: int) -> dict[str, Any]:
    return await service.report_of(id)
