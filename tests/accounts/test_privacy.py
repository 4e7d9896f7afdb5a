"""A resident downloads all their data and deletes the account."""

from __future__ import annotations

from canyu.accounts.models import Resident
from canyu.audit.models import AuditEntry
from conftest import csrf_of, html_sign_in, sign_in


async def test_resident_downloads_all_their_data(client, mailbox):
    who = await sign_in(client, mailbox, "data@example.com")
    await client.put("/api/v1/me", headers=who["headers"], json={"name": "孙悦", "district": "唐镇"})
    r = await client.get("/api/v1/me/data", headers=who["headers"])
    assert r.status_code == 200
    assert r.json()["profile"]["name"] == "孙悦"
    assert r.json()["profile"]["email"] == "data@example.com"


async def test_deleting_the_account_erases_personal_data_and_revokes_access(client, mailbox):
    who = await sign_in(client, mailbox, "gone@example.com")
    await client.put("/api/v1/me", headers=who["headers"], json={"name": "钱多", "phone": "13700001111"})
    r = await client.delete("/api/v1/me", headers=who["headers"])
    assert r.status_code == 200 and r.json() == {"status": "deleted"}
    row = await Resident.get(id=who["resident_id"])
    assert (row.email, row.name, row.phone, row.deleted_at is not None) == ("", "", "", True)
    assert (await client.get("/api/v1/me", headers=who["headers"])).status_code == 401
    assert await AuditEntry.filter(action="resident.deleted").count() == 1
    # The same address may start again, as a new person.
    again = await sign_in(client, mailbox, "gone@example.com")
    assert again["resident_id"] != who["resident_id"]


async def test_html_deletion_needs_the_confirmation_tick(client, mailbox):
    await html_sign_in(client, mailbox, "tick@example.com")
    page = await client.get("/me/delete")
    token = csrf_of(page.text)
    r = await client.post("/me/delete", data={"csrf_token": token})
    assert r.status_code == 422
    assert (await Resident.get()).deleted_at is None
    r = await client.post("/me/delete", data={"csrf_token": token, "confirm": "1"})
    assert r.status_code == 303
    assert (await Resident.get()).deleted_at is not None
    download = await client.get("/me/data")
    assert download.status_code == 303  # signed out


async def test_retention_purge_runs_registered_purges_and_is_audited(db):
    from datetime import timedelta

    from canyu.accounts import privacy
    from canyu.core import clock

    seen = []

    async def purge(before):
        seen.append(before)
        return 3

    privacy.register_retention("test-thing", purge)
    try:
        result = await privacy.purge_expired(365)
    finally:
        privacy.RETENTION.pop("test-thing")
    assert result["test-thing"] == 3
    assert abs((clock.now() - timedelta(days=365) - seen[0]).total_seconds()) < 5
    entry = await AuditEntry.get(action="privacy.purged")
    assert entry.target_type == "test-thing" and entry.details["records"] == 3
