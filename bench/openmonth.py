"""Open-month benchmark: the registration rush and a busy day, against the naive insert ceiling.

Against a real ``canyu serve`` (SQLite with 1 worker or PostgreSQL with several), rate limits
scaled up and the proof of work off (every rule still applies, the monthly cap included):

- ``--residents`` residents sign in through the real mailed-code flow;
- the rush: all of them register at once for one event of ``--places`` places
  (``POST /api/v1/events/{id}/registrations``); exactly ``--places`` must be confirmed;
- a busy day: ``--registrations`` registrations spread over ``--events`` events (spread over
  several months so that the monthly cap of 3 places is respected), with waiting lists;
- the naive Starlette+Tortoise insert ceiling, measured in the same run: before the server
  starts and after it stops; each case is compared with the mean of the two.

The rush is measured on a server that has served registrations before (as it has when a
real registration opens): 2 x ``--concurrency`` residents first register for another event, not
measured, and their mails are delivered before the rush starts. The ceiling is warmed up the
same way (``bench.common.ceiling``).

Afterwards every event is checked: places held never exceed places (0 oversold).

    python -m bench.openmonth --database sqlite --residents 1000
    python -m bench.openmonth --database postgres --workers 2 --residents 1000 \
        --report docs/benchmarks/openmonth.md
"""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime, timedelta

import httpx

from bench.common import (
    RequestSpec,
    bench_parser,
    ceiling,
    drive,
    settle_mail,
    sign_in_many,
    staff_token,
    start_server,
    write_report,
)

PER_MONTH = 3  # CANYU_PLACES_PER_MONTH, the default: never raised for a benchmark


async def _create_event(http: httpx.AsyncClient, token: str, title: str, starts: datetime,
                        capacity: int) -> int:
    now = datetime.now(UTC)
    r = await http.post(
        "/api/v1/events",
        headers={"Authorization": f"Bearer {token}"},
        json={
            "title": title, "summary": "性能测试活动", "theme": "城市治理", "mode": "offline",
            "location": "浦东新区合欢路 2 号（花木街道）", "starts_at": starts.isoformat(),
            "ends_at": (starts + timedelta(hours=2)).isoformat(), "capacity": capacity,
            "registration_opens_at": (now - timedelta(hours=1)).isoformat(),
            "registration_closes_at": (starts - timedelta(hours=1)).isoformat(),
            "max_companions": 0, "published": True,
        },
    )
    if r.status_code != 201:
        raise RuntimeError(f"event creation failed: {r.status_code} {r.text}")
    return int(r.json()["id"])


def _month_start(now: datetime, ahead: int) -> datetime:
    """The first day of the month ``ahead`` months after the next one, 09:00 UTC+8."""
    year, month = now.year, now.month + 1 + ahead
    year += (month - 1) // 12
    month = (month - 1) % 12 + 1
    return datetime(year, month, 1, 1, 0, tzinfo=UTC)


async def _oversold(http: httpx.AsyncClient) -> tuple[int, int, int]:
    """(oversold places, confirmed places, waiting registrations) over every event, from the API."""
    items = (await http.get("/api/v1/events")).json()["items"]
    oversold = sum(max(0, e["confirmed"] + e["offered"] - e["capacity"]) for e in items)
    return oversold, sum(e["confirmed"] for e in items), sum(e["waitlisted"] for e in items)


async def main() -> None:
    parser = bench_parser("Open month: registration rush and busy day", residents=1000,
                          concurrency=50)
    parser.add_argument("--places", type=int, default=50, help="places of the rush event")
    parser.add_argument("--events", type=int, default=200, help="events of the busy day")
    parser.add_argument("--registrations", type=int, default=20000,
                        help="registrations of the busy day")
    parser.add_argument("--months", type=int, default=7,
                        help="months the busy day's events are spread over")
    args = parser.parse_args()
    rows, notes = [], []
    bases = []

    async def measure_ceiling(when: str) -> None:
        if args.ceiling:
            bases.append(await ceiling(args.database, args.workers, n=args.ceiling,
                                       concurrency=args.concurrency, processes=args.processes,
                                       label=f"naive insert ceiling ({when})"))
            print(bases[-1].summary(), file=sys.stderr)

    await measure_ceiling("before")
    months = max(1, args.months)
    with start_server(args.database, args.workers) as server:
        organizer = await staff_token(server, "bench-organizer", "organizer", "区城运中心")
        tokens = await sign_in_many(server, args.residents, concurrency=args.concurrency)
        rows.append(tokens.result.only("sign-in").row())
        now = datetime.now(UTC)
        async with httpx.AsyncClient(base_url=server.url, timeout=60) as http:
            # The rush and its warm-up are in the month after the busy day's months, so that
            # nobody's monthly places limit the busy day, whatever day of the month this runs.
            after_busy = _month_start(now, months)
            # --- warm-up, not measured: both paths (places and waiting list) and their mail ---
            warm = await _create_event(http, organizer, "预热：城运中心开放日（上午场）",
                                       after_busy + timedelta(days=2), args.places)
            mailed = server.mailbox.count
            warm_specs = [
                server.spec("POST", f"/api/v1/events/{warm}/registrations", token=t,
                            json={"companions": 0}, name="register")
                for t in tokens[: 2 * args.concurrency]
            ]
            await drive(warm_specs, args.concurrency)
            await settle_mail(server, mailed + len(warm_specs))

            # --- the rush: everyone at once for one event --------------------------------
            rush = await _create_event(http, organizer, "抢票：城运中心开放日",
                                       after_busy + timedelta(days=3), args.places)
            specs = [
                server.spec("POST", f"/api/v1/events/{rush}/registrations", token=t,
                            json={"companions": 0}, name="register")
                for t in tokens
            ]
            result = await drive(specs, args.concurrency, server=server, label="rush",
                                 processes=args.processes)
            print(result.summary(), file=sys.stderr)
            event = (await http.get(f"/api/v1/events/{rush}")).json()
            rush_ok = event["confirmed"] == min(args.places, len(tokens))
            rush_result = result

            # --- a busy day: many events, the monthly cap respected ------------------------
            per_month = max(1, args.events // months)
            events: list[list[int]] = []
            created = 0
            for m in range(months):
                base = _month_start(now, m)
                ids = []
                for k in range(per_month if m < months - 1 else args.events - created):
                    ids.append(await _create_event(
                        http, organizer, f"开放活动 {m + 1}-{k + 1}", base + timedelta(days=k % 27),
                        100,
                    ))
                created += len(ids)
                events.append(ids)
            # Each resident takes at most PER_MONTH events a month: the cap is never hit.
            slots = [(m, k) for m in range(months) for k in range(min(PER_MONTH, len(events[m])))]
            per_resident = -(-args.registrations // max(1, len(tokens)))
            plan: list[RequestSpec] = []
            for m, k in slots[:per_resident]:
                for r, token in enumerate(tokens):
                    if len(plan) >= args.registrations:
                        break
                    event_id = events[m][(r * PER_MONTH + k) % len(events[m])]
                    plan.append(server.spec(
                        "POST", f"/api/v1/events/{event_id}/registrations", token=token,
                        json={"companions": 0}, name="register",
                    ))
            await settle_mail(server, mailed + len(warm_specs) + len(specs))
            busy = await drive(plan, args.concurrency, server=server, label="busy day",
                               processes=args.processes)
            print(busy.summary(), file=sys.stderr)
            oversold, confirmed, waiting = await _oversold(http)
    await measure_ceiling("after")
    base = bases or None
    rows.append(rush_result.row(ceiling=base, confirmed=event["confirmed"],
                                waitlisted=event["waitlisted"]))
    rows.append(busy.row(ceiling=base, oversold=oversold))
    rows.extend(b.row() for b in bases)
    notes.append(
        f"Rush: {len(tokens)} residents for {args.places} places: {event['confirmed']} confirmed, "
        f"{event['waitlisted']} on the waiting list ({'exact' if rush_ok else 'NOT EXACT'})."
    )
    notes.append(
        f"Busy day: {len(plan)} registrations over {created} events of 100 places in {months} "
        f"months; over every event (the warm-up and the rush included): {confirmed} places "
        f"confirmed, {waiting} waiting, {oversold} oversold."
    )
    if args.report:
        write_report(args.report, f"Open month ({args.database}, {args.workers} worker(s))", rows,
                     notes=notes, databases=[args.database])
    for line in notes:
        print(line)
    if not rush_ok or oversold:
        raise SystemExit(1)


if __name__ == "__main__":
    asyncio.run(main())
