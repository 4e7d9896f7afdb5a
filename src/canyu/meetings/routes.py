"""HTML pages of decision meetings: the public call and meeting page, applications,
invitations, and the organizer's pages (review, commitment, draw, roster, suggestions)."""

from __future__ import annotations

import json

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from canyu.core import clock, nav, scheduler
from canyu.core.errors import DomainError, NotFound
from canyu.core.i18n import N_
from canyu.core.markdown import render_markdown
from canyu.core.permissions import authorize, require_resident
from canyu.core.templating import flash, render
from canyu.core.web import form_data, path_int, redirect, user
from canyu.meetings import service
from canyu.meetings.privacy import register_personal_data

nav.public_link("/meetings", "列席会议", order=20)
nav.staff_link(
    "/staff/meetings", "决策会议与列席代表", {"organizer", "admin"}, order=20,
    waiting=service.waiting_reviews,
)
nav.staff_link(
    "/staff/meetings/overdue", "逾期未答复的意见建议", {"admin"}, order=21,
    waiting=service.waiting_overdue,
)


async def _open_calls() -> dict:
    return {"open_meetings": await service.list_meetings(only_open=True)}


nav.home_section("meetings/home_section.html", _open_calls, order=20)


async def _expire_job() -> None:
    await service.expire_invitations()


async def _stalled_job() -> None:
    from canyu.settings import Settings

    await service.resume_stalled(Settings.from_env().draw_time_budget)


scheduler.register_job("meetings.expire_invitations", 60, _expire_job)
scheduler.register_job("meetings.stalled_commitments", 300, _stalled_job)
# Export, erasure and the retention purge (run and audited by accounts.privacy's hourly job).
register_personal_data()

LABELS = {
    "applications": service.APPLICATION_STATUSES,
    "invitations": service.INVITATION_STATUSES,
    "suggestions": service.SUGGESTION_STATUSES,
    "commitment": service.COMMITMENT_STATUSES,
    "features": service.FEATURE_LABELS,
}


# --- public ------------------------------------------------------------------------------


async def meetings_list(request: Request) -> Response:
    meetings = await service.list_meetings()
    return render(
        request,
        "meetings/list.html",
        {"meetings": meetings, "now": clock.now(), "is_open": service.is_open},
    )


async def my_applications(request: Request) -> Response:
    me = user(request)
    if me is None:
        return redirect(request, "/signin?next=/meetings/mine")
    items = await service.applications_of_resident(me)
    return render(request, "meetings/mine.html", {"items": items, "labels": LABELS})


async def _page_context(request: Request, meeting_id: int) -> dict:
    meeting = await service.get_meeting(meeting_id)
    invitations = await service.roster(meeting)
    me = user(request)
    mine = await service.my_application(me, meeting.id)
    my_invitation = None
    if mine is not None:
        my_invitation = next((i for i in invitations if i.application_id == mine.id), None)
    return {
        "meeting": meeting,
        "topics": await service.topics_of(meeting),
        "summary_html": render_markdown(meeting.summary),
        "render_markdown": render_markdown,
        "roster": service.masked_roster(invitations),
        "suggestions": await service.suggestions_of(meeting),
        "mine": mine,
        "my_invitation": my_invitation,
        "is_open": service.is_open(meeting),
        "labels": LABELS,
        "error": None,
    }


async def meeting_page(request: Request) -> Response:
    ctx = await _page_context(request, path_int(request))
    return render(request, "meetings/page.html", ctx)


async def commitment_status(request: Request) -> Response:
    """Polled by htmx while the lottery is being computed (progress on the page)."""
    meeting = await service.get_meeting(path_int(request))
    return render(
        request,
        "meetings/_commitment.html",
        {"meeting": meeting, "labels": LABELS, "staff_view": False},
    )


async def record_download(request: Request) -> Response:
    meeting = await service.get_meeting(path_int(request))
    kind = request.path_params["kind"]
    if kind not in ("draw", "commitment"):
        raise NotFound()
    if kind == "draw":
        data = service.record_of(meeting)
    else:
        data = service.commitment_json(meeting)
    body = json.dumps(data, ensure_ascii=False, indent=1, default=str)
    return Response(
        body,
        media_type="application/json; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="meeting-{meeting.id}-{kind}.json"'},
    )


async def apply_page(request: Request) -> Response:
    me = user(request)
    meeting = await service.get_meeting(path_int(request))
    if me is None:
        return redirect(request, f"/signin?next=/meetings/{meeting.id}/apply")
    require_resident(me)
    mine = await service.my_application(me, meeting.id)
    form = (
        {f: getattr(mine, f) for f in (*service.APPLICATION_FIELDS, "keep_in_pool")} if mine else {}
    )
    return render(
        request,
        "meetings/apply.html",
        {"meeting": meeting, "mine": mine, "form": form, "error": None},
    )


async def apply_submit(request: Request) -> Response:
    me = require_resident(user(request))
    meeting = await service.get_meeting(path_int(request))
    data = await form_data(request)
    mine = await service.my_application(me, meeting.id)
    try:
        if mine is None:
            await service.apply(me, meeting.id, data)
            flash(request, "报名已提交，资格审查结果将以邮件通知您。")
        else:
            await service.update_application(me, mine.id, data)
            flash(request, "报名信息已更新。")
    except DomainError as exc:
        return render(
            request,
            "meetings/apply.html",
            {"meeting": meeting, "mine": mine, "form": data, "error": exc},
            status_code=exc.status,
        )
    return redirect(request, f"/meetings/{meeting.id}")


async def withdraw(request: Request) -> Response:
    me = require_resident(user(request))
    application_id = path_int(request)
    await service.withdraw_application(me, application_id)
    flash(request, "报名已撤回。")
    return redirect(request, "/meetings")


async def invitation_page(request: Request) -> Response:
    invitation = await service.invitation_by_token(request.path_params["token"])
    return render(
        request,
        "meetings/invitation.html",
        {"invitation": invitation, "labels": LABELS, "error": None},
    )


async def invitation_answer(request: Request) -> Response:
    token = request.path_params["token"]
    data = await form_data(request)
    try:
        await service.respond(token, data.get("answer") == "accept")
    except DomainError as exc:
        invitation = await service.invitation_by_token(token)
        return render(
            request,
            "meetings/invitation.html",
            {"invitation": invitation, "labels": LABELS, "error": exc},
            status_code=exc.status,
        )
    flash(request, "感谢您的答复。")
    return redirect(request, f"/meetings/invitations/{token}")


async def delegate_suggestion(request: Request) -> Response:
    me = user(request)
    meeting_id = path_int(request)
    data = await form_data(request)
    try:
        await service.add_suggestion(
            me, meeting_id, {"topic_id": data.get("topic_id"), "body": data.get("body")}
        )
    except DomainError as exc:
        ctx = await _page_context(request, meeting_id)
        ctx["error"] = exc
        return render(request, "meetings/page.html", ctx, status_code=exc.status)
    flash(request, "意见建议已提交，答复后将以邮件通知您。")
    return redirect(request, f"/meetings/{meeting_id}#suggestions")


# --- staff -------------------------------------------------------------------------------


async def staff_list(request: Request) -> Response:
    me = authorize(user(request), service.ORGANIZERS)
    meetings = await service.list_meetings()
    if me.role != "admin":
        meetings = [m for m in meetings if m.unit_id == me.unit_id]
    return render(
        request, "meetings/staff_list.html", {"meetings": meetings, "form": {}, "error": None}
    )


async def staff_create(request: Request) -> Response:
    me = authorize(user(request), service.ORGANIZERS)
    data = await form_data(request)
    body = dict(data)
    body["topics"] = [
        {"title": line.strip(), "materials": ""}
        for line in str(data.get("topics", "")).splitlines()
        if line.strip()
    ]
    try:
        body["quotas"] = json.loads(data["quotas"]) if str(data.get("quotas", "")).strip() else {}
    except ValueError:
        body["quotas"] = None
    try:
        if body["quotas"] is None:
            raise DomainError("invalid_quotas", "配额格式无效。", 422, field="quotas")
        meeting = await service.create_meeting(me, body)
    except DomainError as exc:
        meetings = await service.list_meetings()
        return render(
            request,
            "meetings/staff_list.html",
            {"meetings": meetings, "form": data, "error": exc},
            status_code=exc.status,
        )
    flash(request, "会议已创建，公告已发布。")
    return redirect(request, f"/staff/meetings/{meeting.id}")


async def _staff_context(
    request: Request, meeting_id: int, error: DomainError | None = None
) -> dict:
    me = user(request)
    meeting = await service.get_meeting(meeting_id)
    authorize(me, service.ORGANIZERS, meeting.unit_id)
    return {
        "meeting": meeting,
        "topics": await service.topics_of(meeting),
        "applications": await service.list_applications(me, meeting.id),
        "roster": await service.roster(meeting),
        "suggestions": await service.suggestions_of(meeting),
        "labels": LABELS,
        "error": error,
        "now": clock.now(),
        "today": clock.today(),
        "quotas_json": json.dumps(meeting.quotas, ensure_ascii=False),
    }


async def staff_meeting(request: Request) -> Response:
    return render(
        request, "meetings/staff_meeting.html", await _staff_context(request, path_int(request))
    )


async def _staff_action(request: Request, meeting_id: int, action, message: str) -> Response:
    try:
        await action()
    except DomainError as exc:
        return render(
            request,
            "meetings/staff_meeting.html",
            await _staff_context(request, meeting_id, exc),
            status_code=exc.status,
        )
    flash(request, message)
    return redirect(request, f"/staff/meetings/{meeting_id}")


async def staff_review(request: Request) -> Response:
    me = user(request)
    meeting_id, application_id = path_int(request), path_int(request, "app")
    data = await form_data(request)
    return await _staff_action(
        request,
        meeting_id,
        lambda: service.review(
            me, application_id, str(data.get("decision", "")), str(data.get("reason", ""))
        ),
        N_("审查结论已保存，已邮件通知报名者。"),
    )


async def staff_commitment(request: Request) -> Response:
    me = user(request)
    meeting_id = path_int(request)
    budget = request.app.state.settings.draw_time_budget
    return await _staff_action(
        request,
        meeting_id,
        lambda: service.start_commitment(me, meeting_id, budget),
        N_("候选名单已冻结，正在计算抽签名单。"),
    )


async def staff_draw(request: Request) -> Response:
    me = user(request)
    meeting_id = path_int(request)
    data = await form_data(request)
    return await _staff_action(
        request,
        meeting_id,
        lambda: service.draw_delegates(me, meeting_id, data.get("seed", "")),
        N_("抽签完成，已向入选者发出邀请。"),
    )


async def staff_checkin(request: Request) -> Response:
    me = user(request)
    meeting_id = path_int(request)
    invitation_id = path_int(request, "inv")
    return await _staff_action(
        request, meeting_id, lambda: service.check_in(me, invitation_id), N_("已签到。")
    )


async def staff_suggestion(request: Request) -> Response:
    me = user(request)
    meeting_id = path_int(request)
    data = await form_data(request)
    return await _staff_action(
        request,
        meeting_id,
        lambda: service.add_suggestion(me, meeting_id, data),
        N_("意见建议已登记。"),
    )


async def staff_answer(request: Request) -> Response:
    me = user(request)
    meeting_id = path_int(request)
    suggestion_id = path_int(request, "sug")
    data = await form_data(request)
    return await _staff_action(
        request,
        meeting_id,
        lambda: service.answer_suggestion(
            me, suggestion_id, str(data.get("status", "")), str(data.get("answer", ""))
        ),
        N_("答复已公开，已邮件通知代表。"),
    )


async def staff_summary(request: Request) -> Response:
    me = user(request)
    meeting_id = path_int(request)
    data = await form_data(request)
    return await _staff_action(
        request,
        meeting_id,
        lambda: service.update_decision_summary(
            me, meeting_id, str(data.get("decision_summary", ""))
        ),
        N_("决定摘要已公开。"),
    )


async def staff_quotas(request: Request) -> Response:
    me = user(request)
    meeting_id = path_int(request)
    data = await form_data(request)

    async def action() -> None:
        try:
            raw = json.loads(str(data.get("quotas", "")) or "{}")
        except ValueError:
            raise DomainError("invalid_quotas", "配额格式无效。", 422, field="quotas") from None
        await service.update_quotas(me, meeting_id, raw)

    return await _staff_action(request, meeting_id, action, N_("配额已更新。"))


async def staff_overdue(request: Request) -> Response:
    me = user(request)
    items = await service.overdue_suggestions(me)
    return render(request, "meetings/staff_overdue.html", {"items": items, "labels": LABELS})


async def staff_pool(request: Request) -> Response:
    me = user(request)
    year = clock.today().year
    members = await service.pool_members(me, year)
    return render(request, "meetings/staff_pool.html", {"members": members, "year": year})


routes = [
    Route("/meetings", meetings_list, methods=["GET"]),
    Route("/meetings/mine", my_applications, methods=["GET"]),
    Route("/meetings/{id:int}", meeting_page, methods=["GET"]),
    Route("/meetings/{id:int}/commitment-status", commitment_status, methods=["GET"]),
    Route("/meetings/{id:int}/{kind:str}.json", record_download, methods=["GET"]),
    Route("/meetings/{id:int}/apply", apply_page, methods=["GET"]),
    Route("/meetings/{id:int}/apply", apply_submit, methods=["POST"]),
    Route("/meetings/{id:int}/suggestions", delegate_suggestion, methods=["POST"]),
    Route("/meetings/applications/{id:int}/withdraw", withdraw, methods=["POST"]),
    Route("/meetings/invitations/{token:str}", invitation_page, methods=["GET"]),
    Route("/meetings/invitations/{token:str}", invitation_answer, methods=["POST"]),
    Route("/staff/meetings", staff_list, methods=["GET"]),
    Route("/staff/meetings", staff_create, methods=["POST"]),
    Route("/staff/meetings/overdue", staff_overdue, methods=["GET"]),
    Route("/staff/meetings/pool", staff_pool, methods=["GET"]),
    Route("/staff/meetings/{id:int}", staff_meeting, methods=["GET"]),
    Route("/staff/meetings/{id:int}/applications/{app:int}/review", staff_review, methods=["POST"]),
    Route("/staff/meetings/{id:int}/commitment", staff_commitment, methods=["POST"]),
    Route("/staff/meetings/{id:int}/draw", staff_draw, methods=["POST"]),
    Route(
        "/staff/meetings/{id:int}/invitations/{inv:int}/checkin", staff_checkin, methods=["POST"]
    ),
    Route("/staff/meetings/{id:int}/suggestions", staff_suggestion, methods=["POST"]),
    Route("/staff/meetings/{id:int}/suggestions/{sug:int}/answer", staff_answer, methods=["POST"]),
    Route("/staff/meetings/{id:int}/summary", staff_summary, methods=["POST"]),
    Route("/staff/meetings/{id:int}/quotas", staff_quotas, methods=["POST"]),
]
