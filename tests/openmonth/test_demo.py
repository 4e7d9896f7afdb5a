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


async def test_demo_registrations_came_in_while_registration_was_open(app):
    from canyu.core import clock

    await demo.load()
    events = {e.id: e for e in await OpenEvent.all()}
    upcoming = [e for e in events.values() if e.starts_at > clock.now()]
    assert upcoming
    for event in upcoming:
        assert event.created_at < event.registration_opens_at < clock.now()
        assert clock.local(event.registration_opens_at).strftime("%H:%M") == "09:00"
    for registration in await Registration.filter(event_id__in=[e.id for e in upcoming]):
        event = events[registration.event_id]
        assert event.registration_opens_at < registration.created_at <= clock.now()
        if registration.status == "confirmed":
            assert registration.confirmed_at == registration.created_at


async def test_demo_waiting_lists_form_only_behind_full_events(app):
    await demo.load()
    events = await OpenEvent.all()
    counts = await service.counts([e.id for e in events])
    for event in events:
        if counts[event.id]["waitlisted"]:
            assert event.taken == event.capacity, event.title
    assert any(counts[e.id]["waitlisted"] for e in events)


async def test_demo_registrations_of_past_events_came_in_before_registration_closed(app):
    from canyu.core import clock

    await demo.load()
    past = {e.id: e for e in await OpenEvent.all() if e.ends_at <= clock.now()}
    assert past
    for registration in await Registration.filter(event_id__in=list(past)):
        event = past[registration.event_id]
        assert event.registration_opens_at < registration.created_at
        assert registration.created_at <= event.registration_closes_at < event.starts_at
        if registration.checked_in_at is not None:
            assert registration.created_at < registration.checked_in_at
