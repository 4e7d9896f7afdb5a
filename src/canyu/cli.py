"""The ``canyu`` command (see API.md): serve, migrate, demo, staff, draw, outbox."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from canyu.settings import Settings


def _setup_logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")


async def _with_orm(settings: Settings, job: Callable[[], Awaitable[Any]]) -> Any:
    from tortoise import Tortoise

    from canyu.app import configure
    from canyu.core.db import tortoise_config

    configure(settings)
    await Tortoise.init(config=tortoise_config(settings.database_url), _enable_global_fallback=True)
    try:
        return await job()
    finally:
        await Tortoise.close_connections()


def cmd_migrate(args: argparse.Namespace) -> int:
    from canyu.core.db import apply_migrations

    settings = Settings.from_env()
    asyncio.run(apply_migrations(settings.database_url))
    print("migrations applied")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from canyu.core.db import apply_migrations

    settings = Settings.from_env()
    asyncio.run(apply_migrations(settings.database_url))
    uvicorn.run(
        "canyu.asgi:app",
        host=args.host,
        port=args.port,
        workers=args.workers,
        proxy_headers=True,
        forwarded_allow_ips=args.forwarded_allow_ips,
        access_log=False,
        log_level="info",
    )
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from canyu import demo
    from canyu.core.db import apply_migrations

    settings = Settings.from_env()
    asyncio.run(apply_migrations(settings.database_url))
    summary = asyncio.run(_with_orm(settings, demo.load))
    for line in summary:
        print(line)
    return 0


def cmd_staff_create(args: argparse.Namespace) -> int:
    from canyu.accounts import service
    from canyu.core.errors import DomainError

    if not args.password_stdin:
        print(
            "error: --password-stdin is required: the password is read from standard input",
            file=sys.stderr,
        )
        return 2
    password = sys.stdin.readline().rstrip("\r\n")
    settings = Settings.from_env()

    async def create() -> Any:
        return await service.create_staff(args.username, args.role, password, unit_name=args.unit)

    try:
        staff = asyncio.run(_with_orm(settings, create))
    except DomainError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1
    print(f"created staff {staff.username} ({staff.role})")
    return 0


def cmd_draw_verify(args: argparse.Namespace) -> int:
    from canyu.meetings.selection import verify_record

    try:
        record = json.loads(Path(args.record).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        print(f"cannot read record: {exc}", file=sys.stderr)
        return 1
    differences = verify_record(record, full=args.full)
    if differences:
        for line in differences:
            print(line)
        return 1
    print("verified")
    return 0


def cmd_outbox_run(args: argparse.Namespace) -> int:
    from canyu.notify import worker

    settings = Settings.from_env()
    if args.once:
        sent = asyncio.run(_with_orm(settings, lambda: worker.run_once(settings)))
        print(f"sent {sent}")
        return 0
    try:
        asyncio.run(_with_orm(settings, lambda: worker.run_forever(settings)))
    except KeyboardInterrupt:
        pass
    return 0


def cmd_backup(args: argparse.Namespace) -> int:
    """A consistent copy of the SQLite database while the app keeps running (VACUUM INTO)."""
    import sqlite3
    from urllib.parse import urlsplit

    from canyu.core.db import normalize_url

    settings = Settings.from_env()
    if not settings.is_sqlite:
        print(
            'PostgreSQL: use pg_dump, e.g. `pg_dump -Fc -f canyu.dump "$CANYU_DATABASE_URL"`',
            file=sys.stderr,
        )
        return 2
    parts = urlsplit(normalize_url(settings.database_url))
    source = parts.netloc + parts.path
    dest = Path(args.dest)
    if dest.exists():
        print(f"error: {dest} exists", file=sys.stderr)
        return 1
    dest.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(source, timeout=30)
    try:
        conn.execute("PRAGMA busy_timeout = 30000")
        conn.execute("VACUUM INTO ?", (str(dest),))
    finally:
        conn.close()
    print(f"backup written to {dest}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="canyu", description="Canyu (参与) public-participation platform"
    )
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="apply pending migrations, then serve")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1)
    serve.add_argument("--forwarded-allow-ips", default="127.0.0.1")
    serve.set_defaults(func=cmd_serve)

    sub.add_parser("migrate", help="apply pending migrations and exit").set_defaults(
        func=cmd_migrate
    )
    sub.add_parser("demo", help="load Chinese demo data (idempotent)").set_defaults(func=cmd_demo)

    staff = sub.add_parser("staff", help="staff accounts")
    staff_sub = staff.add_subparsers(dest="staff_command", required=True)
    create = staff_sub.add_parser("create", help="create a staff account")
    create.add_argument("username")
    create.add_argument(
        "--role", required=True, choices=["admin", "organizer", "moderator", "reviewer"]
    )
    create.add_argument("--unit", default=None)
    create.add_argument("--password-stdin", action="store_true")
    create.set_defaults(func=cmd_staff_create)

    draw = sub.add_parser("draw", help="selection records")
    draw_sub = draw.add_subparsers(dest="draw_command", required=True)
    verify = draw_sub.add_parser("verify", help="re-run a published selection record")
    verify.add_argument("record")
    verify.add_argument("--full", action="store_true", help="also recompute the panel distribution")
    verify.set_defaults(func=cmd_draw_verify)

    backup = sub.add_parser("backup", help="consistent copy of the SQLite database, while serving")
    backup.add_argument("dest")
    backup.set_defaults(func=cmd_backup)

    outbox = sub.add_parser("outbox", help="the mail worker")
    outbox_sub = outbox.add_subparsers(dest="outbox_command", required=True)
    run = outbox_sub.add_parser("run", help="run the mail worker alone")
    run.add_argument("--once", action="store_true", help="send what is due, then exit")
    run.set_defaults(func=cmd_outbox_run)
    return parser


def main(argv: list[str] | None = None) -> int:
    _setup_logging()
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
