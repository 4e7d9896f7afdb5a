"""The outbox worker: claims due mails, sends them with aiosmtplib, retries with backoff.

Safe to run in every worker process: a mail is claimed by a conditional UPDATE (a lease),
so two workers never send the same mail at once; an SMTP outage only delays mail."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import email.policy
import functools
import logging
import secrets
from datetime import timedelta
from email.header import Header
from email.message import Message
from email.mime.base import MIMEBase
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import formatdate, parseaddr
from typing import Any
from urllib.parse import quote

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
#: Seconds one mail's MAIL, RCPT and DATA exchange may take before the connection is given up.
SEND_TIMEOUT = 20.0

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


def _wrapped(data: str, width: int = 76, newline: str = "\n") -> str:
    return newline.join(data[i : i + width] for i in range(0, len(data), width))


def build_message(mail: OutboxMail, sender: str) -> Message:
    """The MIME message of one outbox mail as an ``email`` object: the path for an address
    that needs SMTPUTF8 (aiosmtplib negotiates it from the object). Every other mail is
    written directly by ``message_bytes``, to the same structure."""
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


# --- the direct writer ------------------------------------------------------------------------
# The ``email`` package folds and re-encodes every header it writes (half of the worker's time
# per mail went there). The structure of a Canyu mail is fixed, so it is written as bytes:
# RFC 5322 headers, RFC 2047 encoded words for a non-ASCII subject, RFC 2045 base64 parts,
# RFC 2046 multiparts, RFC 2231 for a non-ASCII file name. Tests parse it back with ``email``.


def _encoded_words(text: str) -> str:
    """RFC 2047 ``=?utf-8?b?…?=`` words, folded so that no line passes 76 characters (the
    first shares its line with "Subject: "); a character is never split between two words."""
    words: list[str] = []
    chunk: list[str] = []
    size, limit = 0, 39  # 39 bytes -> 52 base64 characters + 12 of the frame, after "Subject: "
    for ch in text:
        n = len(ch.encode())
        if size + n > limit:
            words.append("".join(chunk))
            chunk, size, limit = [], 0, 45  # a continuation line: " " + 60 + 12
        chunk.append(ch)
        size += n
    words.append("".join(chunk))
    return "\r\n ".join(
        f"=?utf-8?b?{base64.b64encode(word.encode()).decode()}?=" for word in words
    )


def _base64_lines(data: bytes) -> bytes:
    return base64.encodebytes(data).replace(b"\n", b"\r\n")


def _quoted(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _text_part(text: str, subtype: str) -> bytes:
    return (
        f'Content-Type: text/{subtype}; charset="utf-8"\r\n'
        "MIME-Version: 1.0\r\nContent-Transfer-Encoding: base64\r\n\r\n"
    ).encode() + _base64_lines(text.encode())


def _attachment_part(item: dict[str, Any]) -> bytes:
    filename = item["filename"]
    if filename.isascii():
        disposition = f"attachment; filename={_quoted(filename)}"
    else:
        disposition = "attachment; filename*=utf-8''" + quote(filename, safe="")
    lines = _wrapped(build_attachment(item), newline="\r\n")  # base64 text already
    return (
        f"Content-Type: {item['content_type']}\r\nMIME-Version: 1.0\r\n"
        f"Content-Transfer-Encoding: base64\r\nContent-Disposition: {disposition}\r\n\r\n"
        f"{lines}\r\n"
    ).encode()


def _multipart(subtype: str, parts: list[bytes]) -> bytes:
    boundary = f"=_canyu_{secrets.token_hex(12)}"
    out = [f'Content-Type: multipart/{subtype}; boundary="{boundary}"\r\n'
           "MIME-Version: 1.0\r\n\r\n".encode()]
    for part in parts:
        out.append(f"--{boundary}\r\n".encode())
        out.append(part if part.endswith(b"\r\n") else part + b"\r\n")
    out.append(f"--{boundary}--\r\n".encode())
    return b"".join(out)


def message_bytes(mail: OutboxMail, sender: str) -> bytes:
    """The mail as sent over SMTP (CRLF lines): text (and HTML) alternatives, then the
    attachments. For ASCII addresses; see ``build_message`` for the others."""
    body = _text_part(mail.body_text, "plain")
    if mail.body_html:
        body = _multipart("alternative", [body, _text_part(mail.body_html, "html")])
    if mail.attachments:
        body = _multipart("mixed", [body, *(_attachment_part(a) for a in mail.attachments)])
    subject = mail.subject.replace("\r", " ").replace("\n", " ")
    headers = (
        f"From: {sender}\r\nTo: {mail.to_addr}\r\n"
        f"Subject: {subject if subject.isascii() else _encoded_words(subject)}\r\n"
        f"Message-ID: {mail.message_id}\r\n"
        f"Date: {formatdate(mail.created_at.timestamp(), localtime=False)}\r\n"
    )
    return headers.encode() + body


def _prepared(mail: OutboxMail, sender: str) -> bytes | Message:
    if sender.isascii() and mail.to_addr.isascii():
        return message_bytes(mail, sender)
    return build_message(mail, sender)  # an internationalized address needs SMTPUTF8


async def _deliver(
    smtp: aiosmtplib.SMTP, mail: OutboxMail, message: bytes | Message, sender: str
) -> None:
    if isinstance(message, bytes):
        await _send_plain(smtp, _envelope_address(sender), mail.to_addr, message)
    else:  # aiosmtplib negotiates SMTPUTF8 from the message object
        await smtp.send_message(message, sender=sender, recipients=[mail.to_addr])


@functools.cache
def _envelope_address(sender: str) -> str:
    """The bare address of ``CANYU_MAIL_FROM`` (which may carry a display name)."""
    return parseaddr(sender)[1] or sender


async def _send_plain(smtp: aiosmtplib.SMTP, sender: str, to: str, message: bytes) -> None:
    """MAIL, RCPT and DATA for one mail with ASCII addresses: what aiosmtplib's ``sendmail``
    does, without its four parses of the two addresses per mail (a fifth of the worker's time;
    a resident's address was checked when it was stored). A refusal resets the envelope and
    raises the server's answer for this mail alone."""
    if smtp.is_ehlo_or_helo_needed:
        try:
            await smtp.ehlo()
        except aiosmtplib.SMTPHeloError:
            await smtp.helo()
    try:
        # One deadline for the whole exchange instead of a timer per command.
        async with asyncio.timeout(SEND_TIMEOUT):
            answer = await smtp.execute_command(
                b"MAIL", b"FROM:<" + sender.encode() + b">", timeout=None
            )
            if answer.code != 250:
                raise aiosmtplib.SMTPSenderRefused(answer.code, answer.message, sender)
            answer = await smtp.execute_command(
                b"RCPT", b"TO:<" + to.encode() + b">", timeout=None
            )
            if answer.code not in (250, 251):
                raise aiosmtplib.SMTPRecipientRefused(answer.code, answer.message, to)
            await smtp.data(message, timeout=None)
    except aiosmtplib.SMTPResponseException:
        with contextlib.suppress(ConnectionError, aiosmtplib.SMTPException):
            await smtp.rset()
        raise


#: Sent mails are marked in groups of this many (one UPDATE each). A crash between the sending
#: and the marking sends at most this many mails twice, once their lease has run out; mail is
#: delivered at least once, never lost.
MARK_EVERY = 20


def _sent_sql(n: int) -> str:
    marks = ", ".join(["?"] * n)
    return (
        "UPDATE outbox_mail SET status = 'sent', sent_at = ?, attempts = attempts + 1,"  # noqa: S608 (n placeholders)
        f" claimed_until = NULL WHERE id IN ({marks})"
    )


async def _mark_sent(ids: list[int]) -> None:
    if ids:
        await sql.execute(_sent_sql(len(ids)), clock.now(), *ids)
        ids.clear()


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
    rows = await sql.fetch(_CLAIMED_SQL, token)
    return token, [sql.from_row(OutboxMail, row) for row in rows]


_CLAIMED_SQL = "SELECT * FROM outbox_mail WHERE claim_token = ? AND status = 'pending' ORDER BY id"


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
    unmarked: list[int] = []
    sent = 0
    try:
        async with _client(settings) as smtp:
            for mail in mails:
                try:
                    message = _prepared(mail, settings.mail_from)
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
                unmarked.append(mail.id)
                resolved.add(mail.id)
                sent += 1
                if len(unmarked) >= MARK_EVERY:
                    await _mark_sent(unmarked)
    except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
        for mail in mails:
            if mail.id not in resolved:
                await _failed(settings, mail, exc)
    finally:
        await _mark_sent(unmarked)
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
