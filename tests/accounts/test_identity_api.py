"""Identity endpoints of API.md: mailed codes, lockout, tokens, profile."""

from __future__ import annotations

from datetime import timedelta

from canyu.accounts.models import AuthToken, Resident, SignInCode
from canyu.core import clock
from conftest import code_in, sign_in, staff_headers


async def test_code_is_mailed_and_exchanged_for_a_token(client, mailbox):
    r = await client.post("/api/v1/auth/code", json={"email": "Li.Ming@Example.com"})
    assert r.status_code == 202
    await mailbox.deliver()
    [message] = mailbox.to("li.ming@example.com")
    code = code_in(message)
    stored = await SignInCode.get()
    assert code not in stored.code_hash  # only a hash is kept
    r = await client.post("/api/v1/auth/token", json={"email": "li.ming@example.com", "code": code})
    assert r.status_code == 200
    body = r.json()
    assert body["resident_id"] == (await Resident.get()).id
    me = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {body['token']}"})
    assert me.status_code == 200
    assert me.json()["email"] == "li.ming@example.com"


async def test_code_is_single_use(client, mailbox):
    await client.post("/api/v1/auth/code", json={"email": "a@example.com"})
    await mailbox.deliver()
    code = code_in(mailbox.to("a@example.com")[-1])
    assert (
        await client.post("/api/v1/auth/token", json={"email": "a@example.com", "code": code})
    ).status_code == 200
    again = await client.post("/api/v1/auth/token", json={"email": "a@example.com", "code": code})
    assert again.status_code == 400
    assert again.json()["error"]["code"] == "invalid_code"


async def test_code_expires_after_ten_minutes(client, mailbox):
    await client.post("/api/v1/auth/code", json={"email": "b@example.com"})
    await mailbox.deliver()
    code = code_in(mailbox.to("b@example.com")[-1])
    clock.travel(timedelta(minutes=10, seconds=1))
    r = await client.post("/api/v1/auth/token", json={"email": "b@example.com", "code": code})
    assert r.status_code == 400


async def test_plus_alias_and_case_are_the_same_person(client, mailbox):
    first = await sign_in(client, mailbox, "wang.fang@example.com")
    second = await sign_in(client, mailbox, "Wang.Fang+events@EXAMPLE.com")
    assert first["resident_id"] == second["resident_id"]
    assert await Resident.all().count() == 1


async def test_five_wrong_codes_lock_the_address_for_fifteen_minutes(client, mailbox):
    address = "locked@example.com"
    await client.post("/api/v1/auth/code", json={"email": address})
    await mailbox.deliver()
    code = code_in(mailbox.to(address)[-1])
    wrong = "000000" if code != "000000" else "111111"
    statuses = [
        (
            await client.post("/api/v1/auth/token", json={"email": address, "code": wrong})
        ).status_code
        for _ in range(5)
    ]
    assert statuses[:4] == [400, 400, 400, 400]
    assert statuses[4] in (400, 429)
    # Even the right code is refused while locked, and a new code does not lift the lock.
    r = await client.post("/api/v1/auth/token", json={"email": address, "code": code})
    assert r.status_code == 429
    assert r.json()["error"]["code"] == "locked"
    r = await client.post("/api/v1/auth/code", json={"email": address})
    assert r.status_code in (202, 429)
    await mailbox.deliver()
    newest = code_in(mailbox.to(address)[-1])
    r = await client.post("/api/v1/auth/token", json={"email": address, "code": newest})
    assert r.status_code == 429 and r.json()["error"]["code"] == "locked"
    # After fifteen minutes a fresh code works again.
    clock.travel(timedelta(minutes=15, seconds=1))
    await client.post("/api/v1/auth/code", json={"email": address})
    await mailbox.deliver()
    r = await client.post(
        "/api/v1/auth/token", json={"email": address, "code": code_in(mailbox.to(address)[-1])}
    )
    assert r.status_code == 200


async def test_bad_input_gets_chinese_4xx_and_changes_nothing(client, mailbox):
    cases = [
        {"email": "not-an-address"},
        {"email": 12345},
        {"email": "a@example.com", "extra": 1},
        {},
        {"email": "<script>alert(1)</script>@example.com"},
        {"email": "x' OR 1=1 --@example.com"},
    ]
    for body in cases:
        r = await client.post("/api/v1/auth/code", json=body)
        assert 400 <= r.status_code < 500, (body, r.status_code)
        error = r.json()["error"]
        assert error["code"]
        assert any("\u4e00" <= ch <= "\u9fff" for ch in error["message"]), error
    r = await client.post(
        "/api/v1/auth/code", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert r.status_code == 400
    r = await client.post(
        "/api/v1/auth/code",
        content=b"x" * (13 * 1024 * 1024),
        headers={"content-type": "application/json"},
    )
    assert r.status_code == 413
    await mailbox.deliver()
    assert mailbox.messages == []
    assert await SignInCode.all().count() == 0


async def test_profile_update_validates_phone_and_district(client, mailbox):
    who = await sign_in(client, mailbox, "zhao@example.com")
    h = who["headers"]
    r = await client.put(
        "/api/v1/me",
        headers=h,
        json={"name": "赵丽", "phone": "13812345678", "district": "花木街道", "birth_year": 1980},
    )
    assert r.status_code == 200, r.text
    assert r.json()["district"] == "花木街道"
    for bad in (
        {"phone": "12345"},
        {"district": "朝阳区"},
        {"birth_year": 1800},
        {"name": "x" * 51},
    ):
        r = await client.put("/api/v1/me", headers=h, json=bad)
        assert r.status_code == 422, (bad, r.text)
    me = (await client.get("/api/v1/me", headers=h)).json()
    assert (
        me["phone"] == "13812345678" and me["district"] == "花木街道" and me["birth_year"] == 1980
    )


async def test_tokens_are_required_expire_and_revoke(client, mailbox):
    assert (await client.get("/api/v1/me")).status_code == 401
    assert (
        await client.get("/api/v1/me", headers={"Authorization": "Bearer nope"})
    ).status_code == 401
    who = await sign_in(client, mailbox, "t@example.com")
    assert (await client.get("/api/v1/me", headers=who["headers"])).status_code == 200
    assert (await client.delete("/api/v1/auth/token", headers=who["headers"])).status_code == 200
    assert (await client.get("/api/v1/me", headers=who["headers"])).status_code == 401
    other = await sign_in(client, mailbox, "u@example.com")
    clock.travel(timedelta(days=31))
    assert (await client.get("/api/v1/me", headers=other["headers"])).status_code == 401
    assert await AuthToken.all().count() == 2


async def test_staff_token_and_lockout(client):
    headers = await staff_headers(client, "admin1", "admin")
    assert headers["Authorization"].startswith("Bearer ")
    for _ in range(4):
        r = await client.post(
            "/api/v1/staff/token", json={"username": "admin1", "password": "wrong password!"}
        )
        assert r.status_code == 401
    r = await client.post(
        "/api/v1/staff/token", json={"username": "admin1", "password": "wrong password!"}
    )
    assert r.status_code == 429
    r = await client.post(
        "/api/v1/staff/token", json={"username": "admin1", "password": "correct horse battery"}
    )
    assert r.status_code == 429
    clock.travel(timedelta(minutes=16))
    r = await client.post(
        "/api/v1/staff/token", json={"username": "admin1", "password": "correct horse battery"}
    )
    assert r.status_code == 200


async def test_staff_token_cannot_read_resident_profile(client):
    headers = await staff_headers(client, "org", "organizer", "张江镇")
    assert (await client.get("/api/v1/me", headers=headers)).status_code == 403
