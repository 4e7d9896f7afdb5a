"""The e-ticket's files: the QR code as PNG and the event as an iCalendar file.

Both are built for every confirmed place (the QR code by the mail worker, the .ics inside the
registration), so they are written directly. The QR symbol comes from zxing-cpp's encoder (C++:
mode, version, error correction and the mask pattern of lowest penalty, ISO/IEC 18004; a tenth
of a millisecond where a pure-Python encoder spends one to two) and this module writes the PNG:
at 8 pixels per module a module is exactly one byte of a 1-bit image (0x00 dark, 0xFF light,
which is how zxing-cpp's image already stores a module). The .ics text is written to RFC 5545
(escaping, UTC times, lines folded at 75 octets). Tests read both back with independent means
(the PNG decoded by hand, read by a QR decoder and its mask checked against the other seven;
the .ics parsed by the icalendar package)."""

from __future__ import annotations

import struct
import zlib
from datetime import UTC, datetime


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def qr_modules(code: str) -> list[bytes]:
    """The rows of the QR symbol of ``code`` (error correction M), one byte per module:
    0x00 dark, 0xFF light. Always a full QR code, never a Micro QR (which phone cameras and
    the browsers' BarcodeDetector do not read)."""
    import zxingcpp

    barcode = zxingcpp.create_barcode(code, zxingcpp.BarcodeFormat.QRCode, ec_level="M")
    image = memoryview(barcode.to_image(scale=1, add_quiet_zones=False))
    height, width = image.shape
    data = image.tobytes()
    return [data[row * width : (row + 1) * width] for row in range(height)]


def _deflate(data: bytes) -> bytes:
    """The image's zlib stream, fast: every pixel row repeats the one above it seven times out
    of eight, so a 4 KiB window (a version-2 symbol's rows are 34 bytes) and the quickest level
    find it all. zlib's defaults (32 KiB window, level 6) spent 85 us of the mail worker's time
    per ticket, most of it clearing their tables, for a PNG of 180 bytes instead of 320."""
    deflate = zlib.compressobj(1, zlib.DEFLATED, 12, 4)
    return deflate.compress(data) + deflate.flush()


def qr_png(code: str, border: int = 4) -> bytes:
    """A black-on-white QR code of ``code``, 8 pixels per module, ``border`` modules of quiet
    zone."""
    modules = qr_modules(code)
    size = len(modules) + 2 * border
    quiet = b"\x00" + b"\xff" * size
    rows = [quiet] * (8 * border)
    pad = b"\xff" * border
    for line in modules:
        row = b"\x00" + pad + line + pad
        rows.extend([row] * 8)
    rows.extend([quiet] * (8 * border))
    width = 8 * size
    header = struct.pack(">IIBBBBB", width, width, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", _deflate(b"".join(rows)))
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
