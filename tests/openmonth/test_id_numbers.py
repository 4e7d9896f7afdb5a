"""ID numbers of events that check ID on site (现场核验身份证件): required and validated before
anything is stored, stored only encrypted, one registration per ID number and event whatever
the account, shown masked to the event's staff and to the owner, never whole, never in mails,
public pages or API answers."""

from __future__ import annotations

import io
import json

import pytest
from openpyxl import load_workbook

from canyu.audit.models import AuditEntry
from canyu.core import sql
from canyu.core.id_numbers import check_character
from canyu.core.security import decrypt
from canyu.notify.models import OutboxMail
from canyu.openmonth.models import MonthlyPlaces, OpenEvent, Registration
from conftest import csrf_of, html_sign_in, html_staff_sign_in, sign_in
from openmonth.conftest import create_event, organizer, residents


def _number(first17: str) -> str:
    return first17 + check_character(first17)


ID_A = _number("31011519850612031")
ID_B = _number("31011519620228452")
MASK_A = ID_A[:4] + "*" * 10 + ID_A[-4:]
MASK_B = ID_B[:4] + "*" * 10 + ID_B[-4:]


def _whole(number: str) -> list[str]:
    """What must never be seen: the number, and its hidden middle (birth date and sequence)."""
    return [number, number[4:14]]


def _shows_none_of(text: str, *numbers: str) -> bool:
    return not any(part in text for n in numbers for part in _whole(n))


async def _register(client, event_id, person, **body):
    if "id_number" in body:
        body.setdefault("id_number_consent", True)
    return await client.post(
        f"/api/v1/events/{event_id}/registrations", json=body, headers=person["headers"]
    )


async def _snapshot():
    return (
        [(e.id, e.taken) for e in await OpenEvent.all().order_by("id")],
        [
            (r.id, r.status, r.id_number_encrypted, r.id_number_hash)
            for r in await Registration.all().order_by("id")
        ],
        [(m.person_key, m.places) for m in await MonthlyPlaces.all().order_by("id")],
    )


async def _stored_elsewhere() -> str:
    """Every mail in the outbox and every audit entry, as text."""
    mails = [(m.subject, m.body_text, m.body_html, m.attachments) for m in await OutboxMail.all()]
    audits = [(a.action, a.details) for a in await AuditEntry.all()]
    return json.dumps([mails, audits], ensure_ascii=False, default=str)


def _mail_text(message) -> str:
    parts = [str(message["Subject"])]
    for part in message.walk():
        payload = part.get_payload(decode=True)
        if payload:
            parts.append(payload.decode("utf-8", "replace"))
    return "\n".join(parts)


async def test_api_requires_a_valid_id_number_and_stores_it_only_encrypted(client, mailbox):
    org = await organizer(client)
    event = await create_event(client, org, id_check=True, capacity=5)
    person = await sign_in(client, mailbox, "xu.ming@example.com")
    before = await _snapshot()

    missing = await _register(client, event["id"], person, companions=0)
    assert missing.status_code == 422
    error = missing.json()["error"]
    assert error["code"] == "id_number_required" and "身份证号码" in error["message"]
    for bad, words in (
        (ID_A[:17] + ("0" if ID_A[-1] != "0" else "1"), "校验位"),
        ("310115198506120", "15 位"),
        (_number("31011519850231031"), "出生日期"),
        ("31011519850612031Y", "18 位"),
    ):
        r = await _register(client, event["id"], person, id_number=bad)
        assert r.status_code == 422, bad
        assert r.json()["error"]["code"] == "invalid_id_number"
        assert words in r.json()["error"]["message"], bad
    assert await _snapshot() == before

    ok = await _register(client, event["id"], person, companions=0, id_number=ID_A.lower())
    assert ok.status_code == 201, ok.text
    assert set(ok.json()) == {"id", "status", "ticket_code", "places"}
    assert ok.json()["status"] == "confirmed" and _shows_none_of(ok.text, ID_A)

    reg = await Registration.get(id=ok.json()["id"])
    assert reg.id_number_encrypted.startswith("v1:")
    assert decrypt(reg.id_number_encrypted) == ID_A  # X stored uppercase, whatever was typed
    assert len(reg.id_number_hash or "") == 64
    row = await sql.fetch_one("SELECT * FROM openmonth_registration WHERE id = ?", reg.id)
    assert _shows_none_of(json.dumps(row, default=str), ID_A)

    # The owner sees it masked on their pages; their API answers and public ones do not show it.
    mine = (await client.get("/api/v1/me/registrations", headers=person["headers"])).text
    public = [
        (await client.get(f"/api/v1/events/{event['id']}")).text,
        (await client.get("/api/v1/events")).text,
        (await client.get(f"/events/{event['id']}")).text,
        (await client.get("/events")).text,
    ]
    for text in (mine, *public):
        assert _shows_none_of(text, ID_A) and MASK_A not in text

    # Mails (the confirmation, its ticket and calendar file) and the audit log hold none of it.
    await mailbox.deliver()
    [mail] = [m for m in mailbox.to("xu.ming@example.com") if "报名成功" in str(m["Subject"])]
    assert _shows_none_of(_mail_text(mail), ID_A) and MASK_A not in _mail_text(mail)
    assert _shows_none_of(await _stored_elsewhere(), ID_A)


async def test_events_without_id_check_collect_no_id_number(client, mailbox):
    org = await organizer(client)
    event = await create_event(client, org, capacity=5)
    first, second = await residents(2)
    r = await _register(client, event["id"], first, companions=0)
    assert r.status_code == 201
    assert set(r.json()) == {"id", "status", "ticket_code", "places"}
    # A number sent anyway is not collected: nothing of it is stored.
    r = await _register(client, event["id"], second, id_number=ID_B)
    assert r.status_code == 201
    for reg in await Registration.all():
        assert (reg.id_number_encrypted, reg.id_number_hash) == ("", None)
    await html_sign_in(client, mailbox, "third@example.com")
    page = await client.get(f"/events/{event['id']}")
    assert 'name="id_number"' not in page.text


async def test_one_id_number_registers_once_per_event_whatever_the_account(client):
    org = await organizer(client)
    event = await create_event(client, org, id_check=True, capacity=5)
    other_event = await create_event(client, org, id_check=True, title="第二场")
    first, second = await residents(2)
    assert (await _register(client, event["id"], first, id_number=ID_A)).status_code == 201
    before = await _snapshot()
    twice = await _register(client, event["id"], second, id_number=ID_A)
    assert twice.status_code == 409
    assert twice.json()["error"]["code"] == "id_number_already_registered"
    assert "身份证号码" in twice.json()["error"]["message"]
    assert await _snapshot() == before
    # The same person again is "already registered", whatever number they give.
    again = await _register(client, event["id"], first, id_number=ID_B)
    assert again.status_code == 409 and again.json()["error"]["code"] == "already_registered"
    # Another event takes the same number.
    assert (await _register(client, other_event["id"], second, id_number=ID_A)).status_code == 201

    # Once the first registration is cancelled, the number may register with another account.
    mine = await Registration.get(event_id=event["id"], resident_id=first["id"])
    r = await client.delete(f"/api/v1/registrations/{mine.id}", headers=first["headers"])
    assert r.status_code == 200
    moved = await _register(client, event["id"], second, id_number=ID_A)
    assert moved.status_code == 201
    cancelled = await Registration.get(id=mine.id)
    assert cancelled.status == "cancelled" and cancelled.id_number_hash is None
    held = await Registration.get(id=moved.json()["id"])
    assert decrypt(held.id_number_encrypted) == ID_A
    # Now the first account cannot take it back, but registers again with its own number.
    back = await _register(client, event["id"], first, id_number=ID_A)
    assert (
        back.status_code == 409 and back.json()["error"]["code"] == "id_number_already_registered"
    )
    own = await _register(client, event["id"], first, id_number=ID_B)
    assert own.status_code == 201 and own.json()["id"] == mine.id
    assert decrypt((await Registration.get(id=mine.id)).id_number_encrypted) == ID_B


async def test_the_registration_form_states_the_notice_and_requires_the_number(client, mailbox):
    org = await organizer(client)
    event = await create_event(client, org, id_check=True, capacity=5)
    await html_sign_in(client, mailbox, "gu.lan@example.com")
    page = await client.get(f"/events/{event['id']}")
    text = page.text
    # Purpose, kinds, handling and retention are stated before the field and the button.
    notice = text.index("用途：仅用于入场时与您出示的证件核对")
    assert notice < text.index('name="id_number"') < text.index('type="submit"', notice)
    assert "加密保存" in text and "活动结束后 7 天" in text and "注销账号时立即删除" in text
    assert "我单独同意主办单位按上述用途和期限处理我的身份证号码" in text
    token = csrf_of(text)

    missing = await client.post(f"/events/{event['id']}/register", data={"csrf_token": token})
    assert missing.status_code == 422 and "请填写报名人的居民身份证号码" in missing.text
    assert 'aria-invalid="true"' in missing.text
    wrong = ID_A[:17] + ("0" if ID_A[-1] != "0" else "1")
    bad = await client.post(
        f"/events/{event['id']}/register", data={"csrf_token": token, "id_number": wrong, "id_number_consent": "1"}
    )
    assert bad.status_code == 422 and "校验位" in bad.text
    assert await Registration.all().count() == 0

    unconsented = await client.post(
        f"/events/{event['id']}/register", data={"csrf_token": token, "id_number": ID_A}
    )
    assert unconsented.status_code == 422 and "请勾选单独同意" in unconsented.text
    assert await Registration.all().count() == 0
    ok = await client.post(
        f"/events/{event['id']}/register",
        data={"csrf_token": token, "id_number": ID_A, "id_number_consent": "1"},
    )
    assert ok.status_code == 303
    reg = await Registration.get()
    assert decrypt(reg.id_number_encrypted) == ID_A
    for path in (f"/events/{event['id']}", "/me/events"):
        shown = (await client.get(path)).text
        assert MASK_A in shown and _shows_none_of(shown, ID_A), path


async def test_staff_see_it_masked_in_the_list_the_exports_and_at_check_in(client):
    org = await organizer(client)
    event = await create_event(client, org, id_check=True, capacity=5)
    plain = await create_event(client, org, title="不核验证件的活动")
    a, b = await residents(2)
    reg = (await _register(client, event["id"], a, id_number=ID_A)).json()
    await _register(client, plain["id"], b)
    await html_staff_sign_in(client, "chengyun", "organizer", "区城运中心")

    page = (await client.get(f"/staff/events/{event['id']}")).text
    assert MASK_A in page and _shows_none_of(page, ID_A)
    assert "身份证号码" not in (await client.get(f"/staff/events/{plain['id']}")).text

    csv = await client.get(f"/staff/events/{event['id']}/registrants.csv")
    text = csv.content.decode("utf-8-sig")
    header, row = text.splitlines()[:2]
    assert header.endswith("身份证号码（脱敏）") and row.endswith(MASK_A)
    assert _shows_none_of(text, ID_A)
    xlsx = await client.get(f"/staff/events/{event['id']}/registrants.xlsx")
    sheet = load_workbook(io.BytesIO(xlsx.content)).active
    cells = [[c.value for c in r] for r in sheet.iter_rows()]
    assert cells[0][-1] == "身份证号码（脱敏）" and cells[1][-1] == MASK_A
    assert _shows_none_of(json.dumps(cells, ensure_ascii=False, default=str), ID_A)
    plain_csv = await client.get(f"/staff/events/{plain['id']}/registrants.csv")
    assert "身份证号码" not in plain_csv.content.decode("utf-8-sig")

    # The door compares the masked number with the card.
    token = csrf_of((await client.get(f"/staff/events/{event['id']}/checkin")).text)
    checked = await client.post(
        f"/staff/events/{event['id']}/checkin",
        data={"csrf_token": token, "ticket_code": reg["ticket_code"]},
    )
    assert checked.status_code == 200 and "签到成功" in checked.text
    assert MASK_A in checked.text and "请与证件核对" in checked.text
    assert _shows_none_of(checked.text, ID_A)
    again = await client.post(
        f"/staff/events/{event['id']}/checkin",
        headers={"Accept": "application/json"},
        data={"csrf_token": token, "ticket_code": reg["ticket_code"]},
    )
    assert again.status_code == 409 and again.json()["id_number"] == MASK_A


async def test_hotline_registration_takes_the_callers_id_number(client):
    org = await organizer(client)
    event = await create_event(client, org, id_check=True, capacity=5)
    await html_staff_sign_in(client, "chengyun", "organizer", "区城运中心")
    page = (await client.get(f"/staff/events/{event['id']}")).text
    assert 'name="id_number"' in page and "请先告知来电人" in page
    token = csrf_of(page)
    caller = {"csrf_token": token, "name": "陆阿姨", "phone": "13912345678"}

    missing = await client.post(f"/staff/events/{event['id']}/phone", data=caller)
    assert missing.status_code == 422 and "请填写报名人的居民身份证号码" in missing.text
    old = await client.post(
        f"/staff/events/{event['id']}/phone", data={**caller, "id_number": "310115620228452", "id_number_consent": "1"}
    )
    assert old.status_code == 422 and "15 位" in old.text
    assert await Registration.all().count() == 0

    unconsented = await client.post(
        f"/staff/events/{event['id']}/phone", data={**caller, "id_number": ID_B}
    )
    assert unconsented.status_code == 422 and "请勾选单独同意" in unconsented.text
    ok = await client.post(
        f"/staff/events/{event['id']}/phone",
        data={**caller, "id_number": ID_B, "id_number_consent": "1"},
    )
    assert ok.status_code == 303
    reg = await Registration.get()
    assert reg.source == "phone" and decrypt(reg.id_number_encrypted) == ID_B
    listing = (await client.get(f"/staff/events/{event['id']}")).text
    assert MASK_B in listing and _shows_none_of(listing, ID_B)
    assert await AuditEntry.filter(action="openmonth.phone_registration").exists()
    assert _shows_none_of(await _stored_elsewhere(), ID_B)


async def test_the_migration_adds_the_columns_to_a_table_that_holds_registrations(tmp_path):
    """0002 runs on a database that already has registrations (a NOT NULL column needs its
    database default there): they keep their data and have no ID number."""
    from tortoise import Tortoise, connections
    from tortoise.migrations.api import migrate

    from canyu.core.db import tortoise_config
    from conftest import POSTGRES_URL

    if POSTGRES_URL:
        pytest.skip("upgrades a SQLite file of its own")
    config = tortoise_config(f"sqlite://{tmp_path / 'upgrade.sqlite3'}")
    others = [app for app in config["apps"] if app != "openmonth"]
    await migrate(config=config, app_labels=others)
    await migrate(config=config, app_labels=["openmonth"], target="openmonth.0001_initial")
    await Tortoise.init(config=config, _enable_global_fallback=True)
    try:
        await connections.get("default").execute_script(
            "INSERT INTO openmonth_event (unit_id, unit_name, title, summary, theme, mode, "
            "location, district, stream_url, starts_at, ends_at, capacity, taken, "
            "registration_opens_at, registration_closes_at, cancellation_closes_at, "
            "max_companions, id_check, requirements, image_url, published, cancel_reason, "
            "created_at) VALUES (1, 'u', 't', 's', 'x', 'offline', '', '', '', '2026-08-01', "
            "'2026-08-01', 5, 2, '2026-07-01', '2026-08-01', '2026-08-01', 0, 1, '', '', 1, '', "
            "'2026-07-01');"
            "INSERT INTO openmonth_registration (event_id, person_key, name, phone, email, "
            "status, places, companions, child_companions, guardian_consent, month, no_show, "
            "source, created_at) VALUES (1, 'r1', '甲', '', '', 'confirmed', 1, 0, 0, 0, "
            "'2026-08', 0, 'web', '2026-07-01'), (1, 'r2', '乙', '', '', 'confirmed', 1, 0, 0, "
            "0, '2026-08', 0, 'web', '2026-07-01');"
        )
    finally:
        await Tortoise.close_connections()
    try:
        await migrate(config=config)
    finally:
        await Tortoise.close_connections()  # a failed migration leaves none open
    await Tortoise.init(config=config, _enable_global_fallback=True)
    try:
        rows = await connections.get("default").execute_query_dict(
            "SELECT name, id_number_encrypted, id_number_hash FROM openmonth_registration "
            "ORDER BY id"
        )
    finally:
        await Tortoise.close_connections()
    assert rows == [
        {"name": "甲", "id_number_encrypted": "", "id_number_hash": None},
        {"name": "乙", "id_number_encrypted": "", "id_number_hash": None},
    ]


async def test_id_numbers_are_deleted_a_week_after_the_event_long_before_the_rest(client):
    from datetime import timedelta

    from canyu.core import clock
    from canyu.openmonth import service

    org = await organizer(client)
    event = await create_event(client, org, id_check=True, capacity=5)
    [a] = await residents(1)
    assert (await _register(client, event["id"], a, id_number=ID_A)).status_code == 201
    stored = await OpenEvent.get(id=event["id"])
    # The day after the event: still there (a dispute about who came).
    clock.freeze(stored.ends_at + timedelta(days=1))
    assert await service.forget_id_numbers() == 0
    assert (await Registration.get()).id_number_encrypted
    # A week after it: gone, with its hash; the registration itself stays; the deletion audited.
    clock.freeze(stored.ends_at + timedelta(days=service.ID_NUMBER_DAYS, minutes=1))
    assert await service.forget_id_numbers() == 1
    reg = await Registration.get()
    assert reg.id_number_encrypted == "" and reg.id_number_hash is None
    assert reg.name and reg.status == "confirmed"
    entry = await AuditEntry.get(action="privacy.purged")
    assert entry.target_type == "openmonth_id_numbers"
    assert await service.forget_id_numbers() == 0
