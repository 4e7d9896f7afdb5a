"""``canyu demo`` loads a realistic consultation, twice without change."""

from __future__ import annotations

from canyu.consultations import service
from canyu.consultations.models import Comment, Consultation
from canyu.demo import load


async def test_demo_is_realistic_and_idempotent(client, mailbox):
    lines = await load()
    assert any("consultations" in line for line in lines)
    count = await Consultation.all().count()
    comments = await Comment.all().count()
    await load()
    assert await Consultation.all().count() == count == 2
    assert await Comment.all().count() == comments
    statuses = set(await Comment.all().values_list("status", flat=True))
    assert statuses == {"pending", "published", "rejected"}
    closed = await Consultation.get(title__contains="涉企政策")
    report = await service.report_of(closed.id)
    assert report["received"] == 3
    opened = await Consultation.get(title__contains="留言板")
    assert service.phase_of(opened) == "open"
    for path in (f"/consultations/{opened.id}", f"/consultations/{closed.id}/report", "/board", "/consultations"):
        assert (await client.get(path)).status_code == 200, path
