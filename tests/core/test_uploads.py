"""Uploaded images: recognised by their content (never the name or the browser's type), limited
in size, stripped of metadata, stored under the upload directory with a random name (never under
static/) and served with headers that keep a browser from running them."""

from __future__ import annotations

from pathlib import Path

import pytest

from canyu.core import uploads
from canyu.core.errors import DomainError
from canyu.core.templating import STATIC_DIR
from canyu.openmonth.models import OpenEvent
from canyu.settings import Settings
from conftest import csrf_of, html_staff_sign_in
from images import HOSTILE, gif, jpeg, png, png_header, webp


def _stored(settings) -> list[Path]:
    folder = Path(settings.upload_dir) / "openmonth"
    return sorted(folder.iterdir()) if folder.exists() else []


def _under(path: Path, folder: Path) -> bool:
    return path.resolve().is_relative_to(Path(folder).resolve())


async def _event_form(client) -> dict[str, str]:
    await html_staff_sign_in(client, "chengyun", "organizer", "区城运中心")
    token = csrf_of((await client.get("/staff/events/new")).text)
    return {
        "csrf_token": token,
        "title": "走进城运中心",
        "summary": "参观城市大脑。",
        "theme": "城市治理",
        "mode": "offline",
        "location": "世纪大道 2001 号",
        "starts_at": "2031-08-12T09:30",
        "ends_at": "2031-08-12T11:30",
        "capacity": "40",
        "max_companions": "0",
        "published": "1",
    }


# --- through the organizer's form --------------------------------------------------------


async def test_a_png_is_accepted_stored_outside_static_and_served_safely(client, settings):
    form = await _event_form(client)
    image = png(6, 4)
    r = await client.post(
        "/staff/events/new", data=form, files={"image": ("活动.png", image, "image/png")}
    )
    assert r.status_code == 303, r.text
    [path] = _stored(settings)
    assert path.read_bytes() == image
    assert uploads.STORED_NAME.fullmatch(path.name) and "活动" not in path.name
    assert _under(path, settings.upload_dir) and not _under(path, STATIC_DIR)
    assert not list(STATIC_DIR.rglob(path.name))
    assert (await client.get(f"/static/{path.name}")).status_code == 404

    event = await OpenEvent.get()
    assert event.image_url == f"{settings.base_url}/events/images/{path.name}"
    got = await client.get(f"/events/images/{path.name}")
    assert got.status_code == 200 and got.content == image
    assert got.headers["content-type"] == "image/png"
    assert got.headers["x-content-type-options"] == "nosniff"
    assert got.headers["content-security-policy"].startswith("default-src 'none'")
    assert "sandbox" in got.headers["content-security-policy"]
    assert got.headers["content-disposition"] == (
        f"inline; filename=\"{path.name}\"; filename*=UTF-8''{path.name}"
    )
    assert got.headers["cache-control"] == "public, max-age=31536000, immutable"


@pytest.mark.parametrize("filename", sorted(HOSTILE))
async def test_html_svg_or_script_named_png_is_refused_and_nothing_is_stored(
    client, settings, filename
):
    form = await _event_form(client)
    r = await client.post(
        "/staff/events/new",
        data=form,
        files={"image": (filename, HOSTILE[filename], "image/png")},
    )
    assert r.status_code in (415, 422), r.status_code
    assert "图片" in r.text and ("JPEG、PNG、WebP 或 GIF" in r.text or "已损坏" in r.text)
    assert 'aria-invalid="true"' in r.text and "走进城运中心" in r.text
    assert _stored(settings) == []
    assert await OpenEvent.all().count() == 0


async def test_oversized_image_is_refused_and_nothing_is_stored(client, settings):
    form = await _event_form(client)
    big = png(text=b"x" * uploads.IMAGE_MAX_BYTES)
    r = await client.post(
        "/staff/events/new", data=form, files={"image": ("big.png", big, "image/png")}
    )
    assert r.status_code == 413
    assert "图片不能超过 5 MB。" in r.text
    assert _stored(settings) == []
    assert await OpenEvent.all().count() == 0


async def test_an_image_of_absurd_dimensions_is_refused(client, settings):
    form = await _event_form(client)
    r = await client.post(
        "/staff/events/new",
        data=form,
        files={"image": ("bomb.png", png_header(60_000, 60_000), "image/png")},
    )
    assert r.status_code == 422 and "图片尺寸过大" in r.text
    assert _stored(settings) == []


async def test_a_good_image_with_a_bad_event_is_not_kept(client, settings):
    form = await _event_form(client)
    form["ends_at"] = "2031-08-12T08:30"  # before the start
    r = await client.post(
        "/staff/events/new", data=form, files={"image": ("ok.png", png(), "image/png")}
    )
    assert r.status_code == 422 and "结束时间须晚于开始时间" in r.text
    assert _stored(settings) == []
    assert await OpenEvent.all().count() == 0


async def test_only_stored_images_are_served(client, settings):
    folder = Path(settings.upload_dir) / "openmonth"
    folder.mkdir(parents=True)
    planted = "0" * 32 + ".png"
    (folder / planted).write_bytes(HOSTILE["page.png"])  # not an image: never served
    (folder / ("1" * 32 + ".png")).write_bytes(gif())  # type from the content, not the name
    (Path(settings.upload_dir) / "secret.txt").write_text("sk-0123456789")
    assert (await client.get(f"/events/images/{planted}")).status_code == 404
    as_gif = await client.get(f"/events/images/{'1' * 32}.png")
    assert as_gif.status_code == 200 and as_gif.headers["content-type"] == "image/gif"
    for name in ("..%2Fsecret.txt", "secret.txt", "%2e%2e%2fsecret.txt", "missing.png"):
        r = await client.get(f"/events/images/{name}")
        assert r.status_code == 404 and "sk-0123456789" not in r.text


def test_the_default_upload_directory_is_not_under_static():
    default = Settings().upload_dir.resolve()
    assert not default.is_relative_to(STATIC_DIR.resolve())


# --- the checks themselves --------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "content_type", "size"),
    [
        (png(7, 5), "image/png", (7, 5)),
        (jpeg(640, 480), "image/jpeg", (640, 480)),
        (webp(320, 200), "image/webp", (320, 200)),
        (gif(3, 2), "image/gif", (3, 2)),
    ],
)
def test_each_image_type_is_recognised_with_its_dimensions(data, content_type, size):
    image = uploads.check_image(data)
    assert image.content_type == content_type
    assert (image.width, image.height) == size


def test_the_name_and_claimed_type_play_no_part():
    for data in HOSTILE.values():
        with pytest.raises(DomainError) as refused:
            uploads.check_image(data)
        assert refused.value.status in (415, 422)


def test_location_and_text_metadata_are_removed():
    gps = b"GPSLatitude 31.2304 N GPSLongitude 121.4737 E"
    for data in (jpeg(exif=gps), png(text=gps), webp(exif=gps)):
        clean = uploads.check_image(data).data
        assert b"GPSLatitude" not in clean
        assert uploads.image_size(clean, uploads.sniff_image(clean)[0]) is not None
    stripped = uploads.check_image(webp(exif=gps)).data
    assert stripped[20] & 0x08 == 0  # the VP8X flag no longer announces EXIF


def test_anything_after_the_end_of_a_png_is_dropped():
    tail = b"<script>alert(1)</script>"
    clean = uploads.check_image(png(trailer=tail)).data
    assert clean == png() and tail not in clean


def test_empty_and_oversized_files_are_refused():
    with pytest.raises(DomainError) as empty:
        uploads.check_image(b"")
    assert empty.value.code == "empty_file"
    with pytest.raises(DomainError) as big:
        uploads.check_image(png(), max_bytes=10)
    assert big.value.status == 413


def test_a_download_name_is_safe_in_a_header():
    header = uploads.content_disposition("attachment", '起草"说明\r\n.pdf')
    assert "\r" not in header and "\n" not in header
    assert header.startswith('attachment; filename="')
    assert header.count('"') == 2
