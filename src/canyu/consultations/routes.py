"""HTML pages of comment periods, the FAQ, the message board and subscriptions (thin)."""

from __future__ import annotations

import functools
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from canyu.consultations import sensitive, service
from canyu.consultations.privacy import register_personal_data
from canyu.core import clock, exports, nav, uploads
from canyu.core.errors import DomainError
from canyu.core.i18n import gettext as _
from canyu.core.markdown import render_markdown
from canyu.core.permissions import authorize, require_resident
from canyu.core.scheduler import register_job
from canyu.core.templating import flash, render
from canyu.core.web import form_data, path_int, redirect, user

nav.public_link("/consultations", "征求意见", order=10)
nav.public_link("/board", "政策留言板", order=11)
nav.staff_link("/staff/consultations", "征求意见管理", {"organizer", "admin"}, order=10)
nav.staff_link(
    "/staff/moderation", "意见审核", {"moderator", "admin"}, order=11,
    waiting=service.waiting_for_moderation,
)
nav.staff_link(
    "/staff/board", "留言办理", {"organizer", "admin"}, order=12,
    waiting=service.waiting_questions,
)
nav.staff_link(
    "/staff/board/overdue", "超期留言", {"admin"}, order=13,
    waiting=functools.partial(service.waiting_questions, overdue_only=True),
)


async def _home_loader() -> dict[str, Any]:
    return {"open_consultations": await service.list_open()}


nav.home_section("consultations/_home.html", _home_loader, order=10)
register_job("consultations.announce_opened", 60, service.announce_opened_consultations)
register_job("consultations.daily_digest", 900, service.send_daily_digests)
register_personal_data()

_COMMON = {
    "kinds": service.KINDS,
    "audience_labels": service.AUDIENCES,
    "outcomes": service.OUTCOMES,
    "statuses": service.STATUSES,
    "phases": service.PHASES,
    "ratings": service.RATINGS,
    "markdown": render_markdown,
}


def _page(request: Request, name: str, ctx: dict[str, Any], status: int = 200) -> Response:
    return render(request, name, {**_COMMON, **ctx}, status_code=status)


def _upload_dir(request: Request) -> Any:
    return request.app.state.settings.upload_dir


# --- public pages ------------------------------------------------------------------------


async def consultation_list(request: Request) -> Response:
    q = request.query_params
    topic = q.get("topic") or None
    audience = q.get("audience") or None
    phase = q.get("phase") or None
    items = await service.list_public(topic=topic, audience=audience, phase=phase)
    return _page(
        request,
        "consultations/list.html",
        {
            "items": items,
            "phase_of": service.phase_of,
            "topics": await service.topics_in_use(),
            "topic": topic or "",
            "audience": audience or "",
            "phase": phase or "",
        },
    )


async def _detail_context(request: Request, consultation_id: int) -> dict[str, Any]:
    me = user(request)
    c = await service.get_consultation(consultation_id, me)
    sections = await service.sections_of(c.id)
    counts, by_section = await service.comment_overview(c.id) if c.published_at else ({}, {})
    comments = [cm for group in by_section.values() for cm in group]
    return {
        "c": c,
        "phase": service.phase_of(c),
        "sections": sections,
        "by_section": by_section,
        "counts": counts,
        "supported": await service.supported_ids(me, [cm.id for cm in comments]),
        "faq": await service.faq_of(c.id),
        "attachments": await service.attachments_of(c.id),
        "questions": await service.public_questions(c.id, limit=20),
        "may_manage": service._may_manage(me, c),
        "error": None,
        "form": {},
        "max_len": service.COMMENT_MAX,
    }


async def consultation_detail(request: Request) -> Response:
    return _page(
        request, "consultations/detail.html", await _detail_context(request, path_int(request))
    )


async def comment_list(request: Request) -> Response:
    cid = path_int(request)
    c = await service.get_consultation(cid, user(request))
    sections = await service.sections_of(c.id)
    try:
        section_id = int(request.query_params.get("section") or 0)
        page = int(request.query_params.get("page") or 1)
    except ValueError:
        section_id, page = 0, 1
    section = next((s for s in sections if s.id == section_id), None)
    items, total = await service.comment_page(c.id, section.id if section else None, page)
    pages = max(1, -(-total // service.COMMENTS_PER_PAGE))
    return _page(
        request,
        "consultations/comments.html",
        {
            "c": c,
            "section": section,
            "comments": items,
            "total": total,
            "page": max(1, page),
            "pages": pages,
            "supported": await service.supported_ids(user(request), [cm.id for cm in items]),
        },
    )


async def comment_post(request: Request) -> Response:
    cid = path_int(request)
    data = await form_data(request)
    try:
        await service.submit_comment(user(request), cid, data.get("body"), data.get("section_id"))
    except DomainError as exc:
        if exc.status in (401, 403, 404):
            raise
        ctx = await _detail_context(request, cid)
        ctx.update(error=exc, form=data)
        return _page(request, "consultations/detail.html", ctx, exc.status)
    flash(request, "意见已提交，审核通过后公开显示。")
    return redirect(request, "/me/consultations")


async def comment_support(request: Request) -> Response:
    comment_id = path_int(request)
    data = await form_data(request)
    try:
        await service.support_comment(user(request), comment_id)
        flash(request, "已赞同。")
    except DomainError as exc:
        if exc.status != 409:
            raise
        flash(request, exc.message, "warning")
    back = str(data.get("next", "/consultations"))
    return redirect(request, back if back.startswith("/consultations/") else "/consultations")


async def report_page(request: Request) -> Response:
    c = await service.get_consultation(path_int(request))
    report = await service.report_of(c.id)
    return _page(request, "consultations/report.html", {"c": c, "report": report})


async def attachment_download(request: Request) -> Response:
    a, path = await service.attachment_file(user(request), path_int(request), _upload_dir(request))
    return uploads.file_response(
        path,
        a.content_type,
        filename=a.filename,
        disposition="attachment",
        cache_control="private, no-store",
    )


async def my_page(request: Request) -> Response:
    me = require_resident(user(request))
    return _page(
        request,
        "consultations/mine.html",
        {
            "comments": await service.my_comments(me),
            "questions": await service.my_questions(me),
        },
    )


# --- message board -----------------------------------------------------------------------


async def board(request: Request) -> Response:
    me = user(request)
    return _page(
        request,
        "consultations/board.html",
        {
            "questions": await service.public_questions(),
            "policies": await service.list_public() if me and me.is_resident else [],
            "error": None,
            "form": {},
            "max_len": service.QUESTION_MAX,
        },
    )


async def board_ask(request: Request) -> Response:
    data = await form_data(request)
    try:
        cid = int(str(data.get("consultation_id", "")))
    except ValueError:
        cid = 0
    try:
        if not cid:
            raise DomainError(
                "invalid_policy", "请选择要咨询的政策。", 422, field="consultation_id"
            )
        q = await service.ask_question(user(request), cid, data.get("body"))
    except DomainError as exc:
        if exc.status in (401, 403):
            raise
        return _page(
            request,
            "consultations/board.html",
            {
                "questions": await service.public_questions(),
                "policies": await service.list_public(),
                "error": exc,
                "form": data,
                "max_len": service.QUESTION_MAX,
            },
            exc.status,
        )
    flash(request, "留言已提交，承办单位将在办理时限内答复。")
    return redirect(request, f"/board/{q.id}")


async def question_page(request: Request, error: Any = None, status: int = 200) -> Response:
    me = user(request)
    q = await service.get_question(me, path_int(request))
    return _page(
        request,
        "consultations/question.html",
        {
            "q": q,
            "mine": bool(me and me.is_resident and me.id == q.resident_id),
            "error": error,
            "waiting": service.question_waiting(q),
            "max_len": service.QUESTION_MAX,
        },
        status,
    )


async def question_rate(request: Request) -> Response:
    data = await form_data(request)
    try:
        await service.rate_answer(user(request), path_int(request), data.get("rating"))
    except DomainError as exc:
        if exc.status in (401, 403, 404):
            raise
        return await question_page(request, exc, exc.status)
    flash(request, "感谢您的评价。")
    return redirect(request, f"/board/{path_int(request)}")


async def question_follow_up(request: Request) -> Response:
    data = await form_data(request)
    try:
        await service.follow_up_question(user(request), path_int(request), data.get("follow_up"))
    except DomainError as exc:
        if exc.status in (401, 403, 404):
            raise
        return await question_page(request, exc, exc.status)
    flash(request, "追问已提交。")
    return redirect(request, f"/board/{path_int(request)}")


# --- subscriptions -----------------------------------------------------------------------


async def subscriptions_page(request: Request, error: Any = None, status: int = 200) -> Response:
    me = require_resident(user(request))
    sub = await service.subscription_of(me)
    return _page(
        request,
        "consultations/subscriptions.html",
        {
            "sub": sub,
            "topics": await service.topics_in_use(),
            "error": error,
        },
        status,
    )


async def subscriptions_save(request: Request) -> Response:
    me = require_resident(user(request))
    form = await request.form()
    topics = [str(t) for t in form.getlist("topics")] + [
        t for t in str(form.get("extra_topics", "")).replace("，", ",").split(",") if t.strip()
    ]
    try:
        await service.save_subscription(
            me, topics, [str(a) for a in form.getlist("audiences")], form.get("mode")
        )
    except DomainError as exc:
        return await subscriptions_page(request, exc, exc.status)
    flash(request, "订阅已保存。")
    return redirect(request, "/subscriptions")


async def unsubscribe(request: Request) -> Response:
    """The signed link opens a page with one button; only the button (a POST) unsubscribes,
    so a mail scanner that follows links changes nothing. The signed URL is its own
    authority: the POST needs no session (and no CSRF token)."""
    subscription_id, token = path_int(request), str(request.path_params["token"])
    if request.method == "GET":
        service.check_unsubscribe_token(subscription_id, token)
        return _page(
            request, "consultations/unsubscribe_confirm.html", {"action": request.url.path}
        )
    await service.unsubscribe(subscription_id, token)
    return _page(request, "consultations/unsubscribed.html", {})


# --- staff: consultations ------------------------------------------------------------------


async def staff_list(request: Request) -> Response:
    items = await service.list_managed(user(request))
    return _page(
        request,
        "consultations/staff_list.html",
        {
            "items": [await service.overview(c) for c in items],
        },
    )


def _form_values(data: dict[str, Any]) -> dict[str, Any]:
    preamble, sections = service.split_draft(str(data.get("draft", "")))
    audiences = data.get("audiences") or []
    return {
        "title": data.get("title", ""),
        "kind": data.get("kind", ""),
        "drafting_unit": data.get("drafting_unit", ""),
        "basis": data.get("basis", ""),
        "contact": data.get("contact", ""),
        "interpretation": data.get("interpretation", ""),
        "opens_at": data.get("opens_at", ""),
        "closes_at": data.get("closes_at", ""),
        "period_reason": data.get("period_reason", ""),
        "topics": data.get("topics", ""),
        "audiences": audiences if isinstance(audiences, list) else [audiences],
        "body": preamble,
        "sections": sections,
    }


def _form_of(c: Any, sections: list[Any]) -> dict[str, Any]:
    fmt = "%Y-%m-%dT%H:%M"
    return {
        "title": c.title,
        "kind": c.kind,
        "drafting_unit": c.drafting_unit,
        "basis": c.basis,
        "contact": c.contact,
        "interpretation": c.interpretation,
        "opens_at": clock.local(c.opens_at).strftime(fmt),
        "closes_at": clock.local(c.closes_at).strftime(fmt),
        "period_reason": c.period_reason,
        "topics": "，".join(c.topics or []),
        "audiences": c.audiences or [],
        "draft": service.join_draft(c.body, sections),
    }


async def staff_new(request: Request) -> Response:
    authorize(user(request), service.ORGANIZERS)
    now = clock.local()
    form = {"opens_at": now.strftime("%Y-%m-%dT%H:%M"), "audiences": [], "kind": "normative"}
    return _page(request, "consultations/staff_form.html", {"c": None, "form": form, "error": None})


async def staff_create(request: Request) -> Response:
    data = await form_data(request)
    try:
        c = await service.create_consultation(user(request), _form_values(data))
    except DomainError as exc:
        if exc.status in (401, 403):
            raise
        data["audiences"] = _form_values(data)["audiences"]
        return _page(
            request,
            "consultations/staff_form.html",
            {"c": None, "form": data, "error": exc},
            exc.status,
        )
    flash(request, "草稿已保存。")
    return redirect(request, f"/staff/consultations/{c.id}")


async def staff_edit(request: Request) -> Response:
    c = await service._managed(user(request), path_int(request))
    form = _form_of(c, await service.sections_of(c.id))
    return _page(request, "consultations/staff_form.html", {"c": c, "form": form, "error": None})


async def staff_update(request: Request) -> Response:
    cid = path_int(request)
    data = await form_data(request)
    try:
        await service.update_consultation(user(request), cid, _form_values(data))
    except DomainError as exc:
        if exc.status in (401, 403, 404):
            raise
        c = await service._managed(user(request), cid)
        data["audiences"] = _form_values(data)["audiences"]
        return _page(
            request,
            "consultations/staff_form.html",
            {"c": c, "form": data, "error": exc},
            exc.status,
        )
    flash(request, "已保存。")
    return redirect(request, f"/staff/consultations/{cid}")


async def _staff_detail_ctx(request: Request, cid: int) -> dict[str, Any]:
    me = user(request)
    c = await service._managed(me, cid)
    return {
        "c": c,
        "ov": await service.overview(c),
        "comments": await service.staff_comments(me, cid),
        "faq": await service.faq_of(cid),
        "attachments": await service.attachments_of(cid),
        "suggestions": await service.faq_suggestions(me, cid),
        "error": None,
        "form": {},
    }


async def staff_detail(
    request: Request, error: Any = None, form: Any = None, status: int = 200
) -> Response:
    ctx = await _staff_detail_ctx(request, path_int(request))
    ctx.update(error=error, form=form or {})
    return _page(request, "consultations/staff_detail.html", ctx, status)


async def _staff_action(request: Request, action: Any, done: str) -> Response:
    cid = path_int(request)
    data = await form_data(request)
    try:
        await action(data)
    except DomainError as exc:
        if exc.status in (401, 403, 404):
            raise
        return await staff_detail(request, exc, data, exc.status)
    flash(request, done)
    return redirect(request, f"/staff/consultations/{cid}")


async def staff_publish(request: Request) -> Response:
    return await _staff_action(
        request,
        lambda d: service.publish_consultation(user(request), path_int(request)),
        "已发布。",
    )


async def staff_dispose(request: Request) -> Response:
    def ids(d: dict[str, Any]) -> list[int]:
        raw = d.get("comment_ids") or []
        raw = raw if isinstance(raw, list) else [raw]
        try:
            return [int(x) for x in raw]
        except ValueError:
            raise DomainError("nothing_selected", "请至少选择一条意见。", 422) from None

    return await _staff_action(
        request,
        lambda d: service.dispose_comments(
            user(request), ids(d), d.get("outcome"), d.get("reason", "")
        ),
        "采纳情况已保存。",
    )


async def staff_report(request: Request) -> Response:
    return await _staff_action(
        request,
        lambda d: service.publish_report(user(request), path_int(request), d.get("summary", "")),
        "采纳情况已公布，已通知每位提出意见的人。",
    )


async def staff_faq_add(request: Request) -> Response:
    return await _staff_action(
        request,
        lambda d: service.add_faq(
            user(request), path_int(request), d.get("question"), d.get("answer")
        ),
        "问答已发布。",
    )


async def staff_faq_delete(request: Request) -> Response:
    cid = path_int(request)
    await service.delete_faq(user(request), path_int(request, "entry"))
    flash(request, "问答已删除。")
    return redirect(request, f"/staff/consultations/{cid}")


async def staff_attachment_add(request: Request) -> Response:
    cid = path_int(request)
    form = await request.form()
    upload = form.get("attachment")

    async def action(_: Any) -> None:
        if upload is None or isinstance(upload, str):
            raise DomainError("empty_file", "请选择要上传的文件。", 422, field="attachment")
        data = await upload.read(service.ATTACHMENT_MAX_BYTES + 1)
        await service.add_attachment(
            user(request), cid, upload.filename or "", data, _upload_dir(request)
        )

    try:
        return await _staff_action(request, action, "附件已上传。")
    finally:
        await form.close()


async def staff_attachment_delete(request: Request) -> Response:
    cid = path_int(request)
    await service.delete_attachment(user(request), path_int(request, "att"), _upload_dir(request))
    flash(request, "附件已删除。")
    return redirect(request, f"/staff/consultations/{cid}")


async def staff_export(request: Request) -> Response:
    cid = path_int(request)
    rows = await service.export_rows(user(request), cid)
    fmt = request.path_params["fmt"]
    return exports.download(
        fmt, f"consultation-{cid}-comments", [_(h) for h in service.EXPORT_HEADER], rows
    )


# --- staff: moderation and board ----------------------------------------------------------------


async def moderation_page(request: Request, error: Any = None, status: int = 200) -> Response:
    queue = await service.moderation_queue(user(request))
    return _page(
        request,
        "consultations/moderation.html",
        {
            "queue": [(cm, sensitive.highlight(cm.body)) for cm in queue],
            "error": error,
        },
        status,
    )


async def moderation_decide(request: Request) -> Response:
    data = await form_data(request)
    try:
        await service.moderate_comment(
            user(request), path_int(request), data.get("decision"), data.get("reason", "")
        )
    except DomainError as exc:
        if exc.status in (401, 403, 404):
            raise
        return await moderation_page(request, exc, exc.status)
    if data.get("decision") == "publish":
        flash(request, "已发布。")
    else:
        flash(request, "已退回。")
    return redirect(request, "/staff/moderation")


async def staff_board(request: Request, error: Any = None, status: int = 200) -> Response:
    overdue = request.url.path.endswith("/overdue")
    me = user(request)
    questions = await service.staff_questions(me, overdue_only=overdue)
    return _page(
        request,
        "consultations/staff_board.html",
        {
            "questions": questions,
            "overdue": overdue,
            "today": clock.today(),
            "error": error,
            "units": await service.unit_names(),
            "is_overdue": service.question_overdue,
            "waiting": service.question_waiting,
        },
        status,
    )


async def staff_board_answer(request: Request) -> Response:
    data = await form_data(request)
    try:
        await service.answer_question(user(request), path_int(request), data.get("answer"))
    except DomainError as exc:
        if exc.status in (401, 403, 404):
            raise
        return await staff_board(request, exc, exc.status)
    flash(request, "答复已发送给留言人。")
    return redirect(request, "/staff/board")


async def staff_board_assign(request: Request) -> Response:
    data = await form_data(request)
    await service.assign_question(user(request), path_int(request), data.get("unit"))
    flash(request, "承办单位已调整。")
    return redirect(request, "/staff/board")


routes = [
    Route("/consultations", consultation_list, name="consultations:list"),
    Route("/consultations/{id:int}", consultation_detail, name="consultations:detail"),
    Route("/consultations/{id:int}/comments", comment_list),
    Route("/consultations/{id:int}/comments", comment_post, methods=["POST"]),
    Route("/consultations/{id:int}/report", report_page),
    Route("/consultations/attachments/{id:int}", attachment_download),
    Route("/comments/{id:int}/support", comment_support, methods=["POST"]),
    Route("/me/consultations", my_page),
    Route("/board", board),
    Route("/board", board_ask, methods=["POST"]),
    Route("/board/{id:int}", question_page),
    Route("/board/{id:int}/rating", question_rate, methods=["POST"]),
    Route("/board/{id:int}/follow-up", question_follow_up, methods=["POST"]),
    Route("/subscriptions", subscriptions_page),
    Route("/subscriptions", subscriptions_save, methods=["POST"]),
    Route("/subscriptions/unsubscribe/{id:int}/{token:str}", unsubscribe, methods=["GET", "POST"]),
    Route("/staff/consultations", staff_list),
    Route("/staff/consultations/new", staff_new),
    Route("/staff/consultations/new", staff_create, methods=["POST"]),
    Route("/staff/consultations/{id:int}", staff_detail),
    Route("/staff/consultations/{id:int}/edit", staff_edit),
    Route("/staff/consultations/{id:int}/edit", staff_update, methods=["POST"]),
    Route("/staff/consultations/{id:int}/publish", staff_publish, methods=["POST"]),
    Route("/staff/consultations/{id:int}/dispositions", staff_dispose, methods=["POST"]),
    Route("/staff/consultations/{id:int}/report", staff_report, methods=["POST"]),
    Route("/staff/consultations/{id:int}/faq", staff_faq_add, methods=["POST"]),
    Route(
        "/staff/consultations/{id:int}/faq/{entry:int}/delete", staff_faq_delete, methods=["POST"]
    ),
    Route("/staff/consultations/{id:int}/attachments", staff_attachment_add, methods=["POST"]),
    Route(
        "/staff/consultations/{id:int}/attachments/{att:int}/delete",
        staff_attachment_delete,
        methods=["POST"],
    ),
    Route("/staff/consultations/{id:int}/export.{fmt:str}", staff_export),
    Route("/staff/moderation", moderation_page),
    Route("/staff/moderation/{id:int}", moderation_decide, methods=["POST"]),
    Route("/staff/board", staff_board),
    Route("/staff/board/overdue", staff_board),
    Route("/staff/board/{id:int}/answer", staff_board_answer, methods=["POST"]),
    Route("/staff/board/{id:int}/assign", staff_board_assign, methods=["POST"]),
]
