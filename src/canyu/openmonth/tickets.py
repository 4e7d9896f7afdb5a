"""The e-ticket's files: the QR code as PNG and the event as an iCalendar file.

Both are built for every confirmed place, inside the registration rush, so they are written
directly: segno computes the QR matrix and this module writes the PNG (at 8 pixels per module a
module is exactly one byte of a 1-bit image, so a row is a byte translation); the .ics text is
written to RFC 5545 (escaping, UTC times, lines folded at 75 octets). Tests read both back with
independent means (the PNG decoded and compared with segno's own rendering, the .ics
parsed by the icalendar package)."""

from __future__ import annotations

import struct
import zlib
from datetime import UTC, datetime

#: module value (0 light, 1 dark) -> one byte of eight 1-bit pixels (1 white, 0 black)
_PIXELS = bytes([0xFF, 0x00]) + bytes(254)


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def qr_png(code: str, border: int = 4) -> bytes:
    """A black-on-white QR code of ``code`` (error correction M), 8 pixels per module.

    Always a full QR code, never a Micro QR (which segno would pick for a short text and which
    phone cameras and the browsers' BarcodeDetector do not read)."""
    import segno

    qr = segno.make_qr(code, error="m")
    size = len(qr.matrix) + 2 * border
    quiet = b"\x00" + b"\xff" * size
    rows = [quiet] * (8 * border)
    pad = b"\xff" * border
    for line in qr.matrix:
        row = b"\x00" + pad + bytes(line).translate(_PIXELS) + pad
        rows.extend([row] * 8)
    rows.extend([quiet] * (8 * border))
    width = 8 * size
    header = struct.pack(">IIBBBBB", width, width, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(b"".join(rows), 6))
        + _chunk(b"IEND", b"")
    )


def _escape(text: str) -> str:
    return (
        text.replace("\\", "\\\\")
        .replace(";", "\\;")
        .replace(",", "\\,")
        .replace("\r\n", "\\n")
        .replace("\n", "\\n")
        .replace("\r", "\\n")
    )


def _fold(line: str) -> str:
    """Content lines longer than 75 octets continue on lines starting with a space, never
    splitting a UTF-8 character."""
    data = line.encode()
    if len(data) <= 75:
        return line
    parts, current, size, limit = [], [], 0, 75
    for ch in line:
        n = len(ch.encode())
        if size + n > limit:
            parts.append("".join(current))
            current, size, limit = [], 0, 74
        current.append(ch)
        size += n
    parts.append("".join(current))
    return "\r\n ".join(parts)


def _utc(moment: datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def calendar(
    *,
    uid: str,
    stamp: datetime,
    starts: datetime,
    ends: datetime,
    summary: str,
    location: str,
    url: str,
    description: str,
) -> bytes:
    """One VEVENT in a VCALENDAR, as RFC 5545 text."""
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//Canyu//Pudong open month//ZH",
        "CALSCALE:GREGORIAN",
        "BEGIN:VEVENT",
        f"UID:{_escape(uid)}",
        f"DTSTAMP:{_utc(stamp)}",
        f"DTSTART:{_utc(starts)}",
        f"DTEND:{_utc(ends)}",
        f"SUMMARY:{_escape(summary)}",
    ]
    if location:
        lines.append(f"LOCATION:{_escape(location)}")
    lines.append(f"URL:{url}")
    lines.append(f"DESCRIPTION:{_escape(description)}")
    lines += ["END:VEVENT", "END:VCALENDAR"]
    return ("\r\n".join(_fold(line) for line in lines) + "\r\n").encode()
