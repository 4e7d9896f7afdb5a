"""Mail goes to the outbox inside the caller's transaction; the worker sends it later."""

from __future__ import annotations

import base64
import importlib
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from canyu.core import clock, i18n, sql
from canyu.core.templating import TEMPLATE_DIR, render_string
from canyu.notify.models import OutboxMail

_base_url = "http://127.0.0.1:8000"
_mail_domain = "canyu.local"


def configure(base_url: str, mail_from: str) -> None:
    global _base_url, _mail_domain
    _base_url = base_url.rstrip("/")
    _mail_domain = mail_from.rpartition("@")[2] or urlsplit(base_url).hostname or "canyu.local"


def absolute_url(path: str) -> str:
    return _base_url + path


@dataclass(frozen=True)
class Attachment:
    filename: str
    content_type: str
    data: bytes


@dataclass(frozen=True)
class BuiltAttachment:
    """An attachment the mail worker builds when it sends the mail, from a registered builder
    and JSON arguments: costly files (a QR code) stay out of the request that queued the mail."""

    filename: str
    content_type: str
    builder: str
    args: dict[str, Any]


#: name -> function(**args) -> bytes. A builder is named "<feature>.<what>" and registered when
#: ``canyu.<feature>.service`` is imported.
BUILDERS: dict[str, Callable[..., bytes]] = {}


def register_builder(name: str, build: Callable[..., bytes]) -> None:
    BUILDERS[name] = build


def _builder(name: str) -> Callable[..., bytes]:
    """The registered builder; a process that never imported the feature (``canyu outbox run``
    imports the models alone) imports its service module first."""
    if name not in BUILDERS:
        feature = name.partition(".")[0]
        if feature.isidentifier():
            importlib.import_module(f"canyu.{feature}.service")
    return BUILDERS[name]


def build_attachment(item: dict[str, Any]) -> str:
    """The base64 data of a stored attachment, built now when it was queued as a builder."""
    if "data" in item:
        return item["data"]
    return base64.b64encode(_builder(item["builder"])(**item["args"])).decode()


def _stored(a: Attachment | BuiltAttachment) -> dict[str, Any]:
    if isinstance(a, BuiltAttachment):
        return {
            "filename": a.filename,
            "content_type": a.content_type,
            "builder": a.builder,
            "args": a.args,
        }
    return {
        "filename": a.filename,
        "content_type": a.content_type,
        "data": base64.b64encode(a.data).decode(),
    }


#: template name -> whether it has an HTML part (templates do not change while running)
_HAS_HTML: dict[str, bool] = {}


def _has_html(template: str) -> bool:
    known = _HAS_HTML.get(template)
    if known is None:
        known = _HAS_HTML[template] = (TEMPLATE_DIR / "mail" / f"{template}.html").exists()
    return known


async def queue_mail(
    to: str,
    template: str,
    subject: str,
    context: dict | None = None,
    attachments: list[Attachment | BuiltAttachment] | None = None,
    kind: str = "",
) -> None:
    """Write one mail to the outbox. Call it inside the transaction of the change it reports.

    ``template`` names ``templates/mail/<template>.txt`` (and optionally ``.html``);
    ``subject`` is a Chinese msgid, translated in the current locale."""
    statement = mail_statement(to, template, subject, context, attachments, kind)
    await sql.execute(statement.sql, *statement.params)


def mail_statement(
    to: str,
    template: str,
    subject: str,
    context: dict | None = None,
    attachments: list[Attachment | BuiltAttachment] | None = None,
    kind: str = "",
) -> sql.Statement:
    """The outbox INSERT of one mail (rendered now), for a transaction program
    (``core.sql.run``); ``queue_mail`` runs it directly. Every registration, code request and
    ballot receipt passes here, hence one hand-written INSERT and no ORM query building."""
    ctx = {"base_url": _base_url, "absolute_url": absolute_url, **(context or {})}
    body_text = render_string(f"mail/{template}.txt", ctx)
    body_html = render_string(f"mail/{template}.html", ctx) if _has_html(template) else ""
    now = clock.now()
    files = [_stored(a) for a in attachments or []]
    return sql.insert_statement(
        OutboxMail,
        {
            "to_addr": to,
            "subject": i18n.gettext(subject, **ctx.get("subject_params", {}))[:200],
            "body_text": body_text,
            "body_html": body_html,
            "attachments": files,
            "message_id": f"<{secrets.token_hex(16)}@{_mail_domain}>",
            "next_attempt_at": now,
            "created_at": now,
            "kind": kind[:32],
        },
    )


async def backlog() -> int:
    """Mails waiting to be sent."""
    return await OutboxMail.filter(status="pending").count()


async def oldest_pending_age() -> float:
    oldest = await OutboxMail.filter(status="pending").order_by("created_at").first()
    if oldest is None:
        return 0.0
    return (clock.now() - oldest.created_at).total_seconds()


def backoff(attempts: int) -> timedelta:
    """5 s, 10 s, 20 s … capped at 30 minutes."""
    return timedelta(seconds=min(5 * 2 ** max(0, attempts - 1), 1800))
