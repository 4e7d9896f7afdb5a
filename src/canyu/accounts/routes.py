"""Sign-in pages for residents and staff, the profile page, staff administration."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from canyu.accounts import privacy, service
from canyu.audit import service as audit
from canyu.core import nav
from canyu.core.errors import DomainError
from canyu.core.permissions import ROLE_LABELS, ROLES, authorize, require_resident, require_staff
from canyu.core.ratelimit import client_ip
from canyu.core.templating import flash, render
from canyu.core.web import form_data, path_int, redirect, safe_next, user


async def signin_page(request: Request) -> Response:
    return render(
        request,
        "accounts/signin.html",
        {"next": safe_next(request.query_params.get("next")), "email": "", "error": None},
    )


async def signin_send(request: Request) -> Response:
    data = await form_data(request)
    email = str(data.get("email", ""))[:254]
    next_url = safe_next(data.get("next"))
    try:
        await service.request_code(email, client_ip(request))
    except DomainError as exc:
        return render(
            request,
            "accounts/signin.html",
            {"next": next_url, "email": email, "error": exc},
            status_code=exc.status,
        )
    return render(
        request, "accounts/signin_code.html", {"next": next_url, "email": email, "error": None}
    )


async def signin_verify(request: Request) -> Response:
    data = await form_data(request)
    email = str(data.get("email", ""))[:254]
    next_url = safe_next(data.get("next"))
    try:
        resident = await service.verify_code(email, str(data.get("code", "")), client_ip(request))
    except DomainError as exc:
        return render(
            request,
            "accounts/signin_code.html",
            {"next": next_url, "email": email, "error": exc},
            status_code=exc.status,
        )
    token = await service.issue_token(resident=resident, kind="session")
    request.session["token"] = token
    if not resident.name or not resident.district:
        return redirect(request, "/me?next=" + next_url if next_url != "/" else "/me")
    return redirect(request, next_url)


async def signout(request: Request) -> Response:
    current = user(request)
    if current and current.token_id:
        await service.revoke_token(current.token_id)
    request.session.pop("token", None)
    return redirect(request, "/")


async def profile_page(request: Request) -> Response:
    me = require_resident(user(request))
    resident = await service.get_resident(me.id)
    return render(
        request,
        "accounts/profile.html",
        {
            "resident": resident,
            "error": None,
            "next": safe_next(request.query_params.get("next"), ""),
        },
    )


async def profile_save(request: Request) -> Response:
    me = require_resident(user(request))
    data = await form_data(request)
    next_url = safe_next(data.get("next"), "")
    try:
        await service.update_profile(me.id, {k: data.get(k) for k in service.PROFILE_FIELDS})
    except DomainError as exc:
        resident = await service.get_resident(me.id)
        for key in service.PROFILE_FIELDS:
            if key in data:
                setattr(resident, key, data[key])
        return render(
            request,
            "accounts/profile.html",
            {"resident": resident, "error": exc, "next": next_url},
            status_code=exc.status,
        )
    flash(request, "资料已保存。")
    return redirect(request, next_url or "/me")


async def my_data(request: Request) -> Response:
    """All personal data as a JSON download."""
    import json

    me = require_resident(user(request))
    data = await privacy.export_resident(me.id)
    return Response(
        json.dumps(data, ensure_ascii=False, indent=2, default=str),
        media_type="application/json; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="canyu-my-data.json"'},
    )


async def delete_account_page(request: Request) -> Response:
    require_resident(user(request))
    return render(request, "accounts/delete.html", {"error": None})


async def delete_account(request: Request) -> Response:
    me = require_resident(user(request))
    data = await form_data(request)
    if data.get("confirm") != "1":
        error = DomainError("confirm_required", "请勾选确认后再注销账号。", field="confirm")
        return render(request, "accounts/delete.html", {"error": error}, status_code=422)
    await privacy.delete_resident(me, client_ip(request))
    request.session.pop("token", None)
    flash(request, "您的账号已注销，个人信息已删除。")
    return redirect(request, "/")


# --- staff -------------------------------------------------------------------------


async def staff_signin_page(request: Request) -> Response:
    return render(
        request,
        "accounts/staff_signin.html",
        {
            "error": None,
            "username": "",
            "next": safe_next(request.query_params.get("next"), "/staff"),
        },
    )


async def staff_signin(request: Request) -> Response:
    data = await form_data(request)
    username = str(data.get("username", ""))[:64]
    next_url = safe_next(data.get("next"), "/staff")
    try:
        staff = await service.authenticate_staff(
            username, str(data.get("password", "")), client_ip(request)
        )
    except DomainError as exc:
        return render(
            request,
            "accounts/staff_signin.html",
            {"error": exc, "username": username, "next": next_url},
            status_code=exc.status,
        )
    request.session["token"] = await service.issue_token(staff=staff, kind="session")
    return redirect(request, next_url)


async def staff_home(request: Request) -> Response:
    me = require_staff(user(request))
    links = [link for link in nav.STAFF if me.role in link.roles]
    waiting = {link.path: await link.waiting(me) for link in links if link.waiting is not None}
    return render(
        request,
        "accounts/staff_home.html",
        {"me": me, "role_labels": ROLE_LABELS, "links": links, "waiting": waiting},
    )


async def staff_admin(request: Request) -> Response:
    authorize(user(request), {"admin"})
    return render(
        request,
        "accounts/staff_admin.html",
        {
            "staff": await service.list_staff(),
            "units": await service.list_units(),
            "roles": ROLES,
            "role_labels": ROLE_LABELS,
            "error": None,
            "form": {},
        },
    )


async def staff_create(request: Request) -> Response:
    me = authorize(user(request), {"admin"})
    data = await form_data(request)
    try:
        await service.create_staff(
            str(data.get("username", "")),
            str(data.get("role", "")),
            str(data.get("password", "")),
            unit_name=str(data.get("unit", "")).strip() or None,
            display_name=str(data.get("display_name", "")).strip(),
            actor=me,
        )
    except DomainError as exc:
        return render(
            request,
            "accounts/staff_admin.html",
            {
                "staff": await service.list_staff(),
                "units": await service.list_units(),
                "roles": ROLES,
                "role_labels": ROLE_LABELS,
                "error": exc,
                "form": data,
            },
            status_code=exc.status,
        )
    flash(request, "账号已创建。")
    return redirect(request, "/admin/staff")


async def staff_update(request: Request) -> Response:
    me = authorize(user(request), {"admin"})
    staff_id = path_int(request)
    data = await form_data(request)
    active = data.get("active")
    await service.update_staff(
        staff_id,
        me,
        role=data.get("role") or None,
        unit_name=data.get("unit") if "unit" in data else None,
        active=None if active is None else active == "1",
        password=data.get("password") or None,
    )
    flash(request, "账号已更新。")
    return redirect(request, "/admin/staff")


async def audit_log(request: Request) -> Response:
    authorize(user(request), {"admin"})
    action = request.query_params.get("action") or None
    before = request.query_params.get("before")
    entries = await audit.entries(
        action=action, before_id=int(before) if before and before.isdigit() else None
    )
    return render(
        request,
        "audit/log.html",
        {"entries": entries, "action": action, "labels": audit.ACTION_LABELS},
    )


routes = [
    Route("/signin", signin_page, methods=["GET"]),
    Route("/signin", signin_send, methods=["POST"]),
    Route("/signin/verify", signin_verify, methods=["POST"]),
    Route("/signout", signout, methods=["POST"]),
    Route("/me", profile_page, methods=["GET"]),
    Route("/me", profile_save, methods=["POST"]),
    Route("/me/data", my_data, methods=["GET"]),
    Route("/me/delete", delete_account_page, methods=["GET"]),
    Route("/me/delete", delete_account, methods=["POST"]),
    Route("/staff/signin", staff_signin_page, methods=["GET"]),
    Route("/staff/signin", staff_signin, methods=["POST"]),
    Route("/staff", staff_home, methods=["GET"]),
    Route("/admin/staff", staff_admin, methods=["GET"]),
    Route("/admin/staff", staff_create, methods=["POST"]),
    Route("/admin/staff/{id:int}", staff_update, methods=["POST"]),
    Route("/admin/audit", audit_log, methods=["GET"]),
]
