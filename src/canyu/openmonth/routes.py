"""HTML pages of the open month: catalogue, event page, my registrations, staff pages and the
phone-sized check-in page. Thin: parse the form, call one service function, render."""

from __future__ import annotations

import calendar
from datetime import date, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from canyu.core import clock, exports, nav, scheduler, templating, uploads
from canyu.core.errors import DomainError
from canyu.core.i18n import gettext
from canyu.core.permissions import authorize, require_resident
from canyu.core.templating import flash, render
from canyu.core.web import form_data, path_int, redirect, user
from canyu.openmonth import service
from canyu.openmonth.privacy import register_personal_data

nav.public_link("/events", "政府开放月", order=30)
nav.staff_link("/staff/events", "开放活动管理", {"organizer", "admin"}, order=30)

scheduler.register_job("openmonth.expire_offers", 30, service.expire_offers)
scheduler.register_job("openmonth.reminders", 300, service.send_reminders)
scheduler.register_job("openmonth.reconcile", 600, service.reconcile)
scheduler.register_job("openmonth.forget_id_numbers", 3600, service.forget_id_numbers)
register_personal_data()


async def _home_section() -> dict[str, Any]:
    events = await service.list_events(upcoming=True, limit=6)
    return {"om_events": events, "om_counts": await service.counts([e.id for e in events])}


nav.home_section("openmonth/_home.html", _home_section, order=30)

#: Uploaded event images live under ``CANYU_UPLOAD_DIR/openmonth/`` and are served from here.
IMAGE_FOLDER = "openmonth"
IMAGE_PREFIX = "/events/images/"


image_src = service.image_path


templating.env.filters["event_image"] = image_src
templating.env.filters["registration_id_number"] = service.masked_id_number


def _ctx(**extra: Any) -> dict[str, Any]:
    return {
        "modes": service.MODES,
        "mode_labels": service.MODE_LABELS,
        "themes": service.THEMES,
        "status_labels": service.STATUS_LABELS,
        **extra,
    }


# --- residents ----------------------------------------------------------------------------


def _month_param(value: str | None) -> str:
    if value and len(value) == 7 and value[4] == "-" and value.replace("-", "").isdigit():
        if 1 <= int(value[5:]) <= 12:
            return value
    return ""


async def catalogue(request: Request) -> Response:
    q = request.query_params
    filters = {
        "month": _month_param(q.get("month")),
        "day": q.get("day", "")[:10],
        "district": q.get("district", "")[:16],
        "theme": q.get("theme", "")[:16],
        "mode": q.get("mode", "") if q.get("mode") in service.MODES else "",
        "available": q.get("available") == "1",
    }
    view = "calendar" if q.get("view") == "calendar" else "list"
    events = await service.list_events(
        month=filters["month"] or None,
        day=filters["day"] or None,
        district=filters["district"] or None,
        theme=filters["theme"] or None,
        mode=filters["mode"] or None,
        available=filters["available"],
    )
    counts = await service.counts([e.id for e in events])
    # The list shows what is still ahead first; events that are over follow, latest first.
    now = clock.now()
    upcoming = [e for e in events if e.ends_at > now]
    past = [e for e in reversed(events) if e.ends_at <= now]
    weeks: list[list[Any]] = []
    month_label = ""
    by_day: dict[date, list[Any]] = {}
    if view == "calendar":
        # The month asked for, else the month of the next event, else of the latest one.
        shown = upcoming[0] if upcoming else (past[0] if past else None)
        month = filters["month"] or (
            clock.local(shown.starts_at).strftime("%Y-%m")
            if shown
            else clock.today().strftime("%Y-%m")
        )
        year, mon = int(month[:4]), int(month[5:])
        month_label = month
        for event in events:
            by_day.setdefault(clock.local(event.starts_at).date(), []).append(event)
        weeks = calendar.Calendar(firstweekday=0).monthdatescalendar(year, mon)
        weeks = [[d if d.month == mon else None for d in week] for week in weeks]
    return render(
        request,
        "openmonth/catalogue.html",
        _ctx(
            events=upcoming,
            past_events=past,
            now=now,
            counts=counts,
            filters=filters,
            view=view,
            weeks=weeks,
            by_day=by_day,
            month_label=month_label,
        ),
    )


async def _event_page(
    request: Request,
    event_id: int,
    *,
    error: DomainError | None = None,
    form: dict[str, Any] | None = None,
    status: int = 200,
) -> Response:
    me = user(request)
    event = await service.get_event(event_id, me)
    count = (await service.counts([event.id]))[event.id]
    registration = await service.registration_of(me, event.id)
    return render(
        request,
        "openmonth/event.html",
        _ctx(
            event=event,
            count=count,
            registration=registration,
            error=error,
            form=form or {},
            is_open=service.registration_open(event),
            places_left=service.places_left(event),
            show_stream=await service.may_see_stream(me, event),
            may_rate=await service.may_rate(me, event),
            my_rating=await service.my_rating(me, event.id),
            manage=service.can_manage(me, event),
            now=clock.now(),
            retention_days=request.app.state.settings.retention_days,
            id_number_days=service.ID_NUMBER_DAYS,
        ),
        status_code=status,
    )


async def event_page(request: Request) -> Response:
    return await _event_page(request, path_int(request))


async def register(request: Request) -> Response:
    event_id = path_int(request)
    me = user(request)
    if me is None:
        return redirect(request, f"/signin?next=/events/{event_id}")
    data = await form_data(request)
    try:
        registration = await service.register(
            me,
            event_id,
            data.get("companions") or 0,
            data.get("child_companions") or 0,
            data.get("guardian_consent") == "1",
            id_number=data.get("id_number"),
            id_number_consent=data.get("id_number_consent") == "1",
        )
    except DomainError as exc:
        if exc.status == 404:
            raise
        return await _event_page(request, event_id, error=exc, form=data, status=exc.status)
    if registration.status == "confirmed":
        flash(request, "报名成功！电子票已发送到您的邮箱。")
    else:
        flash(request, "名额已满，您已进入候补名单。", "warning")
    return redirect(request, f"/events/{event_id}")


async def my_events(request: Request) -> Response:
    me = require_resident(user(request))
    rows = await service.my_registrations(me)
    return render(request, "openmonth/my_events.html", _ctx(rows=rows, now=clock.now()))


async def cancel_mine(request: Request) -> Response:
    me = user(request)
    registration = await service.cancel_registration(me, path_int(request))
    flash(request, "报名已取消。")
    return redirect(request, f"/events/{registration.event.id}")


async def confirm_mine(request: Request) -> Response:
    me = user(request)
    registration = await service.confirm_offer(me, path_int(request))
    flash(request, "名额已确认！电子票已发送到您的邮箱。")
    return redirect(request, f"/events/{registration.event.id}")


async def ticket_png(request: Request) -> Response:
    registration = await service.get_own_registration(user(request), path_int(request))
    if registration.status != "confirmed" or not registration.ticket_code:
        raise DomainError("not_found", "找不到您要的内容。", 404)
    return Response(
        service.ticket_png(registration.ticket_code),
        media_type="image/png",
        headers={"Cache-Control": "private, no-store"},
    )


async def event_ics(request: Request) -> Response:
    event = await service.get_event(path_int(request), user(request))
    return Response(
        service.event_ics(event),
        media_type="text/calendar; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="event-{event.id}.ics"'},
    )


async def rate(request: Request) -> Response:
    event_id = path_int(request)
    data = await form_data(request)
    try:
        await service.rate_event(
            user(request), event_id, data.get("stars"), data.get("comment", "")
        )
    except DomainError as exc:
        if exc.status in (401, 403, 404):
            raise
        return await _event_page(request, event_id, error=exc, form=data, status=exc.status)
    flash(request, "感谢您的评价！")
    return redirect(request, f"/events/{event_id}")


# --- staff ----------------------------------------------------------------------------------


async def staff_events(request: Request) -> Response:
    me = authorize(user(request), service.STAFF_ROLES)
    events = await service.list_events(actor=me, staff_view=True)
    return render(
        request,
        "openmonth/staff_events.html",
        _ctx(events=events, counts=await service.counts([e.id for e in events]), me=me),
    )


def _local_input(value: Any, label: str, key: str) -> datetime | None:
    """A ``datetime-local`` field, read in the configured zone (Asia/Shanghai)."""
    text = str(value or "").strip()
    if not text:
        return None
    for fmt in ("%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S"):
        try:
            naive = datetime.strptime(text, fmt)
        except ValueError:
            continue
        return naive.replace(tzinfo=clock.zone())
    raise DomainError("invalid_event", "%(label)s不是有效的时间。", field=key, label=label)


_TIME_FIELDS = {
    "starts_at": "开始时间",
    "ends_at": "结束时间",
    "registration_opens_at": "报名开始时间",
    "registration_closes_at": "报名截止时间",
    "cancellation_closes_at": "取消截止时间",
}


def _event_data(form: dict[str, Any]) -> dict[str, Any]:
    data = {k: v for k, v in form.items() if isinstance(v, str)}
    for key, label in _TIME_FIELDS.items():
        data[key] = _local_input(form.get(key), label, key)
    data["id_check"] = form.get("id_check") == "1"
    data["published"] = form.get("published") == "1"
    return data


async def new_event_page(request: Request) -> Response:
    me = authorize(user(request), service.STAFF_ROLES)
    return render(request, "openmonth/event_form.html", _ctx(form={}, error=None, me=me))


async def _uploaded_image(form: dict[str, Any]) -> uploads.Image | None:
    """The image chosen in the form, checked by its content (nothing is stored yet)."""
    name, data = await uploads.read_upload(
        form.get("image"), uploads.IMAGE_MAX_BYTES, field="image"
    )
    if not name and not data:
        return None
    return uploads.check_image(data, field="image")


async def create_event(request: Request) -> Response:
    """The event form, with an optional image: stored only when the event is created."""
    me = authorize(user(request), service.STAFF_ROLES)
    settings = request.app.state.settings
    form = await form_data(request)
    stored = ""
    try:
        data = _event_data(form)
        data.pop("image_url", None)  # set from an upload only
        image = await _uploaded_image(form)
        if image is not None:
            stored = uploads.store(image.data, settings.upload_dir, IMAGE_FOLDER, image.ext)
            # An absolute link to this site: the event rules accept http(s) links for images.
            data["image_url"] = settings.base_url + IMAGE_PREFIX + stored
        event = await service.create_event(me, data)
    except BaseException as exc:
        if stored:
            uploads.discard(settings.upload_dir, IMAGE_FOLDER, stored)
        if not isinstance(exc, DomainError) or exc.status in (401, 403):
            raise
        form = {k: v for k, v in form.items() if isinstance(v, str)}
        return render(
            request,
            "openmonth/event_form.html",
            _ctx(form=form, error=exc, me=me),
            status_code=exc.status,
        )
    finally:
        await request.close()
    flash(request, "活动已创建。")
    return redirect(request, f"/staff/events/{event.id}")


async def event_image(request: Request) -> Response:
    name = str(request.path_params["name"])
    return uploads.serve_image(request.app.state.settings.upload_dir, IMAGE_FOLDER, name)


async def publish(request: Request) -> Response:
    me = user(request)
    form = await form_data(request)
    raw = form.get("event_id", [])
    ids = [int(v) for v in (raw if isinstance(raw, list) else [raw]) if str(v).isdigit()]
    changed = await service.publish_events(me, ids)
    flash(request, gettext("已发布 %(n)s 个活动。", n=changed))
    return redirect(request, "/staff/events")


async def _staff_page(
    request: Request,
    event_id: int,
    *,
    error: DomainError | None = None,
    form: dict[str, Any] | None = None,
    status: int = 200,
) -> Response:
    me = user(request)
    event, rows = await service.registrants(me, event_id)
    # The list can be narrowed to one status and to a name, phone, e-mail or ticket number (an
    # organizer with hundreds of registrations on a phone at the door).
    wanted = request.query_params.get("status", "")
    wanted = wanted if wanted in service.STATUS_LABELS else ""
    term = (request.query_params.get("q") or "").strip().lower()[:50]
    shown = [
        r for r in rows
        if (not wanted or r.status == wanted)
        and (not term or term in f"{r.name}\n{r.phone}\n{r.email}\n{r.ticket_code or ''}".lower())
    ]
    _, ratings = await service.ratings_of(me, event_id)
    average = round(sum(r.stars for r in ratings) / len(ratings), 2) if ratings else None
    return render(
        request,
        "openmonth/staff_event.html",
        _ctx(
            event=event,
            rows=shown,
            total=len(rows),
            list_filter={"status": wanted, "q": term},
            ratings=ratings,
            average=average,
            error=error,
            form=form or {},
            count=(await service.counts([event.id]))[event.id],
            started=clock.now() >= event.starts_at,
            retention_days=request.app.state.settings.retention_days,
            id_number_days=service.ID_NUMBER_DAYS,
        ),
        status_code=status,
    )


async def staff_event(request: Request) -> Response:
    return await _staff_page(request, path_int(request))


async def export(request: Request) -> Response:
    fmt = request.path_params["fmt"]
    event, rows = await service.export_rows(user(request), path_int(request))
    header = [gettext(h) for h in service.export_header(event)]
    return exports.download(fmt, f"event-{event.id}-registrants", header, rows)


async def phone_registration(request: Request) -> Response:
    event_id = path_int(request)
    form = await form_data(request)
    try:
        registration = await service.register_by_phone(
            user(request),
            event_id,
            name=str(form.get("name", "")),
            phone=str(form.get("phone", "")),
            email=str(form.get("email", "")),
            companions=form.get("companions") or 0,
            child_companions=form.get("child_companions") or 0,
            guardian_consent=form.get("guardian_consent") == "1",
            id_number=form.get("id_number"),
            id_number_consent=form.get("id_number_consent") == "1",
        )
    except DomainError as exc:
        if exc.status in (401, 403, 404):
            raise
        return await _staff_page(request, event_id, error=exc, form=form, status=exc.status)
    flash(
        request,
        gettext("已登记：%(status)s。", status=gettext(service.STATUS_LABELS[registration.status])),
    )
    return redirect(request, f"/staff/events/{event_id}")


async def no_shows(request: Request) -> Response:
    event_id = path_int(request)
    form = await form_data(request)
    raw = form.get("registration_id", [])
    ids = [int(v) for v in (raw if isinstance(raw, list) else [raw]) if str(v).isdigit()]
    try:
        changed = await service.mark_no_shows(user(request), event_id, ids)
    except DomainError as exc:
        if exc.status in (401, 403, 404):
            raise
        return await _staff_page(request, event_id, error=exc, status=exc.status)
    flash(request, gettext("已标记 %(n)s 人未到场。", n=changed))
    return redirect(request, f"/staff/events/{event_id}")


async def cancel_event(request: Request) -> Response:
    event_id = path_int(request)
    form = await form_data(request)
    try:
        n = await service.cancel_event(user(request), event_id, str(form.get("reason", "")))
    except DomainError as exc:
        if exc.status in (401, 403, 404):
            raise
        return await _staff_page(request, event_id, error=exc, form=form, status=exc.status)
    flash(request, gettext("活动已取消，已通知 %(n)s 位报名者。", n=n))
    return redirect(request, f"/staff/events/{event_id}")


# --- check-in -------------------------------------------------------------------------------


async def checkin_page(request: Request) -> Response:
    event = await service.staff_event(user(request), path_int(request))
    return render(
        request,
        "openmonth/checkin.html",
        _ctx(event=event, result=None, code="", stats=await service.checkin_stats(event)),
    )


def _scanned_at(value: Any) -> datetime | None:
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return moment if moment.tzinfo else None


async def checkin(request: Request) -> Response:
    """One scan (typed, from the camera, or replayed from the offline queue)."""
    me = user(request)
    event = await service.staff_event(me, path_int(request))
    form = await form_data(request)
    code = str(form.get("ticket_code", ""))[:40]
    wants_json = "application/json" in request.headers.get("accept", "")
    result: dict[str, Any]
    status = 200
    try:
        registration, fresh = await service.check_in(
            me,
            code,
            event_id=event.id,
            scanned_at=_scanned_at(form.get("scanned_at")) if form.get("scanned_at") else None,
        )
    except DomainError as exc:
        if exc.status in (401, 403):
            raise
        status = exc.status
        result = {
            "kind": "error",
            "status": "refused",
            "message": gettext(exc.message, **exc.params),
        }
    else:
        at = clock.local(registration.checked_in_at).strftime("%H:%M")
        if fresh:
            result = {
                "kind": "ok",
                "status": "checked_in",
                "message": gettext("签到成功（%(n)s 人）", n=registration.places),
                "at": at,
                "name": registration.name,
                "id_number": service.masked_id_number(registration),
            }
        else:
            status = 409
            result = {
                "kind": "warn",
                "status": "already_checked_in",
                "message": gettext("已于 %(at)s 签到。", at=at),
                "at": at,
                "name": registration.name,
                "id_number": service.masked_id_number(registration),
            }
    if wants_json:
        return JSONResponse(result, status_code=status)
    return render(
        request,
        "openmonth/checkin.html",
        _ctx(event=event, result=result, code="", stats=await service.checkin_stats(event)),
        status_code=status,
    )


routes = [
    Route("/events", catalogue, methods=["GET"]),
    Route("/events/{id:int}", event_page, methods=["GET"]),
    Route("/events/images/{name:str}", event_image, methods=["GET"]),
    Route("/events/{id:int}/register", register, methods=["POST"]),
    Route("/events/{id:int}/rating", rate, methods=["POST"]),
    Route("/events/{id:int}/calendar.ics", event_ics, methods=["GET"]),
    Route("/me/events", my_events, methods=["GET"]),
    Route("/me/registrations/{id:int}/cancel", cancel_mine, methods=["POST"]),
    Route("/me/registrations/{id:int}/confirm", confirm_mine, methods=["POST"]),
    Route("/me/registrations/{id:int}/ticket.png", ticket_png, methods=["GET"]),
    Route("/staff/events", staff_events, methods=["GET"]),
    Route("/staff/events/new", new_event_page, methods=["GET"]),
    Route("/staff/events/new", create_event, methods=["POST"]),
    Route("/staff/events/publish", publish, methods=["POST"]),
    Route("/staff/events/{id:int}", staff_event, methods=["GET"]),
    Route("/staff/events/{id:int}/registrants.{fmt:str}", export, methods=["GET"]),
    Route("/staff/events/{id:int}/phone", phone_registration, methods=["POST"]),
    Route("/staff/events/{id:int}/no-shows", no_shows, methods=["POST"]),
    Route("/staff/events/{id:int}/cancel", cancel_event, methods=["POST"]),
    Route("/staff/events/{id:int}/checkin", checkin_page, methods=["GET"]),
    Route("/staff/events/{id:int}/checkin", checkin, methods=["POST"]),
]
