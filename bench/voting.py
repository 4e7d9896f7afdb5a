"""Vote benchmark: distinct verified residents casting ballots through the full path.

Against a real ``canyu serve`` (SQLite or PostgreSQL), with the proof of work off and rate limits
scaled up (every rule still applies):

- ``--residents`` residents sign in through the real mailed-code flow;
- each casts one ballot (``POST /api/v1/campaigns/{id}/ballots``, 1–3 choices): the resident
  look-up, the window and choice checks, the unique ballot slot, the choices and the audit row;
- a second ballot by some of them the same day (the 409 path of the daily rule);
- the naive Starlette+Tortoise insert ceiling in the same run.

After the close the result must count exactly one ballot per resident.

    python -m bench.voting --database sqlite --residents 5000
    python -m bench.voting --database postgres --workers 2 --residents 5000 --report docs/benchmarks/voting.md
"""

from __future__ import annotations

import asyncio
import random
import time
from datetime import UTC, datetime, timedelta

import httpx

from bench.common import (
    bench_parser,
    ceiling,
    drive,
    sign_in_many,
    staff_token,
    start_server,
    write_report,
)

CANDIDATES = 8


async def _create_campaign(
    http: httpx.AsyncClient, admin: str, title: str, candidates: int = CANDIDATES
) -> dict:
    """An open campaign (1 ballot a day, up to 3 choices) whose window closes a little after
    the load, so that the result can be checked."""
    now = datetime.now(UTC)
    r = await http.post(
        "/api/v1/campaigns",
        headers={"Authorization": f"Bearer {admin}"},
        json={
            "title": title,
            "opens_at": (now - timedelta(hours=1)).isoformat(),
            "closes_at": (now + timedelta(hours=6)).isoformat(),
            "ballots_per_day": 1,
            "choices_per_ballot": 3,
            "public_weight": 0.7,
            "expert_weight": 0.3,
            "candidates": [{"title": f"开放活动 {i + 1}"} for i in range(candidates)],
        },
    )
    r.raise_for_status()
    return r.json()


async def main() -> None:
    parser = bench_parser("Vote: ballots by distinct residents", residents=5000, concurrency=50)
    parser.add_argument("--repeat", type=int, default=500, help="second ballots the same day")
    args = parser.parse_args()
    rng = random.Random(2026)
    rows = []
    notes = []
    with start_server(args.database, args.workers) as server:
        admin = await staff_token(server, "bench-admin", "admin")
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
            campaign = await _create_campaign(http, admin, "性能测试评选")
        cids = [c["id"] for c in campaign["candidates"]]
        path = f"/api/v1/campaigns/{campaign['id']}/ballots"

        started = time.monotonic()
        tokens = await sign_in_many(server, args.residents, concurrency=args.concurrency)
        print(tokens.result.only("sign-in").summary())
        notes.append(
            f"{len(tokens)} of {args.residents} residents signed in through the mailed-code flow "
            f"in {time.monotonic() - started:.0f} s (not part of the ballot numbers)."
        )

        specs = [
            server.spec(
                "POST", path, token=t,
                json={"candidate_ids": rng.sample(cids, k=rng.choice((1, 2, 3)))},
                name="ballot",
            )
            for t in tokens
        ]
        ballots = await drive(
            specs, args.concurrency, server=server, label="ballot (first of the day)",
            processes=args.processes,
        )
        print(ballots.summary())
        repeat = [
            server.spec("POST", path, token=t, json={"candidate_ids": [cids[0]]}, name="again")
            for t in tokens[: args.repeat]
        ]
        again = await drive(
            repeat, args.concurrency, server=server, label="second ballot the same day (409)",
            processes=args.processes,
        )
        print(again.summary())
        created = ballots.statuses.get(201, 0)
        refused = again.statuses.get(409, 0)
        notes.append(
            f"Exactness: {created} ballots created for {len(tokens)} residents; "
            f"{refused} of {len(repeat)} second ballots refused with 409."
        )
    base = None
    if args.ceiling:
        base = await ceiling(args.database, args.workers, n=args.ceiling,
                             concurrency=args.concurrency, processes=args.processes)
        print(base.summary())
    rows = [ballots.row(ceiling=base), again.row(ceiling=base)]
    if base is not None:
        rows.append(base.row())
    if args.report:
        write_report(
            args.report, f"Vote: {len(tokens)} residents cast ballots ({args.database})", rows,
            notes=notes, databases=[args.database],
        )
    for note in notes:
        print(note)


if __name__ == "__main__":
    asyncio.run(main())
