"""Scale-out: the rush and the vote with 1 and with 2 workers on PostgreSQL, and the ratio.

For each worker count a fresh database and a fresh ``canyu serve --workers N``: the residents
sign in through the mailed code, then the rush (every resident registers at once for one event
of ``--places`` places) and the vote (every resident casts one ballot), each checked for
exactness afterwards. The naive insert ceiling is measured with the same worker counts, so the
ratio of the app can be read against the ratio the machine allows at best.

    python -m bench.scaling --residents 2000 --report docs/benchmarks/scaling.md
"""

from __future__ import annotations

import asyncio
import random
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from bench.common import (
    Result,
    bench_parser,
    ceiling,
    drive,
    sign_in_many,
    staff_token,
    start_server,
    write_report,
)
from bench.openmonth import _create_event
from bench.voting import _create_campaign


async def _one(database: str, workers: int, args: Any) -> tuple[Result, Result, list[str]]:
    notes: list[str] = []
    with start_server(database, workers) as server:
        organizer = await staff_token(server, "scale-organizer", "organizer", "区城运中心")
        admin = await staff_token(server, "scale-admin", "admin")
        tokens = await sign_in_many(server, args.residents, concurrency=args.concurrency)
        now = datetime.now(UTC)
        async with httpx.AsyncClient(base_url=server.url, timeout=60) as http:
            event_id = await _create_event(http, organizer, "扩展测试：开放日",
                                           now + timedelta(days=3), args.places)
            campaign = await _create_campaign(http, admin, "扩展测试评选", candidates=12)
            rush = await drive(
                [server.spec("POST", f"/api/v1/events/{event_id}/registrations", token=t,
                             json={"companions": 0}, name="register") for t in tokens],
                args.concurrency, server=server, label=f"rush, {workers} worker(s)",
                processes=args.processes,
            )
            print(rush.summary(), file=sys.stderr)
            event = (await http.get(f"/api/v1/events/{event_id}")).json()
            exact = event["confirmed"] == min(args.places, len(tokens))
            notes.append(
                f"{workers} worker(s): rush {event['confirmed']} confirmed for {args.places} "
                f"places, {event['waitlisted']} waiting ({'exact' if exact else 'NOT EXACT'})."
            )
            rng = random.Random(workers)
            cids = [c["id"] for c in campaign["candidates"]]
            vote = await drive(
                [server.spec("POST", f"/api/v1/campaigns/{campaign['id']}/ballots", token=t,
                             json={"candidate_ids": rng.sample(cids, k=rng.choice((1, 2, 3)))},
                             name="ballot") for t in tokens],
                args.concurrency, server=server, label=f"vote, {workers} worker(s)",
                processes=args.processes,
            )
            print(vote.summary(), file=sys.stderr)
            notes.append(
                f"{workers} worker(s): {vote.statuses.get(201, 0)} ballots counted for "
                f"{len(tokens)} residents."
            )
            if not exact or vote.statuses.get(201, 0) != len(tokens):
                raise SystemExit("the rush or the vote was not exact")
    return rush, vote, notes


async def main() -> None:
    parser = bench_parser("Scale-out: 1 and 2 workers on PostgreSQL", residents=2000,
                          concurrency=50, database="postgres")
    parser.add_argument("--places", type=int, default=100, help="places of the rush event")
    args = parser.parse_args()
    results: dict[int, tuple[Result, Result, Result | None]] = {}
    notes: list[str] = []
    for workers in (1, 2):
        rush, vote, more = await _one(args.database, workers, args)
        notes += more
        base = None
        if args.ceiling:
            base = await ceiling(args.database, workers, n=args.ceiling,
                                 concurrency=args.concurrency, processes=args.processes)
            print(base.summary(), file=sys.stderr)
        results[workers] = (rush, vote, base)
    rows = []
    for rush, vote, base in results.values():
        rows.append(rush.row(ceiling=base))
        rows.append(vote.row(ceiling=base))
        if base is not None:
            rows.append(base.row())
    ratios = []
    for index, name in ((0, "rush"), (1, "vote"), (2, "naive insert ceiling")):
        one, two = results[1][index], results[2][index]
        if one is not None and two is not None and one.throughput:
            ratios.append(f"{name}: {two.throughput / one.throughput:.2f}× with 2 workers "
                          f"({one.throughput:.0f} → {two.throughput:.0f} requests/s)")
    notes.append("Ratio 2 workers ÷ 1 worker: " + "; ".join(ratios) + ".")
    if args.report:
        write_report(args.report, f"Scale-out ({args.database}, 1 and 2 workers)", rows,
                     notes=notes, databases=[args.database])
    for line in notes:
        print(line)


if __name__ == "__main__":
    asyncio.run(main())
