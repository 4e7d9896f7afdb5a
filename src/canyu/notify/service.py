"""Mail goes to the outbox inside the caller's transaction; the worker sends it later."""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit

from canyu.core import clock, i18n
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


async def queue_mail(
    to: str,
    template: str,
    subject: str,
    context: dict | None = None,
    attachments: list[Attachment] | None = None,
    kind: str = "",
) -> OutboxMail:
    """Write one mail to the outbox. Call it inside the transaction of the change it reports.

    ``template`` names ``templates/mail/<template>.txt`` (and optionally ``.html``);
    ``subject`` is a Chinese msgid, translated in the current locale.
    """
    ctx = {"base_url": _base_url, "absolute_url": absolute_url, **(context or {})}
    body_text = render_string(f"mail/{template}.txt", ctx)
    html_path = TEMPLATE_DIR / "mail" / f"{template}.html"
    body_html = render_string(f"mail/{template}.html", ctx) if html_path.exists() else ""
    now = clock.now()
    return await OutboxMail.create(
        to_addr=to,
        subject=i18n.gettext(subject, **ctx.get("subject_params", {}))[:200],
        body_text=body_text,
        body_html=body_html,
        attachments=[
            {
                "filename": a.filename,
                "content_type": a.content_type,
                "data": base64.b64encode(a.data).decode(),
            }
            for a in attachments or []
        ],
        message_id=f"<{secrets.token_hex(16)}@{_mail_domain}>",
        next_attempt_at=now,
        created_at=now,
        kind=kind,
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
