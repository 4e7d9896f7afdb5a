"""Foundation benchmark: thousands of residents signing in through the real mailed-code flow.

    python -m bench.signin --database sqlite --workers 1 --residents 2000
    python -m bench.signin --database postgres --workers 2 --residents 2000 --report docs/benchmarks/raw.md

Each resident: POST /api/v1/auth/code (an outbox row in the same transaction as the code), the
outbox worker mails it to the capturing SMTP server, the bench reads the code from the mail,
POST /api/v1/auth/token. Then every token reads GET /api/v1/me once (an authenticated read),
then a burst of code requests measures how fast the outbox drains (mails per second), and the
same load shape runs against the naive insert ceiling (``bench/naive_app.py``).
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from typing import Any

from bench.common import (
    ServerHandle,
    bench_parser,
    ceiling,
    drive,
    sign_in_many,
    start_server,
    write_report,
)


async def run(
    database: str,
    workers: int,
    residents: int,
    concurrency: int,
    ceiling_n: int,
    report: str = "",
    processes: int = 1,
) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    notes: list[str] = []
    with start_server(database, workers) as server:  # type: ignore[arg-type]
        await sign_in_many(server, min(50, residents), concurrency, prefix="warmup", quiet=True)
        tokens = await sign_in_many(server, residents, concurrency)
        result = tokens.result
        flows = result.only("sign-in")
        print(flows.summary())
        for step in ("auth/code", "mail", "auth/token"):
            print("  " + result.only(step).summary())
        me = await drive(
            [server.spec("GET", "/api/v1/me", token=t, name="me") for t in tokens],
            concurrency, server=server, label="GET /me (authenticated read)", processes=processes,
        )
        print(me.summary())
        # The outbox alone: a burst of code requests, then how fast the mails drain.
        burst_n = max(1, residents // 2)
        before = server.mailbox.count if server.mailbox else 0
        t0 = time.perf_counter()
        burst = await drive(
            [server.spec("POST", "/api/v1/auth/code", json={"email": f"burst.{i:06d}@example.com"},
                         name="auth/code") for i in range(burst_n)],
            concurrency, server=server, label="burst of code requests",
        )
        print(burst.summary())
        drained = await _wait_for_mail(server, before + burst_n, 600)
        drain_seconds = time.perf_counter() - t0
        mail_rate = (drained - before) / drain_seconds
        print(f"outbox drain: {drained - before}/{burst_n} mails in {drain_seconds:.1f}s "
              f"= {mail_rate:.1f} mails/s")
        version = server.database_version
        mails = server.mailbox.count if server.mailbox else 0
        failed = residents - len(tokens)
        notes.append(
            f"{len(tokens)}/{residents} residents signed in, {failed} failed; {mails} mails captured "
            f"(including {min(50, residents)} warm-up sign-ins); server log errors: "
            f"{server.log_tail(200_000).count('ERROR')}"
        )
    base = None
    if ceiling_n:
        base = await ceiling(database, workers, ceiling_n, concurrency, processes=processes)  # type: ignore[arg-type]
        print(base.summary())
    rows.append(flows.row(base, case="sign-in flow (code + mail + token)"))
    for step in ("auth/code", "mail", "auth/token"):
        row = result.only(step).row(base if step != "mail" else None, case=f"  step: {step}")
        for shared in ("client CPU", "server CPU", "server CPU ms/req"):  # those of the whole flow
            row[shared] = ""
        rows.append(row)
    rows.append(me.row(base))
    rows.append(burst.row(base, case=f"burst: {burst_n} code requests (mails queued)"))
    rows.append({"case": f"  outbox drain: last of {burst_n} mails delivered",
                 "requests": drained - before, "req/s": f"{mail_rate:.1f} mails/s",
                 "elapsed s": f"{drain_seconds:.1f}", "load": f"{os.getloadavg()[0]:.1f}"})
    if base is not None:
        rows.append(base.row())
    machine_busy = [r for r in (flows, me, base) if r is not None and r.machine_busy is not None]
    notes.append(
        "machine CPU busy during the runs (all programs on the machine): "
        + ", ".join(f"{r.label} {100 * (r.machine_busy or 0):.0f}%" for r in machine_busy)
    )
    if report:
        write_report(
            report, f"Sign-in: {database}, {workers} worker(s), {residents} residents", rows,
            notes=notes, databases=[version],
        )
    for note in notes:
        print(note)
    return rows


async def _wait_for_mail(server: ServerHandle, total: int, limit: float) -> int:
    """Wait until the capturing server holds ``total`` mails (or ``limit`` seconds pass)."""
    assert server.mailbox is not None
    deadline = time.monotonic() + limit
    # Polls a counter fed by the SMTP thread.
    while server.mailbox.count < total and time.monotonic() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.05)
    return server.mailbox.count


def main(argv: list[str] | None = None) -> int:
    parser = bench_parser(__doc__.splitlines()[0], residents=2000, concurrency=50, ceiling=3000)
    args = parser.parse_args(argv)
    asyncio.run(run(args.database, args.workers, args.residents, args.concurrency, args.ceiling,
                    args.report, args.processes))
    return 0


if __name__ == "__main__":
    sys.exit(main())
