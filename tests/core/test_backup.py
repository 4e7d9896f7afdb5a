"""SQLite backups: ``canyu backup`` taken while residents keep registering, voting and commenting
through a live server restores (the copy put in place of the database, the app started again)
into an app that holds every registration, ballot and comment acknowledged before the backup
began, each one whole (its places counted, its choices, audit row and mail beside it), and
nothing written after the backup had finished."""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
import sys
from datetime import UTC, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from canyu.core import clock
from canyu.core.security import new_token, token_hash
from conftest import POSTGRES_URL, TEST_SECRET, Mailbox, _Handler, _migrate, free_port, run_sync
from live import LiveServer

pytestmark = pytest.mark.skipif(
    bool(POSTGRES_URL), reason="SQLite backup (PostgreSQL uses pg_dump)"
)

#: Residents who have written everything before the backup starts.
BEFORE = 12
#: At most this many write while ``canyu backup`` runs (the writers stop when it has finished).
DURING = 400
#: Residents who write after the backup has finished: none of it may be in the copy.
AFTER = 4
#: Residents who are in the database and write nothing: the copy takes a moment to make.
QUIET = 20_000
#: Residents writing at once (each one's registration, ballot and comment one after the other).
WRITERS = 3
#: Fewer places than the first residents ask for: the copy holds confirmed and waiting ones.
CAPACITY = 12
PASSWORD = "correct horse battery"
TABLES = {
    "registrations": "openmonth_registration",
    "ballots": "vote_ballot",
    "comments": "consultation_comment",
}
KINDS = tuple(TABLES)


async def _prepare(url: str, n: int) -> list[dict[str, Any]]:
    """An administrator, ``n`` verified residents with API tokens and many more residents who
    do nothing here (so that the copy takes a moment), written directly (signing in by mailed
    code has its own tests)."""
    from tortoise import Tortoise

    from canyu.accounts import service as accounts
    from canyu.accounts.models import AuthToken, Resident
    from canyu.core import security
    from canyu.core.db import tortoise_config

    security.configure(TEST_SECRET)
    await Tortoise.init(config=tortoise_config(url), _enable_global_fallback=True)
    try:
        await accounts.create_staff("backup-admin", "admin", PASSWORD)
        now = clock.now()

        def resident(email: str, name: str) -> Resident:
            return Resident(
                email_hmac=accounts.email_identity(email),
                email=email,
                name=name,
                created_at=now,
                verified_at=now - timedelta(hours=1),
            )

        await Resident.bulk_create(
            [resident(f"backup{i}@example.com", f"居民{i}") for i in range(n)], batch_size=500
        )
        await Resident.bulk_create(
            [resident(f"quiet{i}@example.com", f"居民{i}") for i in range(QUIET)], batch_size=500
        )
        ids = {
            r.email: r.id
            for r in await Resident.filter(email__startswith="backup").only("id", "email")
        }
        people = [
            {"i": i, "email": f"backup{i}@example.com", "token": new_token()} for i in range(n)
        ]
        await AuthToken.bulk_create(
            [
                AuthToken(
                    token_hash=token_hash(p["token"]),
                    kind="api",
                    resident_id=ids[p["email"]],
                    created_at=now,
                    expires_at=now + timedelta(days=1),
                )
                for p in people
            ],
            batch_size=500,
        )
        for p in people:
            p["headers"] = {"Authorization": f"Bearer {p.pop('token')}"}
        return people
    finally:
        await Tortoise.close_connections()


def _iso(delta: timedelta) -> str:
    return (clock.now() + delta).astimezone(UTC).isoformat()


async def _staff(http: httpx.AsyncClient) -> dict[str, str]:
    r = await http.post(
        "/api/v1/staff/token", json={"username": "backup-admin", "password": PASSWORD}
    )
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['token']}"}


async def _setup(http: httpx.AsyncClient) -> dict[str, Any]:
    """An open event, an open vote and an open comment period, through the API."""
    admin = await _staff(http)
    r = await http.post(
        "/api/v1/events",
        headers=admin,
        json={
            "title": "走进浦东新区档案馆",
            "summary": "参观档案库房，了解档案的修复与保管。",
            "theme": "城市治理",
            "mode": "offline",
            "location": "浦东新区丁香路 1200 号（花木街道）",
            "stream_url": None,
            "starts_at": _iso(timedelta(days=10)),
            "ends_at": _iso(timedelta(days=10, hours=2)),
            "capacity": CAPACITY,
            "registration_opens_at": _iso(timedelta(hours=-1)),
            "registration_closes_at": _iso(timedelta(days=9)),
            "max_companions": 1,
            "published": True,
        },
    )
    assert r.status_code == 201, r.text
    event = r.json()["id"]
    r = await http.post(
        "/api/v1/campaigns",
        headers=admin,
        json={
            "title": "最受欢迎的政府开放活动",
            "opens_at": _iso(timedelta(hours=-1)),
            "closes_at": _iso(timedelta(days=3)),
            "ballots_per_day": 1,
            "choices_per_ballot": 1,
            "public_weight": 0.7,
            "expert_weight": 0.3,
            "candidates": [
                {"title": "档案馆开放日", "event_id": None},
                {"title": "城运中心开放日", "event_id": None},
            ],
        },
    )
    assert r.status_code == 201, r.text
    campaign = r.json()
    r = await http.post(
        "/api/v1/consultations",
        headers=admin,
        json={
            "title": "浦东新区老旧小区加装电梯补贴办法（征求意见稿）",
            "kind": "normative",
            "body": "为推进既有多层住宅加装电梯工作，制定本办法。",
            "basis": "《上海市既有多层住宅加装电梯操作指引》",
            "contact": "区住房和城乡建设委员会，电话 021-12345678",
            "interpretation": "本办法明确补贴标准和申请流程。",
            "opens_at": _iso(timedelta(minutes=-1)),
            "closes_at": _iso(timedelta(days=20)),
            "period_reason": "",
            "sections": [
                {
                    "title": "第一条 适用范围",
                    "body": "本办法适用于浦东新区行政区域内的既有多层住宅。",
                },
                {"title": "第二条 补贴标准", "body": "每台电梯补贴不超过 28 万元。"},
            ],
            "published": True,
        },
    )
    assert r.status_code == 201, r.text
    consultation = r.json()
    return {
        "admin": admin,
        "event": event,
        "campaign": campaign["id"],
        "candidates": [c["id"] for c in campaign["candidates"]],
        "consultation": consultation["id"],
        "sections": [s["id"] for s in consultation["sections"]],
    }


class Writer:
    """What was sent and acknowledged (201), resident by resident."""

    def __init__(self, http: httpx.AsyncClient, setup: dict[str, Any]) -> None:
        self.http, self.s = http, setup
        #: resident index -> {kind: id}, in the order written
        self.ids: dict[int, dict[str, int]] = {}
        #: what each write asked for, by kind and id
        self.sent: dict[str, dict[int, Any]] = {kind: {} for kind in KINDS}

    async def one(self, person: dict[str, Any]) -> None:
        i, headers, s = person["i"], person["headers"], self.s
        mine = self.ids.setdefault(i, {})
        r = await self.http.post(
            f"/api/v1/events/{s['event']}/registrations",
            headers=headers,
            json={"companions": i % 2},
        )
        assert r.status_code == 201, r.text
        mine["registrations"] = r.json()["id"]
        self.sent["registrations"][r.json()["id"]] = (
            person["email"],
            1 + i % 2,
            r.json()["status"],
        )
        candidate = s["candidates"][i % 2]
        r = await self.http.post(
            f"/api/v1/campaigns/{s['campaign']}/ballots",
            headers=headers,
            json={"candidate_ids": [candidate]},
        )
        assert r.status_code == 201, r.text
        mine["ballots"] = r.json()["id"]
        self.sent["ballots"][r.json()["id"]] = candidate
        body = f"第 {i} 条意见：建议简化加装电梯的审批流程，低层住户的补偿标准应当公开。"
        section = s["sections"][i % 2] if i % 3 else None
        r = await self.http.post(
            f"/api/v1/consultations/{s['consultation']}/comments",
            headers=headers,
            json={"body": body, "section_id": section},
        )
        assert r.status_code == 201, r.text
        mine["comments"] = r.json()["id"]
        self.sent["comments"][r.json()["id"]] = (body, section)

    async def all(self, people: list[dict[str, Any]], until: asyncio.Event | None = None) -> None:
        queue = list(people)

        async def worker() -> None:
            while queue and not (until and until.is_set()):
                await self.one(queue.pop(0))

        await asyncio.gather(*(worker() for _ in range(WRITERS)))

    def ids_of(self, indexes: Any) -> dict[str, set[int]]:
        return {
            kind: {self.ids[i][kind] for i in indexes if kind in self.ids.get(i, {})}
            for kind in KINDS
        }


async def _backup_while_writing(
    server: LiveServer, people: list[dict[str, Any]], dest: Path
) -> tuple[Writer, dict[str, Any], range, range]:
    """Writes BEFORE residents, runs ``canyu backup`` while the next ones write, then writes
    AFTER more. Returns the writer, the setup and the residents written before and after."""
    async with httpx.AsyncClient(base_url=server.url, timeout=60) as http:
        setup = await _setup(http)
        writer = Writer(http, setup)
        await writer.all(people[:BEFORE])

        finished = asyncio.Event()
        during = asyncio.create_task(writer.all(people[BEFORE : BEFORE + DURING], until=finished))
        proc = await asyncio.create_subprocess_exec(
            str(Path(sys.executable).parent / "canyu"), "backup", str(dest),
            env=server.env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        out, _ = await proc.communicate()
        finished.set()
        await during
        assert proc.returncode == 0, out.decode(errors="replace")

        first_after = BEFORE + DURING
        await writer.all(people[first_after : first_after + AFTER])
        return writer, setup, range(BEFORE), range(first_after, first_after + AFTER)


def _rows(db: sqlite3.Connection, table: str) -> dict[int, tuple]:
    return {r[0]: tuple(r) for r in db.execute(f'SELECT * FROM "{table}" ORDER BY id')}


def _one(db: sqlite3.Connection, query: str, *args: Any) -> Any:
    return db.execute(query, args).fetchone()[0]


def test_backup_while_residents_register_vote_and_comment_restores_every_one_whole(
    tmp_path: Path,
):
    live = tmp_path / "canyu.sqlite3"
    url = f"sqlite://{live}"
    copy_path = tmp_path / "backups" / "canyu-copy.sqlite3"
    run_sync(_migrate, url)
    people = run_sync(_prepare, url, BEFORE + DURING + AFTER)
    box = Mailbox(_Handler(), free_port())
    box.start()
    env = {"CANYU_RATE_LIMIT_SCALE": "100000"}  # many residents from one address
    try:
        server = LiveServer(url, box.port, tmp_path / "var", extra_env=env).start()
        try:
            writer, setup, before_people, after_people = asyncio.run(
                _backup_while_writing(server, people, copy_path)
            )
        finally:
            server.stop()

        written = writer.ids_of(writer.ids)
        before, after = writer.ids_of(before_people), writer.ids_of(after_people)
        assert all(len(before[k]) == BEFORE and len(after[k]) == AFTER for k in KINDS), before

        source = sqlite3.connect(live)
        copy = sqlite3.connect(copy_path)
        assert _one(copy, "PRAGMA integrity_check") == "ok"
        assert copy.execute("PRAGMA foreign_key_check").fetchall() == []
        migrations = "SELECT COUNT(*) FROM tortoise_migrations"
        assert _one(copy, migrations) == _one(source, migrations) > 0

        original = {kind: _rows(source, table) for kind, table in TABLES.items()}
        restored = {kind: _rows(copy, table) for kind, table in TABLES.items()}
        for kind in KINDS:
            # every acknowledged write is in the source, and nothing else
            assert set(original[kind]) == written[kind], kind
            # every write acknowledged before the backup began is in the copy...
            assert before[kind] <= set(restored[kind]), kind
            # ...nothing sent after it had finished, and each row exactly as the app wrote it
            assert not after[kind] & set(restored[kind]), kind
            for row_id, row in restored[kind].items():
                assert row == original[kind][row_id], (kind, row_id)
        # one snapshot: each resident wrote registration, ballot, comment one after the other,
        # so the copy holds a beginning of that sequence for each of them
        for i, mine in writer.ids.items():
            present = [mine[kind] in restored[kind] for kind in KINDS]
            assert present == sorted(present, reverse=True), (i, present)

        # each comment's text and section intact
        for cid, (body, section) in writer.sent["comments"].items():
            if cid in restored["comments"]:
                got = copy.execute(
                    "SELECT body, section_id, status FROM consultation_comment WHERE id = ?", (cid,)
                ).fetchone()
                assert got == (body, section, "pending"), cid
        # each ballot with exactly its one choice and its audit row; no choice or audit alone
        for bid, candidate in writer.sent["ballots"].items():
            if bid in restored["ballots"]:
                choices = copy.execute(
                    "SELECT candidate_id FROM vote_choice WHERE ballot_id = ?", (bid,)
                ).fetchall()
                assert choices == [(candidate,)], bid
                assert (
                    _one(copy, "SELECT COUNT(*) FROM vote_ballot_audit WHERE ballot_id = ?", bid)
                    == 1
                )
        for table in ("vote_choice", "vote_ballot_audit"):
            alone = (
                f"SELECT COUNT(*) FROM {table} WHERE ballot_id NOT IN (SELECT id FROM vote_ballot)"
            )
            assert _one(copy, alone) == 0, table
        # each registration with its places, its mail, and the counters that count it
        for rid, (email, places, status) in writer.sent["registrations"].items():
            if rid in restored["registrations"]:
                got = copy.execute(
                    "SELECT email, places, status FROM openmonth_registration WHERE id = ?", (rid,)
                ).fetchone()
                assert got == (email, places, status), rid
                mails = "SELECT COUNT(*) FROM outbox_mail WHERE to_addr = ? AND kind = ?"
                assert _one(copy, mails, email, f"openmonth_{status}") == 1, rid
        registration_mails = "SELECT COUNT(*) FROM outbox_mail WHERE kind LIKE 'openmonth_%'"
        assert _one(copy, registration_mails) == len(restored["registrations"])
        held = (
            "SELECT COALESCE(SUM(places), 0) FROM openmonth_registration"
            " WHERE event_id = ? AND status IN ('confirmed', 'offered')"
        )
        places = _one(copy, held, setup["event"])
        taken = _one(copy, "SELECT taken FROM openmonth_event WHERE id = ?", setup["event"])
        assert taken == places > 0
        monthly = "SELECT COALESCE(SUM(places), 0) FROM openmonth_monthly_places"
        assert _one(copy, monthly) == places
        waiting = _one(
            copy, "SELECT COUNT(*) FROM openmonth_registration WHERE status = 'waitlisted'"
        )
        assert waiting > 0  # the event was full before the backup began
        copy_registrations = {
            rid: status for rid, (_, _, status) in writer.sent["registrations"].items()
            if rid in restored["registrations"]
        }  # fmt: skip
        copy_comments = set(restored["comments"])
        source.close()
        copy.close()

        # Restore as docs/operations.md says: the app stopped, the copy in place of the database
        # file, no -wal/-shm beside it, the app started again.
        for leftover in (live, Path(f"{live}-wal"), Path(f"{live}-shm")):
            leftover.unlink(missing_ok=True)
        shutil.copyfile(copy_path, live)
        server = LiveServer(url, box.port, tmp_path / "var", extra_env=env).start()
        try:
            asyncio.run(
                _check_restored_app(
                    server,
                    setup,
                    people,
                    writer,
                    copy_registrations,
                    copy_comments,
                    places,
                    waiting,
                )
            )
        finally:
            server.stop()
    finally:
        box.stop()


async def _check_restored_app(
    server: LiveServer,
    setup: dict[str, Any],
    people: list[dict[str, Any]],
    writer: Writer,
    registrations: dict[int, str],
    comments: set[int],
    places: int,
    waiting: int,
) -> None:
    """The restored app answers from the copy: counts, each resident's registration (signed in
    with the token kept in the copy), the comments once published, and it takes new writes."""
    async with httpx.AsyncClient(base_url=server.url, timeout=60) as http:
        admin = await _staff(http)  # the staff account and its password came back too
        event = (await http.get(f"/api/v1/events/{setup['event']}")).json()
        assert (event["confirmed"], event["waitlisted"]) == (places, waiting), event
        assert (await http.get(f"/api/v1/campaigns/{setup['campaign']}")).status_code == 200

        idle = [p for p in people if p["i"] not in writer.ids][:3]
        for person in [p for p in people if p["i"] in writer.ids] + idle:
            mine = writer.ids.get(person["i"], {})
            r = await http.get("/api/v1/me/registrations", headers=person["headers"])
            assert r.status_code == 200, r.text
            got = {item["id"]: item["status"] for item in r.json()["items"]}
            rid = mine.get("registrations")
            expected = {rid: registrations[rid]} if rid in registrations else {}
            assert got == expected, (person["i"], got, expected)

        for cid in sorted(comments):
            r = await http.post(
                f"/api/v1/comments/{cid}/moderation",
                headers=admin,
                json={"decision": "publish", "reason": ""},
            )
            assert r.status_code == 200, r.text
        r = await http.get(f"/api/v1/consultations/{setup['consultation']}/comments")
        listed = {item["id"]: (item["body"], item["section_id"]) for item in r.json()["items"]}
        assert listed == {cid: writer.sent["comments"][cid] for cid in comments}

        # the residents who wrote after the backup are unknown to the restored event: they can
        # register again; one restored before the backup cannot
        late = people[BEFORE + DURING]
        r = await http.post(
            f"/api/v1/events/{setup['event']}/registrations",
            headers=late["headers"],
            json={"companions": 0},
        )
        assert r.status_code == 201, r.text
        r = await http.post(
            f"/api/v1/events/{setup['event']}/registrations",
            headers=people[0]["headers"],
            json={"companions": 0},
        )
        assert r.status_code == 409, r.text
