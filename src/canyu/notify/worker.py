"""The outbox worker: claims due mails, sends them with aiosmtplib, retries with backoff.

Safe to run in every worker process: a mail is claimed by a conditional UPDATE (a lease),
so two workers never send the same mail at once; an SMTP outage only delays mail."""

from __future__ import annotations

import asyncio
import base64
import logging
import os
from datetime import timedelta
from email.message import EmailMessage
from email.utils import formatdate

import aiosmtplib
from tortoise.expressions import Q

from canyu.core import clock
from canyu.notify.models import OutboxMail
from canyu.notify.service import backoff
from canyu.settings import Settings

log = logging.getLogger("canyu.outbox")

LEASE = timedelta(seconds=120)
BATCH = 50

_wakeup: asyncio.Event | None = None


def wake() -> None:
    """Ask the worker (in this process) to look at the outbox now."""
    if _wakeup is not None:
        _wakeup.set()


def build_message(mail: OutboxMail, sender: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = mail.to_addr
    msg["Subject"] = mail.subject
    msg["Message-ID"] = mail.message_id
    msg["Date"] = formatdate(mail.created_at.timestamp(), localtime=False)
    msg.set_content(mail.body_text)
    if mail.body_html:
        msg.add_alternative(mail.body_html, subtype="html")
    for item in mail.attachments or []:
        maintype, _, subtype = item["content_type"].partition("/")
        msg.add_attachment(
            base64.b64decode(item["data"]),
            maintype=maintype,
            subtype=subtype,
            filename=item["filename"],
        )
    return msg


async def _claim(worker_id: str) -> list[OutboxMail]:
    now = clock.now()
    due = (
        await OutboxMail.filter(status="pending", next_attempt_at__lte=now)
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
        .order_by("id")
        .limit(BATCH)
        .values_list("id", flat=True)
    )
    claimed = []
    for mail_id in due:
        # The lease: only one worker's UPDATE matches.
        changed = (
            await OutboxMail.filter(id=mail_id, status="pending")
            .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
            .update(claimed_until=now + LEASE)
        )
        if changed:
            claimed.append(await OutboxMail.get(id=mail_id))
    return claimed


async def _send(settings: Settings, message: EmailMessage) -> None:
    await aiosmtplib.send(
        message,
        hostname=settings.smtp_host,
        port=settings.smtp_port,
        username=settings.smtp_username or None,
        password=settings.smtp_password or None,
        start_tls=settings.smtp_tls == "starttls",
        use_tls=settings.smtp_tls == "tls",
        timeout=20,
    )


async def run_once(settings: Settings, worker_id: str | None = None) -> int:
    """Send every due mail once; returns how many were sent."""
    worker_id = worker_id or f"{os.getpid()}"
    sent = 0
    for mail in await _claim(worker_id):
        try:
            await _send(settings, build_message(mail, settings.mail_from))
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            attempts = mail.attempts + 1
            failed = attempts >= settings.outbox_max_attempts
            await OutboxMail.filter(id=mail.id).update(
                attempts=attempts,
                status="failed" if failed else "pending",
                next_attempt_at=clock.now() + backoff(attempts),
                claimed_until=None,
                last_error=repr(exc)[:500],
            )
            log.warning("mail %s not sent (attempt %s): %r", mail.id, attempts, exc)
            # The server is down: stop this round, the rest would fail the same way.
            break
        else:
            await OutboxMail.filter(id=mail.id).update(
                status="sent", sent_at=clock.now(), attempts=mail.attempts + 1, claimed_until=None
            )
            sent += 1
    return sent


async def run_forever(settings: Settings, stop: asyncio.Event | None = None) -> None:
    global _wakeup
    _wakeup = asyncio.Event()
    stop = stop or asyncio.Event()
    while not stop.is_set():
        try:
            await run_once(settings)
        except Exception:
            log.exception("outbox round failed")
        _wakeup.clear()
        waiter = asyncio.ensure_future(_wakeup.wait())
        stopper = asyncio.ensure_future(stop.wait())
        await asyncio.wait(
            {waiter, stopper}, timeout=settings.outbox_interval, return_when=asyncio.FIRST_COMPLETED
        )
        for task in (waiter, stopper):
            task.cancel()
