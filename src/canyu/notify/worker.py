"""The outbox worker: claims due mails, sends them with aiosmtplib, retries with backoff.

Safe to run in every worker process: a mail is claimed by a conditional UPDATE (a lease),
so two workers never send the same mail at once; an SMTP outage only delays mail."""

from __future__ import annotations

import asyncio
import email.policy
import logging
import secrets
from datetime import timedelta
from email.header import Header
from email.message import Message
from email.mime.base import MIMEBase
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import formatdate

import aiosmtplib
from tortoise.expressions import Q

from canyu.core import clock, sql
from canyu.notify.models import OutboxMail
from canyu.notify.service import backoff, build_attachment
from canyu.settings import Settings

log = logging.getLogger("canyu.outbox")

LEASE = timedelta(seconds=120)
BATCH = 100
#: SMTP connections used at once by one worker round.
CONNECTIONS = 4

#: Mail someone is waiting for right now (the sign-in code) goes out at once, whatever the load.
URGENT_KINDS = ("sign_in_code",)
#: While this process is serving requests, other mail waits for a pause, at most this long:
#: in a rush the places go first and their confirmations follow within seconds.
YIELD_SECONDS = 15.0
#: How often a yielding worker looks again (it then ignores the wake-ups of each request).
YIELD_POLL = 0.2

_wakeup: asyncio.Event | None = None
_in_flight = 0


def wake() -> None:
    """Ask the worker (in this process) to look at the outbox now."""
    if _wakeup is not None:
        _wakeup.set()


def request_started() -> None:
    global _in_flight
    _in_flight += 1


def request_finished() -> None:
    global _in_flight
    _in_flight = max(0, _in_flight - 1)


def busy() -> bool:
    """Whether this process is serving a request at this moment."""
    return _in_flight > 0


_SMTP_POLICY = email.policy.compat32.clone(linesep="\r\n")


def _wrapped(data: str, width: int = 76) -> str:
    return "\n".join(data[i : i + width] for i in range(0, len(data), width))


def build_message(mail: OutboxMail, sender: str) -> Message:
    """The MIME message of one outbox mail: text (and HTML) alternatives, then attachments.

    Built with the ``compat32`` classes, which write headers as given instead of parsing each
    one: several times cheaper than ``EmailMessage`` for the same bytes on the wire. The
    attachments are stored base64-encoded already and go out as they are."""
    body: Message = MIMEText(mail.body_text, "plain", "utf-8")
    if mail.body_html:
        alternative = MIMEMultipart("alternative")
        alternative.attach(body)
        alternative.attach(MIMEText(mail.body_html, "html", "utf-8"))
        body = alternative
    if mail.attachments:
        mixed = MIMEMultipart("mixed")
        mixed.attach(body)
        for item in mail.attachments:
            maintype, _, subtype = item["content_type"].partition("/")
            part = MIMEBase(maintype, subtype)
            part.set_payload(_wrapped(build_attachment(item)))
            part["Content-Transfer-Encoding"] = "base64"
            filename = item["filename"]
            if filename.isascii():
                part.add_header("Content-Disposition", "attachment", filename=filename)
            else:
                part.add_header(
                    "Content-Disposition", "attachment", filename=("utf-8", "", filename)
                )
            mixed.attach(part)
        body = mixed
    body["From"] = sender
    body["To"] = mail.to_addr
    subject = mail.subject
    body["Subject"] = subject if subject.isascii() else Header(subject, "utf-8").encode()
    body["Message-ID"] = mail.message_id
    body["Date"] = formatdate(mail.created_at.timestamp(), localtime=False)
    return body


async def _deliver(smtp: aiosmtplib.SMTP, mail: OutboxMail, message: Message, sender: str) -> None:
    if sender.isascii() and mail.to_addr.isascii():
        await smtp.sendmail(sender, [mail.to_addr], message.as_bytes(policy=_SMTP_POLICY))
    else:  # an internationalized address needs SMTPUTF8: let aiosmtplib negotiate it
        await smtp.send_message(message, sender=sender, recipients=[mail.to_addr])


_SENT_SQL = (
    "UPDATE outbox_mail SET status = 'sent', sent_at = ?, attempts = attempts + 1,"
    " claimed_until = NULL WHERE id = ?"
)


async def _claim(urgent_only: bool = False) -> tuple[str, list[OutboxMail]]:
    """Lease up to BATCH due mails with one conditional UPDATE; only this round's token
    marks them, so two workers never hold the same mail."""
    now = clock.now()
    token = secrets.token_hex(16)
    due = OutboxMail.filter(status="pending", next_attempt_at__lte=now)
    if urgent_only:
        due = due.filter(kind__in=URGENT_KINDS)
    due_ids = (
        await due.filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
        .order_by("id")
        .limit(BATCH)
        .values_list("id", flat=True)
    )
    if not due_ids:
        return token, []
    await (
        OutboxMail.filter(id__in=list(due_ids), status="pending")
        .filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))
        .update(claimed_until=now + LEASE, claim_token=token)
    )
    return token, await OutboxMail.filter(claim_token=token, status="pending").order_by("id")


def _client(settings: Settings) -> aiosmtplib.SMTP:
    return aiosmtplib.SMTP(
        hostname=settings.smtp_host,
        port=settings.smtp_port,
        username=settings.smtp_username or None,
        password=settings.smtp_password or None,
        start_tls=settings.smtp_tls == "starttls",
        use_tls=settings.smtp_tls == "tls",
        timeout=20,
    )


async def _send_chunk(settings: Settings, mails: list[OutboxMail]) -> int:
    """Send mails over one SMTP connection; returns how many were sent. A mail the server
    refuses waits for a later attempt; when the server is unreachable, all the rest do."""
    resolved: set[int] = set()
    sent = 0
    try:
        async with _client(settings) as smtp:
            for mail in mails:
                try:
                    message = build_message(mail, settings.mail_from)
                except Exception as exc:  # a broken attachment builder: retried with backoff
                    log.exception("mail %s could not be built", mail.id)
                    await _failed(settings, mail, exc)
                    resolved.add(mail.id)
                    continue
                try:
                    await _deliver(smtp, mail, message, settings.mail_from)
                except aiosmtplib.SMTPResponseException as exc:
                    await _failed(settings, mail, exc)
                    resolved.add(mail.id)
                    continue
                await sql.execute(_SENT_SQL, clock.now(), mail.id)
                resolved.add(mail.id)
                sent += 1
    except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
        for mail in mails:
            if mail.id not in resolved:
                await _failed(settings, mail, exc)
    return sent


async def _failed(settings: Settings, mail: OutboxMail, exc: BaseException) -> None:
    attempts = mail.attempts + 1
    failed = attempts >= settings.outbox_max_attempts
    await OutboxMail.filter(id=mail.id, status="pending").update(
        attempts=attempts,
        status="failed" if failed else "pending",
        next_attempt_at=clock.now() + backoff(attempts),
        claimed_until=None,
        last_error=repr(exc)[:500],
    )
    log.warning("mail %s not sent (attempt %s): %r", mail.id, attempts, exc)


async def run_once(
    settings: Settings, worker_id: str | None = None, *, urgent_only: bool = False
) -> int:
    """Send every due mail of one batch (only URGENT_KINDS when ``urgent_only``); returns how
    many were sent.

    The batch goes out over up to CONNECTIONS SMTP connections at once, each reused for its
    share of the mails."""
    _token, mails = await _claim(urgent_only)
    if not mails:
        return 0
    chunks = [mails[i::CONNECTIONS] for i in range(min(CONNECTIONS, len(mails)))]
    return sum(await asyncio.gather(*(_send_chunk(settings, chunk) for chunk in chunks)))


async def run_forever(settings: Settings, stop: asyncio.Event | None = None) -> None:
    """The worker inside ``canyu serve``: sends due mail, yielding to requests.

    While the process serves requests, only urgent mail (sign-in codes) goes out, and the rest
    waits for a pause or for YIELD_SECONDS, whichever comes first; once it has waited that
    long, the worker sends without pausing until it has caught up. ``canyu outbox run`` (a
    process of its own) never yields."""
    global _wakeup
    _wakeup = asyncio.Event()
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    yielding_since: float | None = None
    while not stop.is_set():
        try:
            now = loop.time()
            if busy() and (yielding_since is None or now - yielding_since < YIELD_SECONDS):
                if yielding_since is None:
                    yielding_since = now
                await run_once(settings, urgent_only=True)
                await _sleep_or_stop(stop, YIELD_POLL)
                continue
            if await run_once(settings) >= BATCH:
                continue  # a full batch: more is due at once
            yielding_since = None  # caught up: the next mail may wait for a pause again
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


async def _sleep_or_stop(stop: asyncio.Event, seconds: float) -> None:
    try:
        await asyncio.wait_for(stop.wait(), timeout=seconds)
    except TimeoutError:
        pass
