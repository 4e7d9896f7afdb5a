"""The e-ticket files, read back by independent means: the PNG decoded by hand and compared
pixel by pixel with segno's own rendering of the same QR code; the .ics parsed by icalendar."""

from __future__ import annotations

import struct
import zlib
from datetime import UTC, datetime, timedelta, timezone

import segno
from icalendar import Calendar

from canyu.openmonth import tickets


def _decode_png(data: bytes) -> tuple[int, int, list[list[bool]]]:
    """(width, height, rows of 'dark' pixels) of a 1-bit grayscale PNG without filters."""
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    pos, idat, header = 8, b"", None
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        assert crc == zlib.crc32(kind + body), kind
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    assert header is not None
    width, height, depth, colour, _c, _f, interlace = header
    assert (depth, colour, interlace) == (1, 0, 0)
    raw = zlib.decompress(idat)
    stride = (width + 7) // 8
    rows = []
    for y in range(height):
        line = raw[y * (stride + 1) : (y + 1) * (stride + 1)]
        assert line[0] == 0  # no filter
        bits = "".join(f"{b:08b}" for b in line[1:])[:width]
        rows.append([bit == "0" for bit in bits])
    return width, height, rows


def test_qr_png_is_pixel_for_pixel_segnos_qr_code():
    for code in ("F74SC32XQJ", "ABCDEFGHJK", "2345678923"):
        width, height, rows = _decode_png(tickets.qr_png(code))
        qr = segno.make(code, error="m", micro=False)
        assert not qr.is_micro
        expected = [list(row) for row in qr.matrix_iter(scale=8, border=4)]
        assert (width, height) == (len(expected[0]), len(expected))
        assert rows == [[bool(v) for v in row] for row in expected]


def test_calendar_file_escapes_folds_and_keeps_utc_times():
    shanghai = timezone(timedelta(hours=8))
    starts = datetime(2026, 8, 15, 9, 30, tzinfo=shanghai)
    title = "浦东新区城市运行管理中心“一网统管”开放日；含, 逗号\\反斜杠" * 2
    data = tickets.calendar(
        uid="openmonth-7-ABC@canyu",
        stamp=datetime(2026, 8, 1, tzinfo=UTC),
        starts=starts,
        ends=starts + timedelta(hours=2),
        summary=title,
        location="浦东新区合欢路 2 号",
        url="https://canyu.example/events/7",
        description="第一行\n电子票号 Ticket: ABC",
    )
    for line in data.split(b"\r\n"):
        assert len(line) <= 75
    assert data.endswith(b"END:VCALENDAR\r\n")
    [event] = Calendar.from_ical(data).walk("VEVENT")
    assert str(event["SUMMARY"]) == title
    assert str(event["DESCRIPTION"]) == "第一行\n电子票号 Ticket: ABC"
    assert str(event["LOCATION"]) == "浦东新区合欢路 2 号"
    assert event.decoded("DTSTART") == datetime(2026, 8, 15, 1, 30, tzinfo=UTC)
    assert event.decoded("DTEND") - event.decoded("DTSTART") == timedelta(hours=2)
    assert str(event["UID"]) == "openmonth-7-ABC@canyu"
