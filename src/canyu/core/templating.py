"""Jinja2 with autoescape, gettext and the helpers every page uses."""

from __future__ import annotations

import hashlib
from datetime import date, datetime
from functools import cache
from typing import Any

import jinja2
from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import HTMLResponse

from canyu import PROJECT_ROOT
from canyu.core import clock, i18n, masking, nav
from canyu.core.districts import districts

TEMPLATE_DIR = PROJECT_ROOT / "templates"
STATIC_DIR = PROJECT_ROOT / "static"


@cache
def _static_hash(path: str) -> str:
    try:
        return hashlib.sha256((STATIC_DIR / path).read_bytes()).hexdigest()[:10]
    except OSError:
        return "0"


def static_url(path: str) -> str:
    """A cache-busting URL for a file under ``static/``."""
    return f"/static/{path}?v={_static_hash(path)}"


def format_datetime(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """Stored UTC, shown in Asia/Shanghai."""
    if value is None:
        return ""
    return clock.local(value).strftime(fmt)


def format_date(value: date | datetime | None) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = clock.local(value).date()
    return value.strftime("%Y-%m-%d")


def label(text: str) -> str:
    """A label followed by its colon as the language writes it: "会议时间：" (full width, no
    space) in Chinese, "Meeting time: " in English."""
    return text + ("：" if i18n.get_locale() == i18n.DEFAULT_LOCALE else ": ")


def is_htmx(request: Request) -> bool:
    return request.headers.get("HX-Request") == "true"


def _make_env() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATE_DIR)),
        # HTML is escaped; the text part of a mail (.txt) is plain text and must not be
        # (a title "A & B" would arrive as "A &amp; B").
        autoescape=jinja2.select_autoescape(
            enabled_extensions=("html", "htm", "xml", "svg"), default_for_string=True
        ),
        # Templates do not change while the app runs: no stat() of each file per render.
        auto_reload=False,
        extensions=["jinja2.ext.i18n"],
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.install_gettext_callables(i18n.gettext, i18n.ngettext, newstyle=True)
    env.globals.update(
        static_url=static_url,
        now=clock.now,
        districts=districts,
        locales=i18n.LOCALES,
        nav=nav,
    )
    env.filters.update(
        datetime=format_datetime,
        date=format_date,
        mask_name=masking.mask_name,
        mask_phone=masking.mask_phone,
        mask_email=masking.mask_email,
        mask_id=masking.mask_id_number,
        label=label,
    )
    return env


env = _make_env()


def render_string(name: str, context: dict[str, Any]) -> str:
    return env.get_template(name).render(**context)


def base_context(request: Request) -> dict[str, Any]:
    """What every template sees: the request, user, CSRF token, locale and preferences."""
    return {
        "request": request,
        "user": getattr(request.state, "user", None),
        "csrf_token": request.scope.get("csrf_token", ""),
        "locale": i18n.get_locale(),
        "html_lang": i18n.HTML_LANG[i18n.get_locale()],
        "large_text": request.cookies.get("canyu_large") == "1",
        "htmx": is_htmx(request),
    }


def render_fragment(request: Request, name: str, context: dict[str, Any] | None = None) -> Markup:
    """A template rendered on its own (a home-page block, a partial), as safe HTML."""
    return Markup(render_string(name, {**base_context(request), "flash": [], **(context or {})}))  # noqa: S704


def render(
    request: Request,
    name: str,
    context: dict[str, Any] | None = None,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> HTMLResponse:
    """Render a page (or an htmx partial) with the request's locale, user and CSRF token."""
    ctx: dict[str, Any] = {**base_context(request), "flash": _pop_flash(request)}
    if context:
        ctx.update(context)
    return HTMLResponse(render_string(name, ctx), status_code=status_code, headers=headers)


def flash(request: Request, message: str, kind: str = "success") -> None:
    """A message shown once on the next page (kept in the signed session)."""
    messages = list(request.session.get("_flash", []))
    messages.append({"message": message, "kind": kind})
    request.session["_flash"] = messages


def _pop_flash(request: Request) -> list[dict[str, str]]:
    if "session" not in request.scope:
        return []
    messages = request.session.get("_flash")
    if not messages:
        return []
    request.session["_flash"] = []
    return list(messages)
