"""The benchmarks' SMTP sink (``bench.common.Mailbox``): a real SMTP exchange with Canyu's
own mail writer, every mail counted, sign-in codes read back once each."""

from __future__ import annotations

from datetime import UTC, datetime

import aiosmtplib
import pytest
from bench.common import Mailbox

from canyu.notify.models import OutboxMail
from canyu.notify.worker import message_bytes


def _mail(to: str, body: str, attachments: list | None = None) -> bytes:
    mail = OutboxMail(
        to_addr=to, subject="登录验证码", body_text=body, body_html="",
        attachments=attachments or [], message_id=f"<{to}@bench>",
        created_at=datetime(2026, 8, 1, tzinfo=UTC),
    )
    return message_bytes(mail, "noreply@canyu.local")


async def test_sink_counts_every_mail_and_reads_codes_of_text_mails():
    mailbox = Mailbox().start()
    try:
        smtp = aiosmtplib.SMTP(hostname="127.0.0.1", port=mailbox.port)
        async with smtp:
            await smtp.sendmail("noreply@canyu.local", ["Li@Example.com"],
                                _mail("li@example.com", "您的验证码是 042917，10 分钟内有效。"))
            # A line that starts with a dot is stuffed by the client and unstuffed here.
            await smtp.sendmail("noreply@canyu.local", ["wang@example.com"],
                                b"Subject: x\r\n\r\n.leading dot\r\n..two\r\ncode 123456\r\n")
            ticket = [{"filename": "ticket.png", "content_type": "image/png",
                       "data": "iVBORw0KGgo="}]
            # A mail with attachments is counted, never read for a code.
            await smtp.sendmail("noreply@canyu.local", ["zhao@example.com"],
                                _mail("zhao@example.com", "电子票号 654321", ticket))
        assert await mailbox.wait_code("li@example.com", wait=10) == "042917"
        assert await mailbox.wait_code("wang@example.com", wait=10) == "123456"
        assert mailbox.count == 3
        # The codes arrive in order, so by now the ticket mail's would have been there.
        with pytest.raises(TimeoutError):
            await mailbox.wait_code("zhao@example.com", wait=0.5)
    finally:
        mailbox.stop()
