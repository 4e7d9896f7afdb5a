"""The SMS gateway interface. Only a logging backend exists until a provider is chosen."""

from __future__ import annotations

import logging
from typing import Protocol

from canyu.core.masking import mask_phone

log = logging.getLogger("canyu.sms")


class SmsGateway(Protocol):
    async def send(self, phone: str, text: str) -> None: ...


class LoggingSmsGateway:
    """Writes each message to the log (masked number) instead of sending it."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []

    async def send(self, phone: str, text: str) -> None:
        self.sent.append((phone, text))
        log.info("sms to %s: %s", mask_phone(phone), text)
