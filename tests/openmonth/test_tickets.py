"""The e-ticket files, read back by independent means: the PNG decoded by hand and compared
pixel by pixel with another encoder's (segno's) QR code of the same text, and read by a QR
decoder; the .ics parsed by icalendar."""

from __future__ import annotations

import itertools
import struct
import zlib
from datetime import UTC, datetime, timedelta, timezone

import zxingcpp
from icalendar import Calendar
from segno import consts, encoder

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


def _penalty(matrix: list[list[bool]]) -> int:
    """ISO/IEC 18004 7.8.3.1: the penalty of a finished symbol (rules N1 to N4)."""
    size = len(matrix)
    lines = matrix + [list(col) for col in zip(*matrix, strict=True)]
    score = 0
    for line in lines:  # N1: runs of five or more of one colour
        run = 1
        for a, b in itertools.pairwise(line):
            if a == b:
                run += 1
            else:
                score += run - 2 if run >= 5 else 0
                run = 1
        score += run - 2 if run >= 5 else 0
    for y in range(size - 1):  # N2: 2x2 blocks of one colour
        for x in range(size - 1):
            if matrix[y][x] == matrix[y][x + 1] == matrix[y + 1][x] == matrix[y + 1][x + 1]:
                score += 3
    finder = [True, False, True, True, True, False, True]
    for line in lines:  # N3: 1:1:3:1:1 with four light modules on one side
        padded = [False] * 4 + line + [False] * 4
        for i in range(len(padded) - 6):
            if padded[i : i + 7] == finder and (
                not any(padded[i - 4 : i]) or not any(padded[i + 7 : i + 11])
            ):
                score += 40
    dark = sum(map(sum, matrix))
    return score + 10 * int(abs(dark * 100 / size**2 - 50) / 5)


def _remasked(modules: list[list[bool]], chosen: int, mask: int) -> list[list[bool]]:
    """The same symbol with another data mask (and that mask's format information), built
    with segno's encoder functions (ISO/IEC 18004 7.8.2 and 7.9)."""
    size = len(modules)
    function = encoder.make_matrix(size, size)
    encoder.add_finder_patterns(function, size, size)
    encoder.add_alignment_patterns(function, size, size)
    function[-8][8] = 0x1
    patterns = encoder.get_data_mask_functions(False)
    matrix = [bytearray(int(v) for v in row) for row in modules]
    for i in range(size):
        for j in range(size):
            if function[i][j] > 0x1:  # data region
                matrix[i][j] ^= patterns[chosen](i, j) ^ patterns[mask](i, j)
    encoder.add_format_info(matrix, 1, consts.ERROR_LEVEL_M, mask)
    return [[bool(v) for v in row] for row in matrix]


def test_qr_png_is_a_qr_code_of_the_ticket_with_the_best_mask():
    for code in ("F74SC32XQJ", "ABCDEFGHJK", "2345678923", "Q2W3E4R5T6"):
        width, height, rows = _decode_png(tickets.qr_png(code))
        # 8 pixels per module, 4 modules of quiet zone: back to modules.
        modules = [row[32 : width - 32 : 8] for row in rows[32 : height - 32 : 8]]
        assert all(len(set(row[x : x + 8])) == 1 for row in rows for x in range(0, width, 8))
        assert not any(any(row) for row in rows[:32] + rows[-32:])
        # A full QR code of version 1 (21 modules; never a Micro QR), read back by a decoder.
        assert len(modules) == 21 and all(len(row) == 21 for row in modules)
        image = bytes(0 if dark else 255 for row in rows for dark in row)
        read = zxingcpp.read_barcode(
            zxingcpp.ImageView(image, width, height, zxingcpp.ImageFormat.Lum)
        )
        assert read is not None and read.text == code and read.ec_level == "M", code
        assert read.format == zxingcpp.BarcodeFormat.QRCode
        # The mask named by the format information (rewriting it for that mask changes
        # nothing), and of the eight masks the one of lowest penalty.
        [chosen] = [m for m in range(8) if _remasked(modules, m, m) == modules]
        penalties = [_penalty(_remasked(modules, chosen, m)) for m in range(8)]
        assert penalties[chosen] == min(penalties), (code, penalties)


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
