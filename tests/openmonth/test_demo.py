"""``canyu demo`` gains a realistic August programme, loaded idempotently."""

from __future__ import annotations

from canyu.openmonth import demo, service
from canyu.openmonth.models import OpenEvent, Registration


async def test_demo_programme_is_idempotent_and_consistent(app):
    first = await demo.load()
    events = await OpenEvent.all().count()
    registrations = await Registration.all().count()
    assert events == len(demo.PROGRAMME) + len(demo.PAST)
    second = await demo.load()
    assert (await OpenEvent.all().count(), await Registration.all().count()) == (
        events,
        registrations,
    )
    assert "0 events" in second[0] and first != second
    assert await service.reconcile() == []
    full = [e for e in await OpenEvent.all() if e.taken == e.capacity]
    assert full, "some events are full"
    counts = await service.counts([e.id for e in full])
    assert any(counts[e.id]["waitlisted"] for e in full)
    rated = [b for b in await service.event_briefs() if b["average_rating"] is not None]
    assert len(rated) == len(demo.PAST)
