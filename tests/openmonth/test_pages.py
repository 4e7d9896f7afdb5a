"""HTML pages: residents register with plain forms; staff manage, export, phone in, check in."""

from __future__ import annotations

from datetime import timedelta

from canyu.core import clock
from canyu.openmonth.models import OpenEvent, Registration
from conftest import csrf_of, html_sign_in, html_staff_sign_in
from openmonth.conftest import create_event, organizer, residents


async def test_catalogue_and_calendar_show_places_left(client):
    org = await organizer(client)
    event = await create_event(client, org, capacity=7, title="走进浦东城运中心")
    page = await client.get("/events")
    assert page.status_code == 200
    assert "走进浦东城运中心" in page.text and "剩余名额 7 个" in page.text
    month = clock.local(clock.now() + timedelta(days=10)).strftime("%Y-%m")
    cal = await client.get(f"/events?view=calendar&month={month}")
    assert cal.status_code == 200 and f"/events/{event['id']}" in cal.text
    assert (await client.get("/events/424242")).status_code == 404


async def test_catalogue_lists_what_is_ahead_first_and_past_events_as_over(client):
    org = await organizer(client)
    await create_event(client, org, capacity=7, title="下月的开放日")
    past = await create_event(client, org, capacity=9, title="上月的开放日")
    closed = await create_event(client, org, capacity=5, title="报名已截止的开放日")
    await OpenEvent.filter(id=past["id"]).update(
        starts_at=clock.now() - timedelta(days=30),
        ends_at=clock.now() - timedelta(days=30) + timedelta(hours=2),
        registration_closes_at=clock.now() - timedelta(days=31),
    )
    await OpenEvent.filter(id=closed["id"]).update(
        registration_closes_at=clock.now() - timedelta(hours=1)
    )
    text = (await client.get("/events")).text
    assert text.index("下月的开放日") < text.index("往期活动") < text.index("上月的开放日")
    past_card = text[text.index("上月的开放日") :]
    assert "已结束" in past_card and "剩余名额 9 个" not in past_card
    closed_card = text[text.index("报名已截止的开放日") : text.index("往期活动")]
    assert "报名已截止" in closed_card and "剩余名额 5 个" not in closed_card
    assert "剩余名额 7 个" in text
    over = (await client.get(f"/events/{past['id']}")).text
    assert "已结束" in over and "calendar.ics" not in over
    assert "calendar.ics" in (await client.get(f"/events/{closed['id']}")).text
    available = (await client.get("/events?available=1")).text
    assert "下月的开放日" in available
    assert "上月的开放日" not in available and "报名已截止的开放日" not in available


async def test_resident_registers_with_a_plain_form_and_sees_the_ticket(client, mailbox):
    org = await organizer(client)
    event = await create_event(client, org, max_companions=2, capacity=10)
    await html_sign_in(client, mailbox, "zhou.min@example.com")
    page = await client.get(f"/events/{event['id']}")
    token = csrf_of(page.text)
    bad = await client.post(
        f"/events/{event['id']}/register",
        data={"csrf_token": token, "companions": "2", "child_companions": "1"},
    )
    assert bad.status_code == 422
    assert "监护人" in bad.text
    assert 'value="2" selected' in bad.text  # what the user chose is kept
    assert await Registration.all().count() == 0
    ok = await client.post(
        f"/events/{event['id']}/register",
        data={
            "csrf_token": token,
            "companions": "2",
            "child_companions": "1",
            "guardian_consent": "1",
        },
    )
    assert ok.status_code == 303
    reg = await Registration.get()
    assert reg.places == 3 and reg.status == "confirmed"
    shown = await client.get(f"/events/{event['id']}")
    assert reg.ticket_code in shown.text
    png = await client.get(f"/me/registrations/{reg.id}/ticket.png")
    assert png.status_code == 200 and png.content.startswith(b"\x89PNG")
    mine = await client.get("/me/events")
    assert reg.ticket_code in mine.text
    cancel = await client.post(f"/me/registrations/{reg.id}/cancel", data={"csrf_token": token})
    assert cancel.status_code == 303
    assert (await Registration.get()).status == "cancelled"


async def test_form_without_csrf_token_is_refused(client, mailbox):
    org = await organizer(client)
    event = await create_event(client, org)
    await html_sign_in(client, mailbox, "no.token@example.com")
    r = await client.post(f"/events/{event['id']}/register", data={"companions": "0"})
    assert r.status_code == 403
    assert await Registration.all().count() == 0


async def test_registrants_are_visible_only_to_the_events_unit(client):
    org = await organizer(client)
    event = await create_event(client, org)
    await html_staff_sign_in(client, "zhangjiang", "organizer", "张江镇")
    assert (await client.get(f"/staff/events/{event['id']}")).status_code == 403
    assert (await client.get(f"/staff/events/{event['id']}/registrants.csv")).status_code == 403
    assert (await client.get(f"/staff/events/{event['id']}/checkin")).status_code == 403
    listing = await client.get("/staff/events")
    assert event["title"] not in listing.text


async def test_export_is_formula_safe(client):
    from canyu.accounts.models import Resident

    org = await organizer(client)
    event = await create_event(client, org)
    [a] = await residents(1)
    await Resident.filter(id=a["id"]).update(name='=HYPERLINK("http://evil")')
    await client.post(f"/api/v1/events/{event['id']}/registrations", json={}, headers=a["headers"])
    await html_staff_sign_in(client, "chengyun", "organizer", "区城运中心")
    csv = await client.get(f"/staff/events/{event['id']}/registrants.csv")
    assert csv.status_code == 200
    text = csv.content.decode("utf-8-sig")
    assert "'=HYPERLINK" in text and "\n=HYPERLINK" not in text and ",=HYPERLINK" not in text
    xlsx = await client.get(f"/staff/events/{event['id']}/registrants.xlsx")
    assert xlsx.status_code == 200 and xlsx.content.startswith(b"PK")


async def test_staff_register_a_hotline_caller_by_hand(client, mailbox):
    org = await organizer(client)
    event = await create_event(client, org, capacity=1)
    await html_staff_sign_in(client, "chengyun", "organizer", "区城运中心")
    page = await client.get(f"/staff/events/{event['id']}")
    token = csrf_of(page.text)
    bad = await client.post(
        f"/staff/events/{event['id']}/phone",
        data={"csrf_token": token, "name": "李阿姨", "phone": "12345"},
    )
    assert bad.status_code == 422 and "李阿姨" in bad.text
    ok = await client.post(
        f"/staff/events/{event['id']}/phone",
        data={
            "csrf_token": token,
            "name": "李阿姨",
            "phone": "13912345678",
            "email": "li.ayi@example.com",
        },
    )
    assert ok.status_code == 303
    reg = await Registration.get()
    assert (reg.source, reg.status, reg.name) == ("phone", "confirmed", "李阿姨")
    twice = await client.post(
        f"/staff/events/{event['id']}/phone",
        data={"csrf_token": token, "name": "李阿姨", "phone": "139 1234 5678"},
    )
    assert twice.status_code == 409
    await mailbox.deliver()
    assert mailbox.to("li.ayi@example.com")


async def test_staff_narrow_the_registrants_to_a_status_or_a_name(client):
    org = await organizer(client)
    event = await create_event(client, org, capacity=2)
    await html_staff_sign_in(client, "chengyun", "organizer", "区城运中心")
    token = csrf_of((await client.get(f"/staff/events/{event['id']}")).text)
    for name, phone in (("李阿姨", "13912345678"), ("王伯伯", "13912345679"), ("张奶奶", "13912345670")):
        r = await client.post(
            f"/staff/events/{event['id']}/phone",
            data={"csrf_token": token, "name": name, "phone": phone},
        )
        assert r.status_code == 303
    everyone = (await client.get(f"/staff/events/{event['id']}")).text
    assert all(n in everyone for n in ("李阿姨", "王伯伯", "张奶奶"))
    assert "显示 3 份，共 3 份报名" in everyone
    waiting = (await client.get(f"/staff/events/{event['id']}?status=waitlisted")).text
    assert "张奶奶" in waiting and "李阿姨" not in waiting and "显示 1 份，共 3 份报名" in waiting
    by_phone = (await client.get(f"/staff/events/{event['id']}?q=5679")).text
    assert "王伯伯" in by_phone and "张奶奶" not in by_phone
    nothing = (await client.get(f"/staff/events/{event['id']}?q=赵&status=bogus")).text
    assert "显示 0 份，共 3 份报名" in nothing and "还没有人报名" not in nothing


async def test_no_shows_are_marked_after_the_start(client):
    org = await organizer(client)
    event = await create_event(client, org)
    a, b = await residents(2)
    ra = (
        await client.post(
            f"/api/v1/events/{event['id']}/registrations", json={}, headers=a["headers"]
        )
    ).json()
    rb = (
        await client.post(
            f"/api/v1/events/{event['id']}/registrations", json={}, headers=b["headers"]
        )
    ).json()
    await client.post("/api/v1/checkins", json={"ticket_code": ra["ticket_code"]}, headers=org)
    await html_staff_sign_in(client, "chengyun", "organizer", "区城运中心")
    token = csrf_of((await client.get(f"/staff/events/{event['id']}")).text)
    early = await client.post(
        f"/staff/events/{event['id']}/no-shows",
        data={"csrf_token": token, "registration_id": str(rb["id"])},
    )
    assert early.status_code == 422
    clock.travel(timedelta(days=10, hours=3))
    r = await client.post(
        f"/staff/events/{event['id']}/no-shows",
        data={"csrf_token": token, "registration_id": [str(ra["id"]), str(rb["id"])]},
    )
    assert r.status_code == 303
    assert [x.no_show for x in await Registration.all().order_by("id")] == [False, True]


async def test_cancelling_an_event_mails_everyone_and_frees_places(client, mailbox):
    org = await organizer(client)
    event = await create_event(client, org, capacity=1)
    a, b = await residents(2)
    for person in (a, b):
        await client.post(
            f"/api/v1/events/{event['id']}/registrations", json={}, headers=person["headers"]
        )
    await html_staff_sign_in(client, "chengyun", "organizer", "区城运中心")
    token = csrf_of((await client.get(f"/staff/events/{event['id']}")).text)
    empty = await client.post(
        f"/staff/events/{event['id']}/cancel", data={"csrf_token": token, "reason": ""}
    )
    assert empty.status_code == 422
    r = await client.post(
        f"/staff/events/{event['id']}/cancel",
        data={"csrf_token": token, "reason": "台风预警，活动取消"},
    )
    assert r.status_code == 303
    assert {x.status for x in await Registration.all()} == {"cancelled"}
    assert (await OpenEvent.get(id=event["id"])).taken == 0
    await mailbox.deliver()
    for person in (a, b):
        assert any(
            "活动取消" in str(m["Subject"]) and "台风预警" in m.get_body(("plain",)).get_content()
            for m in mailbox.to(person["email"])
        )
    again = await client.post(
        f"/api/v1/events/{event['id']}/registrations", json={}, headers=a["headers"]
    )
    assert again.status_code == 422


async def test_check_in_page_answers_large_and_clear(client):
    org = await organizer(client)
    event = await create_event(client, org)
    [a] = await residents(1)
    reg = (
        await client.post(
            f"/api/v1/events/{event['id']}/registrations", json={}, headers=a["headers"]
        )
    ).json()
    await html_staff_sign_in(client, "chengyun", "organizer", "区城运中心")
    page = await client.get(f"/staff/events/{event['id']}/checkin")
    token = csrf_of(page.text)
    ok = await client.post(
        f"/staff/events/{event['id']}/checkin",
        data={"csrf_token": token, "ticket_code": reg["ticket_code"]},
    )
    assert ok.status_code == 200 and "签到成功" in ok.text
    again = await client.post(
        f"/staff/events/{event['id']}/checkin",
        data={"csrf_token": token, "ticket_code": reg["ticket_code"]},
    )
    assert again.status_code == 409 and "已于" in again.text
    typed = await client.post(
        f"/staff/events/{event['id']}/checkin",
        data={"csrf_token": token, "ticket_code": "ZZZZZZZZZZ"},
    )
    assert typed.status_code == 404 and "无效的电子票号。" in typed.text
    unknown = await client.post(
        f"/staff/events/{event['id']}/checkin",
        headers={"Accept": "application/json"},
        data={"csrf_token": token, "ticket_code": "ZZZZZZZZZZ"},
    )
    assert unknown.status_code == 404 and unknown.json()["status"] == "refused"


async def test_staff_create_an_event_with_the_form(client):
    await html_staff_sign_in(client, "chengyun", "organizer", "区城运中心")
    token = csrf_of((await client.get("/staff/events/new")).text)
    form = {
        "csrf_token": token,
        "title": "走进城运中心",
        "summary": "参观",
        "theme": "城市治理",
        "mode": "offline",
        "location": "世纪大道 2001 号",
        "starts_at": "2026-08-12T09:30",
        "ends_at": "2026-08-12T08:30",
        "capacity": "40",
        "max_companions": "1",
    }
    bad = await client.post("/staff/events/new", data=form)
    assert bad.status_code == 422 and "走进城运中心" in bad.text
    form["ends_at"] = "2026-08-12T11:30"
    form["registration_opens_at"] = "2026-07-20T09:00"
    ok = await client.post("/staff/events/new", data=form)
    assert ok.status_code == 303
    event = await OpenEvent.get()
    assert clock.local(event.starts_at).strftime("%Y-%m-%d %H:%M") == "2026-08-12 09:30"
    assert event.unit_name == "区城运中心" and not event.published


async def test_home_page_lists_upcoming_events(client):
    org = await organizer(client)
    await create_event(client, org, title="浦东新区档案馆开放日")
    from canyu.core import nav
    from canyu.core.templating import render_string

    [section] = [s for s in nav.HOME if s.template == "openmonth/_home.html"]
    html = render_string(section.template, {"ctx": await section.loader()})
    assert "浦东新区档案馆开放日" in html and "剩余名额 2 个" in html
