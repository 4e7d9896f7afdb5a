"""Identity: mailed codes, tokens, the resident's profile."""

from __future__ import annotations

from pydantic import BaseModel, Field
from starlette.responses import Response

from canyu.accounts import service as accounts
from canyu.api.framework import ApiContext, ApiJSONResponse, Body, endpoint


class CodeRequest(Body):
    email: str = Field(max_length=254)


class TokenRequest(Body):
    email: str = Field(max_length=254)
    code: str = Field(max_length=12)


class TokenAnswer(BaseModel):
    token: str
    resident_id: int


class StaffTokenRequest(Body):
    username: str = Field(max_length=64)
    password: str = Field(max_length=256)


class StaffTokenAnswer(BaseModel):
    token: str
    role: str
    unit: str | None


class Profile(BaseModel):
    id: int
    email: str
    name: str
    phone: str
    district: str
    birth_year: int | None
    created_at: str


class ProfileUpdate(Body):
    name: str | None = Field(default=None, max_length=50)
    phone: str | None = Field(default=None, max_length=20)
    district: str | None = Field(default=None, max_length=16)
    birth_year: int | None = None


class Accepted(BaseModel):
    status: str


@endpoint(
    "POST",
    "/auth/code",
    summary="发送登录验证码",
    tag="identity",
    body=CodeRequest,
    response=Accepted,
    status=202,
    description=(
        "向邮箱发送 6 位验证码（10 分钟内有效，只能使用一次）。地址锁定期间答复 429 locked。"
    ),
)
async def request_code(ctx: ApiContext, body: CodeRequest) -> Response:
    await accounts.request_code(body.email, ctx.ip)
    return ApiJSONResponse({"status": "sent"}, status_code=202)


@endpoint(
    "POST",
    "/auth/token",
    summary="用验证码换取访问令牌",
    tag="identity",
    body=TokenRequest,
    response=TokenAnswer,
    description="验证码错误答复 400；连续 5 次错误后该地址锁定 15 分钟，期间一律答复 429 locked。",
)
async def issue_token(ctx: ApiContext, body: TokenRequest) -> TokenAnswer:
    resident = await accounts.verify_code(body.email, body.code, ctx.ip)
    token = await accounts.issue_token(resident=resident, kind="api")
    return TokenAnswer(token=token, resident_id=resident.id)


@endpoint(
    "POST",
    "/staff/token",
    summary="工作人员登录",
    tag="identity",
    body=StaffTokenRequest,
    response=StaffTokenAnswer,
    errors=(401,),
)
async def staff_token(ctx: ApiContext, body: StaffTokenRequest) -> StaffTokenAnswer:
    staff = await accounts.authenticate_staff(body.username, body.password, ctx.ip)
    token = await accounts.issue_token(staff=staff, kind="api")
    await staff.fetch_related("unit")
    return StaffTokenAnswer(
        token=token, role=staff.role, unit=staff.unit.name if staff.unit else None
    )


@endpoint(
    "DELETE",
    "/auth/token",
    summary="注销当前访问令牌",
    tag="identity",
    auth="optional",
    response=Accepted,
    errors=(401,),
)
async def revoke_token(ctx: ApiContext) -> Accepted:
    if ctx.user is None or ctx.user.token_id is None:
        from canyu.core.errors import Unauthorized

        raise Unauthorized("缺少或无效的访问令牌。")
    await accounts.revoke_token(ctx.user.token_id)
    return Accepted(status="revoked")


@endpoint("GET", "/me", summary="我的资料", tag="identity", auth="resident", response=Profile)
async def get_me(ctx: ApiContext) -> Profile:
    resident = await accounts.get_resident(ctx.resident.id)
    return Profile(**accounts.profile_of(resident))


@endpoint(
    "PUT",
    "/me",
    summary="修改我的资料",
    tag="identity",
    auth="resident",
    body=ProfileUpdate,
    response=Profile,
    errors=(409,),
)
async def put_me(ctx: ApiContext, body: ProfileUpdate) -> Profile:
    resident = await accounts.update_profile(ctx.resident.id, body.model_dump(exclude_unset=True))
    return Profile(**accounts.profile_of(resident))


@endpoint(
    "GET",
    "/me/data",
    summary="下载我的全部个人数据",
    tag="identity",
    auth="resident",
    response={"type": "object"},
)
async def get_my_data(ctx: ApiContext) -> dict:
    from canyu.accounts import privacy

    return await privacy.export_resident(ctx.resident.id)


@endpoint(
    "DELETE",
    "/me",
    summary="注销我的账号",
    tag="identity",
    auth="resident",
    response=Accepted,
    description="删除或匿名化全部个人信息；公开发表的内容匿名保留。",
)
async def delete_me(ctx: ApiContext) -> Accepted:
    from canyu.accounts import privacy

    await privacy.delete_resident(ctx.resident, ctx.ip)
    return Accepted(status="deleted")
