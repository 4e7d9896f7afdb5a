"""Small helpers for HTML routes: forms, redirects after writes, the current user."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from canyu.core.errors import DomainError
from canyu.core.permissions import Principal


async def form_data(request: Request) -> dict[str, Any]:
    """The submitted form as a dict (repeated fields become lists); uploads are kept as files."""
    form = await request.form()
    data: dict[str, Any] = {}
    for key in form:
        if key == "csrf_token":
            continue
        values = form.getlist(key)
        data[key] = values if len(values) > 1 else values[0]
    return data


def redirect(request: Request, url: str) -> Response:
    """303 after a write; htmx gets ``HX-Redirect`` instead."""
    if request.headers.get("HX-Request") == "true":
        return Response(status_code=200, headers={"HX-Redirect": url})
    return RedirectResponse(url, status_code=303)


def user(request: Request) -> Principal | None:
    return getattr(request.state, "user", None)


def path_int(request: Request, name: str = "id") -> int:
    value = request.path_params.get(name)
    if not isinstance(value, int) or not 1 <= value <= 2**31 - 1:
        raise DomainError("not_found", "找不到您要的内容。", 404)
    return value


def safe_next(url: str | None, default: str = "/") -> str:
    """Only same-site paths may follow a sign-in."""
    if url and url.startswith("/") and not url.startswith("//") and "\\" not in url:
        return url
    return default
