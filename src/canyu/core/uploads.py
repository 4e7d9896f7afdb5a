"""Uploaded files: checked by their content, limited in size, stored under
``CANYU_UPLOAD_DIR/<folder>/`` with a random name (never under ``static/``) and served with
headers that keep a browser from running them.

Images (JPEG, PNG, WebP, GIF) are recognised by their first bytes, never by the file name or the
content type the browser sent, and their width and height are read from their headers: a file
whose headers do not parse is refused. Metadata that may locate or name a person (EXIF with GPS,
XMP, text chunks) is removed before the image is stored."""

from __future__ import annotations

import os
import re
import secrets
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from starlette.datastructures import UploadFile
from starlette.responses import FileResponse, Response

from canyu.core.errors import DomainError, NotFound

IMAGE_MAX_BYTES = 5 * 1024 * 1024
#: Larger pictures are refused before any browser has to decode them.
IMAGE_MAX_SIDE = 10_000
IMAGE_MAX_PIXELS = 40_000_000
IMAGE_TYPES = {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp", "image/gif": "gif"}
#: No script, no plugin, no form, no subresource: a file opened on its own cannot run anything.
FILE_CSP = "default-src 'none'; sandbox"
IMMUTABLE = "public, max-age=31536000, immutable"
STORED_NAME = re.compile(r"[0-9a-f]{32}\.[a-z0-9]{1,5}")


@dataclass(frozen=True)
class Image:
    content_type: str
    ext: str
    width: int
    height: int
    data: bytes


# --- recognising images -------------------------------------------------------------------


def sniff_image(data: bytes) -> tuple[str, str] | None:
    """(content type, extension) from the magic bytes: JPEG, PNG, WebP or GIF, else None."""
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg", "jpg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png", "png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp", "webp"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif", "gif"
    return None


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    i = 2
    while i + 4 <= len(data):
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker == 0x01 or 0xD0 <= marker <= 0xD7:
            i += 2
            continue
        (length,) = struct.unpack(">H", data[i + 2 : i + 4])
        if length < 2:
            return None
        if marker in (0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF):
            if i + 9 > len(data):
                return None
            height, width = struct.unpack(">HH", data[i + 5 : i + 9])
            return width, height
        if marker == 0xDA:  # image data before any frame header
            return None
        i += 2 + length
    return None


def _webp_size(data: bytes) -> tuple[int, int] | None:
    kind, body = data[12:16], data[20:]
    if kind == b"VP8 " and len(body) >= 10 and body[3:6] == b"\x9d\x01\x2a":
        width, height = struct.unpack("<HH", body[6:10])
        return width & 0x3FFF, height & 0x3FFF
    if kind == b"VP8L" and len(body) >= 5 and body[0] == 0x2F:
        (bits,) = struct.unpack("<I", body[1:5])
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if kind == b"VP8X" and len(body) >= 10:
        width = int.from_bytes(body[4:7], "little") + 1
        height = int.from_bytes(body[7:10], "little") + 1
        return width, height
    return None


def image_size(data: bytes, content_type: str) -> tuple[int, int] | None:
    """Width and height read from the image's own headers, or None when they do not parse."""
    try:
        if content_type == "image/png":
            if data[12:16] != b"IHDR":
                return None
            width, height = struct.unpack(">II", data[16:24])
            return width, height
        if content_type == "image/gif":
            width, height = struct.unpack("<HH", data[6:10])
            return width, height
        if content_type == "image/jpeg":
            return _jpeg_size(data)
        if content_type == "image/webp":
            return _webp_size(data)
    except struct.error:
        return None
    return None


# --- removing metadata ----------------------------------------------------------------------

_JPEG_DROP = {0xE1, 0xED, 0xFE}  # APP1 (EXIF, XMP), APP13 (IPTC), comments
_PNG_DROP = {b"eXIf", b"tEXt", b"zTXt", b"iTXt", b"tIME"}
_WEBP_DROP = {b"EXIF", b"XMP "}


def _strip_jpeg(data: bytes) -> bytes | None:
    out = bytearray(data[:2])
    i = 2
    while i + 4 <= len(data):
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == 0xFF:
            i += 1
            continue
        if marker == 0x01 or 0xD0 <= marker <= 0xD7:
            out += data[i : i + 2]
            i += 2
            continue
        (length,) = struct.unpack(">H", data[i + 2 : i + 4])
        end = i + 2 + length
        if length < 2 or end > len(data):
            return None
        if marker == 0xDA:  # the compressed image follows: keep the rest as it is
            out += data[i:]
            return bytes(out)
        if marker not in _JPEG_DROP:
            out += data[i:end]
        i = end
    return None


def _strip_png(data: bytes) -> bytes | None:
    out = bytearray(data[:8])
    i = 8
    while i + 12 <= len(data):
        (length,) = struct.unpack(">I", data[i : i + 4])
        kind = data[i + 4 : i + 8]
        end = i + 12 + length
        if end > len(data):
            return None
        if kind not in _PNG_DROP:
            out += data[i:end]
        i = end
        if kind == b"IEND":  # anything appended after the image is dropped too
            return bytes(out)
    return None


def _strip_webp(data: bytes) -> bytes | None:
    chunks = bytearray()
    (riff_size,) = struct.unpack("<I", data[4:8])
    data = data[: 8 + riff_size]  # anything appended after the RIFF container is dropped
    i = 12
    while i + 8 <= len(data):
        kind = data[i : i + 4]
        (length,) = struct.unpack("<I", data[i + 4 : i + 8])
        end = i + 8 + length + (length & 1)
        if i + 8 + length > len(data):
            return None
        chunk = bytearray(data[i : min(end, len(data))])
        if kind == b"VP8X" and len(chunk) > 8:
            chunk[8] &= ~0x0C & 0xFF  # no EXIF, no XMP
        if kind not in _WEBP_DROP:
            chunks += chunk
        i = end
    return b"RIFF" + struct.pack("<I", 4 + len(chunks)) + b"WEBP" + bytes(chunks)


def strip_metadata(data: bytes, content_type: str) -> bytes | None:
    """The image without EXIF/XMP/IPTC/text metadata, or None when its structure is broken."""
    if content_type == "image/jpeg":
        return _strip_jpeg(data)
    if content_type == "image/png":
        return _strip_png(data)
    if content_type == "image/webp":
        return _strip_webp(data)
    return data


def check_image(data: bytes, *, max_bytes: int = IMAGE_MAX_BYTES, field: str = "image") -> Image:
    """A JPEG, PNG, WebP or GIF of at most ``max_bytes`` with readable, sensible dimensions,
    its metadata removed; otherwise a 4xx ``DomainError`` with a Chinese message."""
    if not data:
        raise DomainError("empty_file", "请选择要上传的图片。", 422, field=field)
    if len(data) > max_bytes:
        raise DomainError(
            "file_too_large",
            "图片不能超过 %(mb)s MB。",
            413,
            field=field,
            mb=max_bytes // (1024 * 1024),
        )
    sniffed = sniff_image(data)
    if sniffed is None:
        raise DomainError(
            "bad_file_type", "图片只能是 JPEG、PNG、WebP 或 GIF 格式。", 415, field=field
        )
    content_type, ext = sniffed
    clean = strip_metadata(data, content_type)
    size = image_size(clean, content_type) if clean is not None else None
    if clean is None or size is None or min(size) < 1:
        raise DomainError("bad_image", "图片文件已损坏，无法识别。", 422, field=field)
    width, height = size
    if max(width, height) > IMAGE_MAX_SIDE or width * height > IMAGE_MAX_PIXELS:
        raise DomainError(
            "image_too_large",
            "图片尺寸过大（最大 %(n)s 像素宽或高）。",
            422,
            field=field,
            n=IMAGE_MAX_SIDE,
        )
    return Image(content_type, ext, width, height, clean)


async def read_upload(value: Any, max_bytes: int, *, field: str) -> tuple[str, bytes]:
    """(file name, bytes) of a form's file field, reading at most one byte past the limit;
    empty when no file was chosen."""
    if not isinstance(value, UploadFile):
        return "", b""
    data = await value.read(max_bytes + 1)
    return value.filename or "", data


# --- storing ----------------------------------------------------------------------------------


def folder_of(upload_dir: Path | str, folder: str) -> Path:
    return Path(upload_dir) / folder


def store(data: bytes, upload_dir: Path | str, folder: str, ext: str) -> str:
    """Write ``data`` under a random name (128 bits) and return that name. The file appears
    whole or not at all (written beside it, then renamed)."""
    target = folder_of(upload_dir, folder)
    target.mkdir(parents=True, exist_ok=True)
    name = f"{secrets.token_hex(16)}.{ext}"
    partial = target / f".{name}.part"
    partial.write_bytes(data)
    os.replace(partial, target / name)
    return name


def discard(upload_dir: Path | str, folder: str, name: str) -> None:
    """Remove a stored file (after the change that was to use it was refused, or after its
    row was deleted)."""
    if STORED_NAME.fullmatch(name):
        (folder_of(upload_dir, folder) / name).unlink(missing_ok=True)


def stored_path(upload_dir: Path | str, folder: str, name: str) -> Path:
    """The path of a stored file; a name that is not one of ours, or a missing file, is 404."""
    if not STORED_NAME.fullmatch(name):
        raise NotFound()
    path = folder_of(upload_dir, folder) / name
    if not path.is_file():
        raise NotFound()
    return path


# --- serving ----------------------------------------------------------------------------------


def content_disposition(disposition: str, filename: str) -> str:
    """``inline``/``attachment`` with an ASCII-only fallback name and the UTF-8 name."""
    fallback = re.sub(r"[^A-Za-z0-9._-]", "_", Path(filename).name)[:100].strip("._") or "file"
    return f"{disposition}; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


def file_response(
    path: Path,
    content_type: str,
    *,
    filename: str,
    disposition: str = "inline",
    cache_control: str = IMMUTABLE,
) -> Response:
    """A stored file with the type we determined, never sniffed by the browser, never run."""
    return FileResponse(
        path,
        media_type=content_type,
        headers={
            "Content-Disposition": content_disposition(disposition, filename),
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": FILE_CSP,
            "Cache-Control": cache_control,
            "Cross-Origin-Resource-Policy": "same-origin",
        },
    )


def serve_image(upload_dir: Path | str, folder: str, name: str) -> Response:
    """A stored image, its type taken again from its own first bytes (404 when it is not one)."""
    path = stored_path(upload_dir, folder, name)
    with path.open("rb") as f:
        sniffed = sniff_image(f.read(16))
    if sniffed is None:
        raise NotFound()
    return file_response(path, sniffed[0], filename=name)
