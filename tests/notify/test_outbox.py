"""The outbox: mail is written with the change, sent later, retried, never lost or doubled."""

from __future__ import annotations

import asyncio
import base64
import email
import email.message
import email.policy
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from tortoise.transactions import in_transaction

from canyu.core import clock
from canyu.notify import worker
from canyu.notify.models import OutboxMail
from canyu.notify.service import Attachment, queue_mail


async def _queue(n: int) -> None:
    for i in range(n):
        async with in_transaction():
            await queue_mail(
                f"r{i}@example.com",
                "sign_in_code",
                "参与平台登录验证码",
                {"code": f"{i:06d}", "minutes": 10},
            )


async def test_mail_rolled_back_with_its_change_is_never_sent(db, settings, mailbox):
    with pytest.raises(RuntimeError):
        async with in_transaction():
            await queue_mail(
                "a@example.com",
                "sign_in_code",
                "参与平台登录验证码",
                {"code": "123456", "minutes": 10},
            )
            raise RuntimeError("the change failed")
    assert await OutboxMail.all().count() == 0
    assert await mailbox.deliver() == []


async def test_smtp_outage_delays_mail_but_loses_and_doubles_none(db, settings, mailbox):
    mailbox.stop()  # the SMTP server is down for the whole first part
    await _queue(20)
    for _ in range(3):
        assert await worker.run_once(settings) == 0
        clock.travel(timedelta(minutes=1))
    pending = await OutboxMail.filter(status="pending").count()
    assert pending == 20
    assert (await OutboxMail.get(to_addr="r0@example.com")).attempts >= 1
    mailbox.start()  # back up
    clock.travel(timedelta(hours=1))
    await mailbox.deliver()
    received = sorted(str(m["To"]) for m in mailbox.messages)
    assert received == sorted(f"r{i}@example.com" for i in range(20))
    assert await OutboxMail.filter(status="sent").count() == 20
    # Running again sends nothing twice.
    await mailbox.deliver()
    assert len(mailbox.messages) == 20


async def test_temporary_refusal_is_retried_with_backoff(db, settings, mailbox):
    mailbox.handler.refuse = True
    await _queue(1)
    assert await worker.run_once(settings) == 0
    mail = await OutboxMail.get()
    assert mail.status == "pending" and mail.attempts == 1
    assert mail.next_attempt_at > clock.now()
    assert await worker.run_once(settings) == 0  # not due yet: no new attempt
    assert (await OutboxMail.get()).attempts == 1
    mailbox.handler.refuse = False
    clock.travel(timedelta(seconds=6))
    assert await worker.run_once(settings) == 1
    assert len(mailbox.messages) == 1


async def test_a_server_that_stops_answering_delays_the_mail_and_keeps_it(
    db, settings, mailbox, monkeypatch
):
    monkeypatch.setattr(worker, "SEND_TIMEOUT", 0.5)
    mailbox.handler.stall = 3.0  # accepts the mail, then never answers in time
    await _queue(1)
    assert await worker.run_once(settings) == 0
    mail = await OutboxMail.get()
    assert mail.status == "pending" and mail.attempts == 1 and "Timeout" in mail.last_error
    mailbox.handler.stall = 0.0
    clock.travel(timedelta(seconds=6))
    assert await worker.run_once(settings) == 1
    assert (await OutboxMail.get()).status == "sent"


async def test_two_workers_never_send_the_same_mail(db, settings, mailbox):
    await _queue(30)
    await asyncio.gather(worker.run_once(settings, "w1"), worker.run_once(settings, "w2"))
    await mailbox.deliver()
    to = [str(m["To"]) for m in mailbox.messages]
    assert len(to) == 30 and len(set(to)) == 30


async def test_mail_has_text_html_and_attachments(db, settings, mailbox):
    async with in_transaction():
        await queue_mail(
            "att@example.com",
            "sign_in_code",
            "参与平台登录验证码",
            {"code": "654321", "minutes": 10},
            attachments=[
                Attachment("event.ics", "text/calendar", b"BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n")
            ],
        )
    [message] = await mailbox.deliver()
    assert message["Subject"] == "参与平台登录验证码"
    assert message["Message-ID"]
    assert "654321" in message.get_body(preferencelist=("plain",)).get_content()
    assert message.get_body(preferencelist=("html",)) is not None
    [attachment] = list(message.iter_attachments())
    assert attachment.get_filename() == "event.ics"
    assert attachment.get_content_type() == "text/calendar"


async def test_worker_lets_requests_go_first_but_never_sign_in_codes(
    db, settings, mailbox, monkeypatch
):
    """While requests are in flight the worker sends sign-in codes at once and holds other
    mail, for YIELD_SECONDS at most; with no request in flight it sends everything."""
    monkeypatch.setattr(worker, "YIELD_SECONDS", 1.5)
    monkeypatch.setattr(worker, "YIELD_POLL", 0.05)

    async def received(address: str, seconds: float = 10.0) -> bool:
        for _ in range(int(seconds / 0.05)):
            if mailbox.to(address):
                return True
            await asyncio.sleep(0.05)
        return False

    async with in_transaction():
        await queue_mail("confirm@example.com", "sign_in_code", "参与平台登录验证码",
                         {"code": "111111", "minutes": 10}, kind="openmonth_confirmed")
        await queue_mail("code@example.com", "sign_in_code", "参与平台登录验证码",
                         {"code": "222222", "minutes": 10}, kind="sign_in_code")
    stop = asyncio.Event()
    worker.request_started()  # a request is being served
    task = asyncio.create_task(worker.run_forever(settings, stop))
    try:
        assert await received("code@example.com")
        assert not mailbox.to("confirm@example.com")  # held while the request runs
        assert await received("confirm@example.com")  # but not longer than YIELD_SECONDS
        worker.request_finished()
        async with in_transaction():
            await queue_mail("idle@example.com", "sign_in_code", "参与平台登录验证码",
                             {"code": "333333", "minutes": 10}, kind="openmonth_waitlisted")
        worker.wake()
        assert await received("idle@example.com", seconds=5)
    finally:
        worker.request_finished()
        stop.set()
        await task
    assert len(mailbox.messages) == 3


def _parsed(data: bytes) -> email.message.EmailMessage:
    return email.message_from_bytes(data, policy=email.policy.default)


def _summary(message: email.message.EmailMessage) -> list[tuple[Any, ...]]:
    parts = [
        (part.get_content_type(), part.get_filename(), part.get_content())
        for part in message.walk()
        if not part.is_multipart()
    ]
    # (The email package folds a long encoded subject onto a continuation line of its own,
    # which reads back with a leading space: compared without it.)
    headers = [
        (name, str(message[name]).strip()) for name in ("From", "To", "Subject", "Message-ID")
    ]
    return [*headers, ("Date", message["Date"].datetime), *parts]


@pytest.mark.parametrize(
    ("subject", "html", "attachments"),
    [
        ("Sign-in code", "", []),
        ("报名成功：" + "浦东新区城市运行管理中心“一网统管”开放日" * 3, "<p>你好</p>", []),
        (
            "已进入候补名单：张江科学城",
            "",
            [
                {"filename": "event-7.ics", "content_type": "text/calendar",
                 "data": base64.b64encode(b"BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n").decode()},
                {"filename": "电子票-ABC.png", "content_type": "image/png",
                 "data": base64.b64encode(bytes(range(256)) * 3).decode()},
            ],
        ),
    ],
)
def test_directly_written_mail_reads_back_as_the_email_package_writes_it(
    subject: str, html: str, attachments: list[dict[str, str]]
):
    mail = OutboxMail(
        to_addr="resident@example.com",
        subject=subject,
        body_text="您好：\n\n您的报名已确认。" + "长文本" * 100 + "\n",
        body_html=html,
        attachments=attachments,
        message_id="<abc123@canyu.local>",
        created_at=datetime(2026, 8, 1, 2, 3, 4, tzinfo=UTC),
    )
    data = worker.message_bytes(mail, "noreply@canyu.local")
    assert all(len(line) <= 998 for line in data.split(b"\r\n"))
    assert b"\n" not in data.replace(b"\r\n", b"")
    assert data.isascii()
    reference = worker.build_message(mail, "noreply@canyu.local").as_bytes(
        policy=worker._SMTP_POLICY
    )
    assert _summary(_parsed(data)) == _summary(_parsed(reference))
    assert _parsed(data)["MIME-Version"] == "1.0"
    for line in data.split(b"\r\n"):
        if line.startswith((b"Subject:", b" =?utf-8")):
            assert len(line) <= 76


def test_every_mail_text_ends_with_the_platform_signature():
    """Residents see who wrote to them: every plain-text mail (not the partials) signs off."""
    from canyu.core.templating import TEMPLATE_DIR

    texts = [p for p in (TEMPLATE_DIR / "mail").glob("*.txt") if "__" not in p.stem]
    assert len(texts) >= 15
    unsigned = [
        p.name for p in texts
        if not p.read_text().rstrip().endswith('—— {{ _("浦东新区公众参与平台") }}')
    ]
    assert unsigned == []
