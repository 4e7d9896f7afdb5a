"""Consultation benchmark: a draft with 5,000 comments.

Measures, against a real ``canyu serve`` (SQLite or PostgreSQL):

- comment-post throughput: 5,000 ``POST /api/v1/consultations/{id}/comments`` by signed-in
  residents (each one pre-moderated: sensitive-word scan, insert);
- moderation throughput: publishing them (``POST /api/v1/comments/{id}/moderation``);
- page render with 5,000 published comments: the draft page ``GET /consultations/{id}``, one page
  of the full comment list, and the JSON list of every published comment.

    python -m bench.consultations --database sqlite
    python -m bench.consultations --database postgres --workers 2 --report docs/benchmarks/consultations.md
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from itertools import cycle

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

SECTIONS = 10


async def main() -> None:
    parser = bench_parser(
        "Consultation with 5,000 comments", residents=200, concurrency=20, ceiling=2000
    )
    parser.add_argument("--comments", type=int, default=5000)
    parser.add_argument("--renders", type=int, default=200)
    args = parser.parse_args()
    rows = []
    with start_server(args.database, args.workers) as server:
        organizer = await staff_token(server, "bench-organizer", "organizer", "区政务公开办")
        moderator = await staff_token(server, "bench-moderator", "moderator", "区政务公开办")
        now = datetime.now(UTC)
        async with httpx.AsyncClient(timeout=60) as client:
            r = await client.post(
                server.url + "/api/v1/consultations",
                headers={"Authorization": f"Bearer {organizer}"},
                json={
                    "title": "浦东新区政策留言板咨询回应工作规则（征求意见稿）",
                    "kind": "normative",
                    "body": "基准测试用的征求意见稿。",
                    "opens_at": (now - timedelta(minutes=1)).isoformat(),
                    "closes_at": (now + timedelta(days=20)).isoformat(),
                    "published": True,
                    "sections": [
                        {"title": f"第{i + 1}条", "body": "条文内容。" * 20}
                        for i in range(SECTIONS)
                    ],
                },
            )
            r.raise_for_status()
            cid = r.json()["id"]
            section_ids = [s["id"] for s in r.json()["sections"]]
        tokens = await sign_in_many(server, args.residents, concurrency=args.concurrency)
        print(tokens.result.summary())

        comment_ids: list[int] = []

        def keep(response: httpx.Response) -> None:
            if response.status_code == 201:
                comment_ids.append(response.json()["id"])

        token_cycle = cycle(tokens)
        specs = [
            server.spec(
                "POST",
                f"/api/v1/consultations/{cid}/comments",
                token=next(token_cycle),
                json={
                    "body": f"关于第{i % SECTIONS + 1}条的第{i}条意见：建议明确答复时限和办理流程，并公开办理结果。",
                    "section_id": section_ids[i % SECTIONS] if i % 4 else None,
                },
                name="post comment",
                on_response=keep,
            )
            for i in range(args.comments)
        ]
        posted = await drive(
            specs, concurrency=args.concurrency, server=server, label="post comment"
        )
        print(posted.summary())
        rows.append(posted.row())

        moderated = await drive(
            [
                server.spec(
                    "POST",
                    f"/api/v1/comments/{c}/moderation",
                    token=moderator,
                    json={"decision": "publish"},
                    name="publish comment",
                )
                for c in comment_ids
            ],
            concurrency=args.concurrency,
            server=server,
            label="publish comment",
        )
        print(moderated.summary())
        rows.append(moderated.row())

        for path, label in (
            (f"/consultations/{cid}", "draft page (5,000 comments)"),
            (f"/consultations/{cid}/comments?section={section_ids[0]}&page=3", "comment list page"),
            (f"/api/v1/consultations/{cid}/comments", "JSON: every published comment"),
        ):
            n = args.renders if not path.startswith("/api") else max(10, args.renders // 10)
            result = await drive(
                [server.spec("GET", path, name=label) for _ in range(n)],
                concurrency=min(args.concurrency, 10),
                server=server,
                label=label,
            )
            print(result.summary())
            rows.append(result.row())
    base = (
        await ceiling(args.database, args.workers, n=args.ceiling, concurrency=args.concurrency)
        if args.ceiling
        else None
    )
    if base is not None:
        print(base.summary())
        rows[0] = posted.row(ceiling=base)
        rows.append(base.row())
    if args.report:
        write_report(
            args.report,
            f"Consultation with {len(comment_ids)} comments ({args.database}, {args.workers} worker(s))",
            rows,
        )


if __name__ == "__main__":
    asyncio.run(main())
