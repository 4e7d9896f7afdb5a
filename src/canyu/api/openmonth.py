"""JSON API v1 of the open month (API.md "Open month"), thin over ``openmonth.service``."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import AwareDatetime, Field
from starlette.responses import Response

from canyu.api.framework import ApiContext, ApiJSONResponse, Body, endpoint
from canyu.openmonth import service


class EventCreate(Body):
    title: str = Field(max_length=120)
    summary: str | None = Field(default=None, max_length=5000)
    theme: str | None = Field(default=None, max_length=16)
    mode: Literal["offline", "online", "hybrid"] = "offline"
    location: str | None = Field(default=None, max_length=200)
    district: str | None = Field(default=None, max_length=16)
    stream_url: str | None = Field(default=None, max_length=300)
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    capacity: int = Field(ge=1, le=100_000)
    registration_opens_at: AwareDatetime | None = None
    registration_closes_at: AwareDatetime | None = None
    cancellation_closes_at: AwareDatetime | None = None
    max_companions: int | None = Field(default=None, ge=0, le=service.MAX_COMPANIONS)
    min_age: int | None = Field(default=None, ge=0, le=100)
    id_check: bool = False
    requirements: str | None = Field(default=None, max_length=2000)
    image_url: str | None = Field(default=None, max_length=300)
    unit: str | None = Field(default=None, max_length=64)
    published: bool = False


class RegistrationCreate(Body):
    companions: int = Field(default=0, ge=0, le=service.MAX_COMPANIONS)
    child_companions: int = Field(default=0, ge=0, le=service.MAX_COMPANIONS)
    guardian_consent: bool = False
    #: 居民身份证号码: required when the event checks ID on site (``id_check``), stored
    #: encrypted; for other events it is not collected (ignored, never stored).
    id_number: str | None = Field(default=None, max_length=40)
    #: The separate consent an ID number needs (sensitive personal information): true with it.
    id_number_consent: bool = False


class CheckinCreate(Body):
    ticket_code: str = Field(max_length=40)
    scanned_at: AwareDatetime | None = None


class RatingCreate(Body):
    stars: int
    comment: str = Field(default="", max_length=500)


def _summary_of_event(data: EventCreate) -> dict[str, Any]:
    values = data.model_dump()
    if not values["summary"]:
        values["summary"] = values["title"]
    if values["max_companions"] is None:
        values["max_companions"] = 0
    return values


async def _event_answer(ctx: ApiContext, event: Any) -> dict[str, Any]:
    count = (await service.counts([event.id]))[event.id]
    return service.event_json(
        event, count, show_stream=await service.may_see_stream(ctx.user, event)
    )


@endpoint(
    "POST",
    "/events",
    summary="创建开放活动",
    tag="openmonth",
    auth="staff",
    roles=service.STAFF_ROLES,
    body=EventCreate,
    status=201,
    errors=(403, 422),
    description="组织者为本单位创建活动，管理员可用 unit 指定单位。",
)
async def create_event(ctx: ApiContext, body: EventCreate) -> Response:
    event = await service.create_event(ctx.user, _summary_of_event(body))
    return ApiJSONResponse(await _event_answer(ctx, event), status_code=201)


@endpoint(
    "GET",
    "/events",
    summary="开放活动目录",
    tag="openmonth",
    auth="optional",
    description="已发布的活动；可按 month（YYYY-MM）、day、district、theme、mode、"
    "available=1 筛选。",
)
async def list_events(ctx: ApiContext) -> dict[str, Any]:
    q = ctx.request.query_params
    events = await service.list_events(
        month=q.get("month"),
        day=q.get("day"),
        district=q.get("district") or None,
        theme=q.get("theme") or None,
        mode=q.get("mode") or None,
        available=q.get("available") in ("1", "true"),
    )
    count = await service.counts([e.id for e in events])
    return {"items": [service.event_json(e, count[e.id]) for e in events]}


@endpoint(
    "GET",
    "/events/{id:int}",
    summary="开放活动详情",
    tag="openmonth",
    auth="optional",
    errors=(404,),
    description="直播链接只向已确认报名的人显示。",
)
async def get_event(ctx: ApiContext, id: int) -> dict[str, Any]:
    event = await service.get_event(id, ctx.user)
    return await _event_answer(ctx, event)


@endpoint(
    "POST",
    "/events/{id:int}/registrations",
    summary="报名参加活动",
    tag="openmonth",
    auth="resident",
    body=RegistrationCreate,
    status=201,
    errors=(404, 409, 422),
    description="有名额时 confirmed（附电子票号），满员时 waitlisted；重复报名 409；"
    "窗口外或超过每月名额 422。活动现场核验身份证件（id_check）时须提供 id_number"
    "（18 位居民身份证号码，加密保存，缺少或无效 422，同一证件已报名 409）；其他活动不收集。",
)
async def register(ctx: ApiContext, id: int, body: RegistrationCreate) -> Response:
    registration = await service.register(
        ctx.user,
        id,
        body.companions,
        body.child_companions,
        body.guardian_consent,
        source="api",
        id_number=body.id_number,
        id_number_consent=body.id_number_consent,
    )
    return ApiJSONResponse(
        {
            "id": registration.id,
            "status": registration.status,
            "ticket_code": registration.ticket_code if registration.status == "confirmed" else None,
            "places": registration.places,
        },
        status_code=201,
    )


@endpoint("GET", "/me/registrations", summary="我的报名", tag="openmonth", auth="resident")
async def my_registrations(ctx: ApiContext) -> dict[str, Any]:
    rows = await service.my_registrations(ctx.user)
    return {"items": [service.registration_json(r) for r in rows]}


@endpoint(
    "DELETE",
    "/registrations/{id:int}",
    summary="取消报名",
    tag="openmonth",
    auth="resident",
    errors=(403, 404, 409, 422),
    description="释放的名额自动递补给候补名单中的第一位。",
)
async def cancel_registration(ctx: ApiContext, id: int) -> dict[str, Any]:
    registration = await service.cancel_registration(ctx.user, id)
    return {"id": registration.id, "status": registration.status}


@endpoint(
    "POST",
    "/registrations/{id:int}/confirm",
    summary="确认递补名额",
    tag="openmonth",
    auth="resident",
    errors=(403, 404, 409, 422),
)
async def confirm_offer(ctx: ApiContext, id: int) -> dict[str, Any]:
    registration = await service.confirm_offer(ctx.user, id)
    return {
        "id": registration.id,
        "status": registration.status,
        "ticket_code": registration.ticket_code,
    }


@endpoint(
    "POST",
    "/checkins",
    summary="签到",
    tag="openmonth",
    auth="staff",
    roles=service.STAFF_ROLES,
    body=CheckinCreate,
    errors=(403, 404, 409, 422),
    description="活动的组织单位或管理员；重复签到 409，未知票号 404。"
    "scanned_at 用于离线扫码后补传。",
)
async def check_in(ctx: ApiContext, body: CheckinCreate) -> Response:
    registration, fresh = await service.check_in(
        ctx.user, body.ticket_code, scanned_at=body.scanned_at
    )
    if not fresh:
        raise service.already_checked_in_error(registration)
    checked: datetime = registration.checked_in_at  # type: ignore[assignment]
    return ApiJSONResponse(
        {
            "status": "checked_in",
            "registration_id": registration.id,
            "event_id": registration.event.id,
            "places": registration.places,
            "checked_in_at": checked,
        }
    )


@endpoint(
    "POST",
    "/events/{id:int}/ratings",
    summary="评价活动",
    tag="openmonth",
    auth="resident",
    body=RatingCreate,
    status=201,
    errors=(404, 409, 422),
)
async def rate_event(ctx: ApiContext, id: int, body: RatingCreate) -> Response:
    rating = await service.rate_event(ctx.user, id, body.stars, body.comment)
    return ApiJSONResponse({"id": rating.id, "stars": rating.stars}, status_code=201)
