"""Small real image files built byte by byte (no imaging library needed), and hostile files
that only pretend to be images."""

from __future__ import annotations

import struct
import zlib


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png(width: int = 4, height: int = 3, *, text: bytes = b"", trailer: bytes = b"") -> bytes:
    """A decodable RGB PNG; ``text`` adds a tEXt chunk, ``trailer`` bytes after IEND."""
    rows = b"".join(b"\x00" + bytes([200, 60, 40]) * width for _ in range(height))
    body = _png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
    if text:
        body += _png_chunk(b"tEXt", b"Comment\x00" + text)
    body += _png_chunk(b"IDAT", zlib.compress(rows)) + _png_chunk(b"IEND", b"")
    return b"\x89PNG\r\n\x1a\n" + body + trailer


def png_header(width: int, height: int) -> bytes:
    """Only the signature and IHDR: enough to claim a size (for the size limit)."""
    ihdr = _png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
    return b"\x89PNG\r\n\x1a\n" + ihdr + _png_chunk(b"IEND", b"")


def jpeg(width: int = 640, height: int = 480, *, exif: bytes = b"") -> bytes:
    """JPEG segments up to the scan (JFIF, optional EXIF APP1, frame header, scan header)."""

    def segment(marker: int, data: bytes) -> bytes:
        return bytes([0xFF, marker]) + struct.pack(">H", len(data) + 2) + data

    out = b"\xff\xd8" + segment(0xE0, b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00")
    if exif:
        out += segment(0xE1, b"Exif\x00\x00" + exif)
    frame = struct.pack(">BHHB", 8, height, width, 3) + b"\x01\x22\x00\x02\x11\x01\x03\x11\x01"
    out += segment(0xC0, frame)
    out += segment(0xDA, b"\x03\x01\x00\x02\x11\x03\x11\x00\x3f\x00")
    return out + b"\x12\x34\x56\x78" + b"\xff\xd9"


def webp(width: int = 320, height: int = 200, *, exif: bytes = b"") -> bytes:
    """An extended WebP (VP8X) with an optional EXIF chunk."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return kind + struct.pack("<I", len(data)) + data + (b"\x00" if len(data) % 2 else b"")

    flags = 0x08 if exif else 0
    vp8x = bytes([flags, 0, 0, 0]) + (width - 1).to_bytes(3, "little")
    vp8x += (height - 1).to_bytes(3, "little")
    body = chunk(b"VP8X", vp8x)
    lossless = b"\x2f" + struct.pack("<I", (width - 1) | ((height - 1) << 14)) + b"\x00" * 6
    body += chunk(b"VP8L", lossless)
    if exif:
        body += chunk(b"EXIF", exif)
    return b"RIFF" + struct.pack("<I", 4 + len(body)) + b"WEBP" + body


def gif(width: int = 2, height: int = 2) -> bytes:
    return (
        b"GIF89a"
        + struct.pack("<HH", width, height)
        + b"\x80\x00\x00\x00\x00\x00\xff\xff\xff"
        + b"\x2c\x00\x00\x00\x00"
        + struct.pack("<HH", width, height)
        + b"\x00\x02\x02\x44\x01\x00\x3b"
    )


HOSTILE = {
    "page.png": b"<!DOCTYPE html><html><body><script>alert(document.cookie)</script></body></html>",
    "vector.png": b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>',
    "script.png": b"#!/bin/sh\nrm -rf /\n",
    "payload.png": b"alert(document.domain)//",
    # The right magic bytes with nothing of an image behind them
    "fake.png": b"\x89PNG\r\n\x1a\n<script>alert(1)</script>",
}
