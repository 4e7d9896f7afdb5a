"""Event images: the organizer uploads one with the event form; residents see it on the event
page (described by the event's title) and as a thumbnail in the catalogue."""

from __future__ import annotations

import re

from canyu.openmonth.models import OpenEvent
from conftest import csrf_of, html_staff_sign_in
from images import jpeg
from openmonth.conftest import create_event, organizer


async def test_organizer_uploads_an_image_that_residents_see(client, settings):
    await html_staff_sign_in(client, "chengyun", "organizer", "区城运中心")
    page = await client.get("/staff/events/new")
    assert 'enctype="multipart/form-data"' in page.text and 'type="file"' in page.text
    form = {
        "csrf_token": csrf_of(page.text),
        "title": "走进城运中心",
        "summary": "参观城市大脑。",
        "theme": "城市治理",
        "mode": "offline",
        "location": "世纪大道 2001 号",
        "starts_at": "2031-08-12T09:30",
        "ends_at": "2031-08-12T11:30",
        "capacity": "40",
        "published": "1",
    }
    photo = jpeg(1200, 800, exif=b"GPSLatitude 31.2304 N")
    r = await client.post(
        "/staff/events/new", data=form, files={"image": ("城运中心.jpg", photo, "image/jpeg")}
    )
    assert r.status_code == 303, r.text
    event = await OpenEvent.get()
    name = event.image_url.rsplit("/", 1)[-1]
    assert re.fullmatch(r"[0-9a-f]{32}\.jpg", name)

    client.cookies.clear()  # a visitor who is not signed in
    detail = await client.get(f"/events/{event.id}")
    assert detail.status_code == 200
    assert f'<img class="om-image" src="/events/images/{name}" alt="走进城运中心">' in detail.text
    catalogue = await client.get("/events")
    assert f'<img class="om-thumb" src="/events/images/{name}" alt="" loading="lazy">' in (
        catalogue.text
    )
    served = await client.get(f"/events/images/{name}")
    assert served.status_code == 200 and served.headers["content-type"] == "image/jpeg"
    assert b"GPSLatitude" not in served.content  # the phone's location is not published
    assert served.content.startswith(b"\xff\xd8")
    # The API gives the image, and an event that becomes a vote candidate brings its picture.
    api = (await client.get(f"/api/v1/events/{event.id}")).json()
    assert api["image_url"].endswith(f"/events/images/{name}")
    from canyu.openmonth import service

    assert (await service.event_brief(event.id))["photo_url"] == f"/events/images/{name}"


async def test_an_event_without_an_upload_shows_no_image(client):
    org = await organizer(client)
    linked = await create_event(
        client, org, title="外链图片的活动", image_url="https://example.com/tracker.png"
    )
    await create_event(client, org, title="没有图片的活动")
    detail = await client.get(f"/events/{linked['id']}")
    assert "tracker.png" not in detail.text and "om-image" not in detail.text
    assert "om-thumb" not in (await client.get("/events")).text


async def test_the_form_without_an_image_creates_the_event_without_one(client, settings):
    await html_staff_sign_in(client, "chengyun", "organizer", "区城运中心")
    token = csrf_of((await client.get("/staff/events/new")).text)
    form = {
        "csrf_token": token,
        "title": "浦东档案馆开放日",
        "summary": "看档案。",
        "starts_at": "2031-09-01T09:30",
        "ends_at": "2031-09-01T11:30",
        "capacity": "20",
    }
    r = await client.post(
        "/staff/events/new", data=form, files={"image": ("", b"", "application/octet-stream")}
    )
    assert r.status_code == 303, r.text
    assert (await OpenEvent.get()).image_url == ""
    typed = await client.post(
        "/staff/events/new", data={**form, "image_url": "https://example.com/x.png"}
    )
    assert typed.status_code == 303  # the form sets an image by upload only
    assert [e.image_url for e in await OpenEvent.all()] == ["", ""]
    assert not (settings.upload_dir / "openmonth").exists()
