"""Candidate photos: the admin uploads them with the campaign form, each named at the end of its
candidate's line; voters see them; anything that is not an image is refused and nothing kept."""

from __future__ import annotations

import re
from datetime import timedelta

from canyu.core import clock
from canyu.voting.models import Campaign, Candidate
from conftest import csrf_of, html_sign_in, html_staff_sign_in
from images import HOSTILE, gif, png


def _local(delta: timedelta) -> str:
    return clock.local(clock.now() + delta).strftime("%Y-%m-%dT%H:%M")


async def _form(client) -> dict[str, str]:
    await html_staff_sign_in(client, "vote-admin", "admin")
    page = await client.get("/staff/campaigns")
    assert 'enctype="multipart/form-data"' in page.text and 'name="photos"' in page.text
    return {
        "csrf_token": csrf_of(page.text),
        "title": "最受欢迎的开放活动",
        "opens_at": _local(timedelta(hours=-1)),
        "closes_at": _local(timedelta(days=3)),
        "ballots_per_day": "1",
        "choices_per_ballot": "1",
        "public_weight": "0.7",
        "expert_weight": "0.3",
        "candidates": "社区花园|garden.png\n市民议事厅\n滨江步道|river.gif",
    }


def _stored(settings) -> list:
    folder = settings.upload_dir / "voting"
    return sorted(folder.iterdir()) if folder.exists() else []


async def test_admin_uploads_candidate_photos_that_voters_see(client, mailbox, settings):
    form = await _form(client)
    garden, river = png(8, 6), gif(4, 4)
    r = await client.post(
        "/staff/campaigns",
        data=form,
        files=[
            ("photos", ("garden.png", garden, "image/png")),
            ("photos", ("river.gif", river, "image/gif")),
        ],
    )
    assert r.status_code == 303, r.text
    campaign = await Campaign.get()
    photos = {
        c.title: c.photo_url
        for c in await Candidate.filter(campaign_id=campaign.id).order_by("position")
    }
    assert photos["市民议事厅"] == ""
    assert re.fullmatch(r"/campaigns/photos/[0-9a-f]{32}\.png", photos["社区花园"])
    assert re.fullmatch(r"/campaigns/photos/[0-9a-f]{32}\.gif", photos["滨江步道"])
    assert len(_stored(settings)) == 2

    served = await client.get(photos["社区花园"])
    assert served.status_code == 200 and served.content == garden
    assert served.headers["content-type"] == "image/png"
    assert served.headers["x-content-type-options"] == "nosniff"
    assert served.headers["content-security-policy"].startswith("default-src 'none'")

    client.cookies.clear()
    await html_sign_in(client, mailbox, "voter@example.com")
    ballot = await client.get(f"/campaigns/{campaign.id}")
    assert f'<img class="vote-thumb" src="{photos["社区花园"]}" alt=""' in ballot.text
    client.cookies.clear()
    public = await client.get(f"/campaigns/{campaign.id}")
    assert f'<img class="vote-photo" src="{photos["滨江步道"]}" alt="滨江步道">' in public.text


async def test_a_photo_that_is_not_an_image_is_refused_and_nothing_is_kept(client, settings):
    form = await _form(client)
    r = await client.post(
        "/staff/campaigns",
        data=form,
        files=[
            ("photos", ("garden.png", png(), "image/png")),
            ("photos", ("river.gif", HOSTILE["vector.png"], "image/gif")),
        ],
    )
    assert r.status_code == 415
    assert "图片“river.gif”无法使用" in r.text and 'aria-invalid="true"' in r.text
    assert _stored(settings) == [] and await Campaign.all().count() == 0


async def test_named_photos_and_chosen_photos_must_match(client, settings):
    form = await _form(client)
    missing = await client.post(
        "/staff/campaigns", data=form, files=[("photos", ("garden.png", png(), "image/png"))]
    )
    assert missing.status_code == 422 and "找不到图片“river.gif”" in missing.text
    unused = await client.post(
        "/staff/campaigns",
        data={**form, "candidates": "社区花园\n市民议事厅"},
        files=[("photos", ("garden.png", png(), "image/png"))],
    )
    assert unused.status_code == 422 and "图片“garden.png”没有对应的候选" in unused.text
    assert _stored(settings) == [] and await Campaign.all().count() == 0


async def test_photos_stored_for_a_refused_campaign_are_removed(client, settings):
    form = await _form(client)
    r = await client.post(
        "/staff/campaigns",
        data={**form, "expert_weight": "0.5", "candidates": "社区花园|garden.png"},
        files=[("photos", ("garden.png", png(), "image/png"))],
    )
    assert r.status_code == 422 and "合计为 1" in r.text
    assert _stored(settings) == [] and await Campaign.all().count() == 0


async def test_an_event_line_may_name_a_photo(client, settings):
    form = await _form(client)
    r = await client.post(
        "/staff/campaigns",
        data={**form, "candidates": "12|张江科学城开放日|zj.png\n市民议事厅"},
        files=[("photos", ("zj.png", png(), "image/png"))],
    )
    assert r.status_code == 303, r.text
    first = await Candidate.filter(position=0).get()
    assert first.event_id == 12 and first.title == "张江科学城开放日"
    assert first.photo_url.startswith("/campaigns/photos/")
