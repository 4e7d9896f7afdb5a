"""The shared benchmark driver: a real ``canyu serve``, real sign-ins, a load driver, a ceiling.

Everything here drives the application over HTTP from outside, exactly as a deployment is used:
a fresh database (SQLite file or a new PostgreSQL database), the real migrations, ``canyu serve
--workers N`` in a subprocess, and a real SMTP server (on loopback, in a process of its own) that
receives the mailed sign-in codes. Rate limits are scaled up (``CANYU_RATE_LIMIT_SCALE=100000``)
and the anti-bot challenge is off (``CANYU_POW_DIFFICULTY=0``); every rule still applies.

Usage (a feature benchmark, run with ``python -m bench.<feature> --database postgres --workers 2``)::

    import asyncio
    from bench.common import (RequestSpec, bench_parser, ceiling, drive, sign_in_many,
                              staff_token, start_server, write_report)

    async def main() -> None:
        args = bench_parser("My feature benchmark", residents=500).parse_args()
        with start_server(args.database, args.workers) as server:       # also: server.stop()
            admin = await staff_token(server, "bench-admin", "admin")
            tokens = await sign_in_many(server, args.residents, concurrency=args.concurrency)
            print(tokens.result.only("sign-in").summary())              # whole sign-in flows
            r = await drive(
                [server.spec("POST", "/api/v1/events/1/registrations", token=t, json={"companions": 0},
                             name="register") for t in tokens],
                concurrency=args.concurrency, server=server, label="register")
            # or an async generator of RequestSpec; r.throughput, r.p50, r.p99, r.statuses,
            # r.server_errors, r.only("register"), r.summary(), r.row()
        base = await ceiling(args.database, args.workers, n=2000, concurrency=args.concurrency)
        write_report("docs/benchmarks/<feature>.md", "Registration rush",
                     [r.row(ceiling=base), base.row()])

    asyncio.run(main())

Pieces:

- ``start_server(database, workers, extra_env) -> ServerHandle``: context manager (and a plain
  call: the handle is already started; ``handle.stop()`` ends it). ``handle.url``,
  ``handle.mailbox`` (``await mailbox.wait_code(address)``, ``mailbox.count``),
  ``handle.env`` (the server's environment, for running ``canyu`` commands: ``handle.canyu(...)``),
  ``handle.spec(method, path, token=..., json=...)`` builds a ``RequestSpec``.
- ``sign_in_many(handle, n, concurrency)``: n distinct residents through POST /api/v1/auth/code,
  the mailed code (the first run of exactly six digits in the text/plain part), POST
  /api/v1/auth/token. Returns the bearer tokens (a list; ``.result`` holds the measurements:
  ``.result.only("sign-in")`` is the whole flow, ``auth/code``, ``mail`` and ``auth/token`` the steps).
- ``staff_token(handle, username, role, unit=None)``: ``canyu staff create ... --password-stdin``
  with the server's environment, then POST /api/v1/staff/token.
- ``drive(requests, concurrency, *, server=None, processes=1)``: ``concurrency`` keep-alive
  connections (one ``httpx.AsyncClient`` each: a single shared pool of that size is ~3x slower on
  the client side) pull requests from a list or an async generator. The Result carries the
  client's own CPU use: when it is near 100 % of one core the client, not the server, is the
  limit (one httpx process tops out near 1,000 simple requests/s on this kind of machine); then
  pass ``processes=k`` (a list of plain specs, no callbacks) to split the load over k client
  processes. The main module must then be import-safe (``if __name__ == "__main__":``).
  ``result.machine_busy`` is the whole machine's CPU use during the run, other programs included,
  and ``result.load`` the load average when it began: on a shared machine req/s and latencies
  move with the neighbours' load, while ``result.server_cpu_per_request`` (the app's CPU time per
  request, column "server CPU ms/req") hardly does. Publish both.
- ``ceiling(database, workers, n, concurrency)``: the same load shape against
  ``bench/naive_app.py`` (Starlette + Tortoise, one endpoint inserting one row, same database
  kind, same uvicorn, same worker count): what this machine can do at best for a write request.
  Report features as "x % of the naive insert ceiling" (``result.row(ceiling=base)``). Its
  first ``2 * concurrency`` inserts warm the server up and are not measured. On a machine whose
  speed drifts, measure it before and after the cases and pass both: ``row(ceiling=[before,
  after])`` compares with their mean (``ceiling_throughput``).
- ``settle_mail(handle, expected)``: waits until the SMTP sink has ``expected`` mails in all,
  so that one step's mail is not sent during the next step's measurement.
- ``write_report(path, title, rows)``: appends a Markdown section with the exact command, the
  date, the machine (CPUs, memory) and a table of the rows.

``python -m bench.run`` (``make bench``) runs every feature benchmark present as
``python -m bench.<feature> --database D --workers W --residents R --concurrency C --ceiling K
--report bench/results/<feature>.md``, so parse your options with ``bench_parser(...)`` (add your
own with defaults) and keep a run at the default sizes to a few minutes on a 2-core machine.
Write the numbers you publish to ``docs/benchmarks/<feature>.md`` (``--report`` that path).

The server inherits this process's environment, so ``CANYU_REDIS_URL=redis://... python -m
bench.x`` measures with shared rate-limit counters (``extra_env`` overrides per server).
``mailbox.wait_code(address)`` hands out, once each, the six-digit runs of the mails to that
address in arrival order (mails with attachments are counted, not read): sign residents in
before other mails to them can contain six digits. The SMTP server runs in a process of its
own, so that receiving mail does not slow the load generator down; it still uses the same CPUs.

Set ``CANYU_BENCH_POSTGRES_URL`` to use another PostgreSQL server than
``postgres://postgres@127.0.0.1:5432/test`` (the bench creates and drops its own database there).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import concurrent.futures
import contextlib
import datetime as dt
import email
import email.policy
import inspect
import math
import multiprocessing
import os
import platform
import re
import secrets
import shlex
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

import httpx

ROOT = Path(__file__).resolve().parents[1]
POSTGRES_ADMIN_URL = os.environ.get(
    "CANYU_BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test"
)
CODE_RE = re.compile(r"(?<!\d)\d{6}(?!\d)")
Database = Literal["sqlite", "postgres"]

__all__ = [
    "Mailbox",
    "RequestSpec",
    "Result",
    "ServerHandle",
    "bench_parser",
    "ceiling",
    "drive",
    "machine",
    "sign_in_many",
    "staff_token",
    "start_naive_server",
    "start_server",
    "write_report",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run_in_thread(fn: Callable[[], Awaitable[Any]]) -> Any:
    """Run a coroutine on its own loop in a thread (safe whether or not a loop is running)."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = asyncio.run(fn())  # type: ignore[arg-type]
        except BaseException as exc:
            box["error"] = exc

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box.get("value")


# --- mail -------------------------------------------------------------------------------


def text_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    return "" if part is None else str(part.get_content())


def code_of(message: EmailMessage) -> str | None:
    """The sign-in code: the first run of exactly six digits in the text/plain part."""
    match = CODE_RE.search(text_of(message))
    return match.group(0) if match else None


def _code_of_raw(content: bytes) -> str | None:
    """The sign-in code of a received mail (see ``code_of``); None for a mail with attachments
    (a confirmation with its QR ticket is not parsed). A single text part in base64, which is
    how Canyu writes a mail without attachments, is decoded directly; any other shape goes
    through the ``email`` package."""
    split = content.find(b"\r\n\r\n")
    head, body = content[:split], content[split + 4 :]  # the top-level header block
    lowered = head.lower()
    if b"multipart/mixed" in lowered:
        return None
    if (b"multipart/" not in lowered and b"text/plain" in lowered
            and b"content-transfer-encoding: base64" in lowered):
        match = CODE_RE.search(base64.b64decode(body).decode("utf-8", "replace"))
        return match.group(0) if match else None
    return code_of(email.message_from_bytes(content, policy=email.policy.default))  # type: ignore[arg-type]


class _SinkProtocol(asyncio.Protocol):
    """The SMTP server of the mail sink process (RFC 5321: greeting, EHLO/HELO, MAIL, RCPT,
    DATA with dot-unstuffing, RSET, NOOP, QUIT). It counts every mail and reads the sign-in
    code of the mails without attachments (a confirmation with its QR ticket is not parsed).
    Written against the transport rather than with aiosmtpd, whose line-by-line reading cost
    0.3 ms of CPU per mail on a 2-core machine: in a busy day a sixth of a core taken from
    the server under test."""

    def __init__(self, codes: Any, count: Any) -> None:
        self.codes, self.count = codes, count
        self.buffer = bytearray()
        self.in_data = False
        self.searched = 0
        self.rcpts: list[str] = []

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        transport.write(b"220 canyu-bench-sink ESMTP\r\n")

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            if self.in_data:
                if self.buffer.startswith(b".\r\n"):  # an empty message
                    content, consumed = b"", 3
                else:
                    end = self.buffer.find(b"\r\n.\r\n", max(0, self.searched - 4))
                    if end < 0:
                        self.searched = len(self.buffer)
                        return
                    content, consumed = bytes(self.buffer[: end + 2]), end + 5
                del self.buffer[:consumed]
                self.in_data, self.searched = False, 0
                content = content.replace(b"\r\n..", b"\r\n.")  # dot-unstuffing
                self._received(content[1:] if content.startswith(b"..") else content)
                continue
            line_end = self.buffer.find(b"\r\n")
            if line_end < 0:
                return
            line = bytes(self.buffer[:line_end]).decode("utf-8", "replace")
            del self.buffer[: line_end + 2]
            self._command(line)

    def _command(self, line: str) -> None:
        verb, _, arg = line.partition(" ")
        verb = verb.upper()
        if verb == "EHLO":
            self.transport.write(b"250-canyu-bench-sink\r\n250-8BITMIME\r\n250 HELP\r\n")
        elif verb in ("HELO", "NOOP"):
            self.transport.write(b"250 OK\r\n")
        elif verb in ("MAIL", "RSET"):
            self.rcpts = []
            self.transport.write(b"250 OK\r\n")
        elif verb == "RCPT":
            address = arg.partition(":")[2].strip().split(" ")[0].strip("<>")
            self.rcpts.append(address.lower())
            self.transport.write(b"250 OK\r\n")
        elif verb == "DATA":
            if not self.rcpts:
                self.transport.write(b"503 Error: need RCPT command\r\n")
                return
            self.in_data = True
            self.transport.write(b"354 End data with <CR><LF>.<CR><LF>\r\n")
        elif verb == "QUIT":
            self.transport.write(b"221 Bye\r\n")
            self.transport.close()
        else:
            self.transport.write(b"500 Error: command not recognized\r\n")

    def _received(self, content: bytes) -> None:
        with self.count.get_lock():
            self.count.value += 1
        code = _code_of_raw(content)
        if code is not None:
            for rcpt in self.rcpts:
                self.codes.put((rcpt, code))
        self.rcpts = []
        self.transport.write(b"250 OK\r\n")


def _sink_process(port: int, codes: Any, count: Any, stop: Any) -> None:
    import uvloop

    loop = uvloop.new_event_loop()
    server = loop.run_until_complete(loop.create_server(
        lambda: _SinkProtocol(codes, count), "127.0.0.1", port))
    waiting = loop.run_in_executor(None, stop.wait)
    try:
        loop.run_until_complete(waiting)
    finally:
        server.close()
        loop.run_until_complete(server.wait_closed())
        loop.close()


class Mailbox:
    """A real SMTP server (``_SinkProtocol`` on loopback) in a process of its own, so that receiving
    thousands of mails does not take the load generator's interpreter lock; it sends the
    sign-in codes back over a queue and counts every mail."""

    def __init__(self) -> None:
        self.port = free_port()
        self._lock = threading.Lock()
        self._codes: dict[str, list[str]] = {}
        self._waiters: dict[str, list[tuple[asyncio.AbstractEventLoop, asyncio.Future[str]]]] = {}
        self._context = multiprocessing.get_context("spawn")
        self._queue = self._context.Queue()
        self._count = self._context.Value("q", 0)
        self._stop = self._context.Event()
        self._process: Any = None
        self._reader: threading.Thread | None = None

    def start(self) -> Mailbox:
        if self._process is None:
            self._stop.clear()
            self._process = self._context.Process(
                target=_sink_process, args=(self.port, self._queue, self._count, self._stop),
                daemon=True,
            )
            self._process.start()
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                with contextlib.suppress(OSError), socket.create_connection(
                    ("127.0.0.1", self.port), timeout=0.5
                ):
                    break
                time.sleep(0.05)
            self._reader = threading.Thread(target=self._read_codes, daemon=True)
            self._reader.start()
        return self

    def stop(self) -> None:
        if self._process is not None:
            self._stop.set()
            self._process.join(10)
            if self._process.is_alive():
                self._process.kill()
            self._process = None
            self._queue.put(None)  # ends the reader
            if self._reader is not None:
                self._reader.join(5)

    def _read_codes(self) -> None:
        while (item := self._queue.get()) is not None:
            address, code = item
            with self._lock:
                waiters = self._waiters.get(address)
                while waiters:
                    loop, future = waiters.pop(0)
                    if not future.done():
                        loop.call_soon_threadsafe(_resolve, future, code)
                        break
                else:
                    self._codes.setdefault(address, []).append(code)

    async def wait_code(self, address: str, wait: float = 60.0) -> str:
        """The next sign-in code mailed to ``address`` (each code is handed out once)."""
        address = address.lower()
        loop = asyncio.get_running_loop()
        with self._lock:
            codes = self._codes.get(address)
            if codes:
                return codes.pop(0)
            future: asyncio.Future[str] = loop.create_future()
            self._waiters.setdefault(address, []).append((loop, future))
        try:
            return await asyncio.wait_for(future, wait)
        finally:
            with self._lock:
                waiters = self._waiters.get(address, [])
                self._waiters[address] = [w for w in waiters if w[1] is not future]

    @property
    def count(self) -> int:
        """Every mail received so far."""
        return int(self._count.value)


def _resolve(future: asyncio.Future[str], value: str) -> None:
    if not future.done():
        future.set_result(value)


# --- databases ---------------------------------------------------------------------------


async def _pg_exec(url: str, *statements: str) -> str:
    import asyncpg

    parts = urlsplit(url)
    conn = await asyncpg.connect(
        host=parts.hostname, port=parts.port or 5432, user=parts.username or "postgres",
        password=parts.password, database=parts.path.lstrip("/") or "postgres",
    )
    try:
        for statement in statements:
            await conn.execute(statement)
        return str(await conn.fetchval("SHOW server_version"))
    finally:
        await conn.close()


@dataclass
class _Database:
    kind: str
    url: str
    version: str
    drop: Callable[[], None] | None = None


def _fresh_database(kind: str, tmp: Path, purpose: str) -> _Database:
    if kind == "sqlite":
        import sqlite3

        return _Database("sqlite", f"sqlite://{tmp}/{purpose}.sqlite3", f"SQLite {sqlite3.sqlite_version}")
    if kind != "postgres":
        raise ValueError("database must be sqlite or postgres")
    name = f"canyu_bench_{purpose}_{os.getpid()}_{secrets.token_hex(3)}"
    version = _run_in_thread(lambda: _pg_exec(POSTGRES_ADMIN_URL, f'CREATE DATABASE "{name}"'))
    url = urlunsplit(urlsplit(POSTGRES_ADMIN_URL)._replace(path="/" + name))

    def drop() -> None:
        _run_in_thread(lambda: _pg_exec(POSTGRES_ADMIN_URL, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    return _Database("postgres", url, f"PostgreSQL {version.split()[0]}", drop)


# --- servers -----------------------------------------------------------------------------


def _canyu_command() -> list[str]:
    exe = shutil.which("canyu", path=str(Path(sys.executable).parent))
    return [exe] if exe else [sys.executable, "-m", "canyu.cli"]


def _session_cpu_seconds(session_id: int) -> float:
    """User + system CPU seconds of every live process in a session (the server and its workers)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            raw = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        rest = raw[raw.rindex(")") + 2 :].split()
        if int(rest[3]) == session_id:
            total += int(rest[11]) + int(rest[12])
    return total / ticks


def _machine_busy_ticks() -> tuple[int, int]:
    """(busy, total) CPU ticks of the whole machine since boot."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return sum(fields) - idle, sum(fields)


@dataclass
class ServerHandle:
    """A running server: ``url``, ``mailbox``, ``env``; ``stop()`` ends it and drops its database."""

    kind: str
    database: str
    workers: int
    url: str
    env: dict[str, str]
    mailbox: Mailbox | None
    database_url: str
    database_version: str
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    _tmp: Path | None = None
    _drop: Callable[[], None] | None = None
    _staff_passwords: dict[str, str] = field(default_factory=dict)

    def __enter__(self) -> ServerHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def spec(
        self,
        method: str,
        path: str,
        *,
        token: str | None = None,
        json: Any = None,
        headers: dict[str, str] | None = None,
        name: str = "",
        on_response: Callable[[httpx.Response], Any] | None = None,
    ) -> RequestSpec:
        """A request to this server (``token`` becomes ``Authorization: Bearer ...``)."""
        all_headers = dict(headers or {})
        if token:
            all_headers["Authorization"] = f"Bearer {token}"
        return RequestSpec(method, self.url + path, json=json, headers=all_headers or None,
                           name=name or f"{method} {path}", on_response=on_response)

    def canyu(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        """Run a ``canyu`` command with this server's environment."""
        return subprocess.run(
            [*_canyu_command(), *args], env=self.env, cwd=ROOT, input=stdin, text=True,
            capture_output=True, timeout=120, check=False,
        )

    def cpu_seconds(self) -> float:
        return _session_cpu_seconds(self.process.pid) if self.process else 0.0

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.process = None
        if self.mailbox is not None:
            self.mailbox.stop()
        if self._drop is not None:
            drop, self._drop = self._drop, None
            drop()
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None


def _spawn(handle: ServerHandle, command: list[str], timeout: float = 90.0) -> ServerHandle:
    with handle.log_path.open("ab") as log:
        handle.process = subprocess.Popen(
            command, env=handle.env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (code := handle.process.poll()) is not None:
            tail = handle.log_tail()
            handle.stop()
            raise RuntimeError(f"server exited with {code}:\n{tail}")
        try:
            if httpx.get(handle.url + "/healthz", timeout=1).status_code == 200:
                return handle
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    tail = handle.log_tail()
    handle.stop()
    raise RuntimeError("server did not answer /healthz in time:\n" + tail)


def start_server(
    database: Database = "sqlite",
    workers: int = 1,
    extra_env: dict[str, str] | None = None,
) -> ServerHandle:
    """A fresh database, the migrations, ``canyu serve --workers N`` and a capturing SMTP server.

    Use as a context manager (``with start_server("postgres", 2) as server:``) or call ``stop()``."""
    tmp = Path(tempfile.mkdtemp(prefix="canyu-bench-"))
    db = _fresh_database(database, tmp, "canyu")
    mailbox = Mailbox().start()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "CANYU_DATABASE_URL": db.url,
        "CANYU_SECRET_KEY": secrets.token_urlsafe(48),
        "CANYU_BASE_URL": url,
        "CANYU_SMTP_HOST": "127.0.0.1",
        "CANYU_SMTP_PORT": str(mailbox.port),
        "CANYU_SMTP_TLS": "none",
        "CANYU_VAR_DIR": str(tmp / "var"),
        "CANYU_RATE_LIMIT_SCALE": "100000",
        "CANYU_POW_DIFFICULTY": "0",
        "CANYU_OUTBOX_INTERVAL": "0.5",
        **(extra_env or {}),
    }
    handle = ServerHandle(
        kind="canyu", database=database, workers=workers, url=url, env=env, mailbox=mailbox,
        database_url=db.url, database_version=db.version, log_path=tmp / "server.log",
        _tmp=tmp, _drop=db.drop,
    )
    try:
        migrated = handle.canyu("migrate")
        if migrated.returncode != 0:
            raise RuntimeError("canyu migrate failed:\n" + migrated.stdout + migrated.stderr)
    except BaseException:
        handle.stop()
        raise
    command = [*_canyu_command(), "serve", "--host", "127.0.0.1", "--port", str(port),
               "--workers", str(workers)]
    return _spawn(handle, command)


def start_naive_server(database: Database = "sqlite", workers: int = 1) -> ServerHandle:
    """``bench/naive_app.py`` under the same uvicorn, on a fresh database of the same kind."""
    tmp = Path(tempfile.mkdtemp(prefix="canyu-naive-"))
    db = _fresh_database(database, tmp, "naive")
    port = free_port()
    env = {**os.environ, "NAIVE_DATABASE_URL": db.url,
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    handle = ServerHandle(
        kind="naive", database=database, workers=workers, url=f"http://127.0.0.1:{port}", env=env,
        mailbox=None, database_url=db.url, database_version=db.version,
        log_path=tmp / "naive.log", _tmp=tmp, _drop=db.drop,
    )
    init = subprocess.run([sys.executable, "-m", "bench.naive_app", "init"], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=120, check=False)
    if init.returncode != 0:
        handle.stop()
        raise RuntimeError("naive schema failed:\n" + init.stdout + init.stderr)
    # The same server settings as ``canyu serve`` (uvicorn.run in canyu/cli.py).
    command = [sys.executable, "-m", "uvicorn", "bench.naive_app:app", "--host", "127.0.0.1",
               "--port", str(port), "--workers", str(workers), "--proxy-headers",
               "--no-access-log", "--log-level", "info"]
    return _spawn(handle, command)


# --- the driver -------------------------------------------------------------------------


@dataclass
class RequestSpec:
    """One request. ``url`` is absolute (``server.spec(...)`` builds it from a path)."""

    method: str
    url: str
    json: Any = None
    headers: dict[str, str] | None = None
    content: bytes | None = None
    data: dict[str, Any] | None = None
    name: str = ""
    #: called with the response (may be async); only in-process (processes=1)
    on_response: Callable[[httpx.Response], Any] | None = None


Record = tuple[str, int, float]  # (name, status or 0 for a transport error, seconds)


def _percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    index = max(0, min(len(sorted_values) - 1, math.ceil(q * len(sorted_values)) - 1))  # nearest rank
    return sorted_values[index]


@dataclass
class Result:
    """What a load run measured. Latencies in seconds; ``row()`` gives milliseconds."""

    label: str
    concurrency: int
    elapsed: float
    records: list[Record]
    errors: Counter[str] = field(default_factory=Counter)
    client_cpu: float = 0.0  # CPU seconds used by the client process(es)
    server_cpu: float | None = None  # CPU seconds used by the server and its workers
    machine_busy: float | None = None  # share of all the machine's CPUs busy during the run
    processes: int = 1
    database: str = ""
    workers: int = 0
    load: float | None = None  # 1-minute load average when the run began (other programs too)

    @property
    def count(self) -> int:
        return len(self.records)

    @property
    def throughput(self) -> float:
        return self.count / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def latencies(self) -> list[float]:
        return sorted(r[2] for r in self.records)

    @property
    def p50(self) -> float:
        return _percentile(self.latencies, 0.50)

    @property
    def p90(self) -> float:
        return _percentile(self.latencies, 0.90)

    @property
    def p99(self) -> float:
        return _percentile(self.latencies, 0.99)

    @property
    def statuses(self) -> Counter[int]:
        return Counter(r[1] for r in self.records)

    @property
    def server_errors(self) -> int:
        return sum(1 for r in self.records if r[1] >= 500)

    @property
    def transport_errors(self) -> int:
        return sum(1 for r in self.records if r[1] == 0)

    @property
    def server_cpu_per_request(self) -> float | None:
        """Server CPU seconds per request (the app's processes, not PostgreSQL's): unlike req/s,
        hardly affected by other programs competing for the machine."""
        if self.server_cpu is None or not self.count:
            return None
        return self.server_cpu / self.count

    def only(self, name: str) -> Result:
        """The requests called ``name`` (same elapsed time: throughput is of that kind alone)."""
        return Result(
            label=f"{self.label}: {name}" if self.label and self.label != name else name,
            concurrency=self.concurrency,
            elapsed=self.elapsed, records=[r for r in self.records if r[0] == name],
            errors=self.errors, client_cpu=self.client_cpu, server_cpu=self.server_cpu,
            machine_busy=self.machine_busy, processes=self.processes, database=self.database,
            workers=self.workers, load=self.load,
        )

    @property
    def names(self) -> list[str]:
        return list(dict.fromkeys(r[0] for r in self.records))

    def statuses_text(self) -> str:
        return " ".join(f"{code or 'err'}×{n}" for code, n in sorted(self.statuses.items()))

    def row(self, ceiling: Result | Sequence[Result] | None = None, **extra: Any) -> dict[str, Any]:
        """A report row. With ``ceiling`` (one Result, or several to average): the throughput as
        a share of the naive insert ceiling."""
        row: dict[str, Any] = {"case": self.label}
        if self.database:
            row["database"] = self.database
        if self.workers:
            row["workers"] = self.workers
        row.update({
            "requests": self.count,
            "concurrency": self.concurrency,
            "req/s": f"{self.throughput:.0f}",
            "p50 ms": f"{self.p50 * 1000:.1f}",
            "p90 ms": f"{self.p90 * 1000:.1f}",
            "p99 ms": f"{self.p99 * 1000:.1f}",
            "statuses": self.statuses_text(),
            "5xx": self.server_errors,
            "elapsed s": f"{self.elapsed:.1f}",
            "client CPU": f"{100 * self.client_cpu / self.elapsed:.0f}%" if self.elapsed else "",
            "server CPU": (f"{100 * self.server_cpu / self.elapsed:.0f}%"
                           if self.server_cpu is not None and self.elapsed else ""),
        })
        per_request = self.server_cpu_per_request
        if per_request is not None:
            row["server CPU ms/req"] = f"{per_request * 1000:.2f}"
        if self.load is not None:
            row["load"] = f"{self.load:.1f}"
        if ceiling is not None:
            base = ceiling_throughput(ceiling)
            share = 100 * self.throughput / base if base else 0.0
            row["of ceiling"] = f"{share:.0f}%"
        row.update(extra)
        return row

    def summary(self) -> str:
        client = 100 * self.client_cpu / self.elapsed if self.elapsed else 0
        server = (f", server CPU {100 * self.server_cpu / self.elapsed:.0f}%"
                  f" ({1000 * (self.server_cpu_per_request or 0):.2f} ms per request)"
                  if self.server_cpu is not None and self.elapsed else "")
        busy = f", machine {100 * self.machine_busy:.0f}% busy" if self.machine_busy is not None else ""
        if self.load is not None:
            busy += f", load {self.load:.1f} at start"
        errors = f", transport errors {dict(self.errors)}" if self.errors else ""
        return (
            f"{self.label}: {self.count} requests in {self.elapsed:.2f}s = {self.throughput:.0f} req/s, "
            f"p50 {self.p50 * 1000:.1f} ms, p90 {self.p90 * 1000:.1f} ms, p99 {self.p99 * 1000:.1f} ms, "
            f"statuses {self.statuses_text()}, 5xx {self.server_errors}{errors}; "
            f"client CPU {client:.0f}% of one core ({self.processes} process(es)){server}{busy}"
        )


_SSL_CONTEXT: ssl.SSLContext | None = None


def _client(concurrency: int, timeout: float) -> httpx.AsyncClient:
    # One TLS context for every client: httpx builds one per client otherwise (~10 ms of CPU
    # each, which would be charged to the client when a run opens 50 of them).
    global _SSL_CONTEXT
    if _SSL_CONTEXT is None:
        _SSL_CONTEXT = ssl.create_default_context()
    return httpx.AsyncClient(
        verify=_SSL_CONTEXT,
        limits=httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency),
        timeout=timeout,
    )


async def _drive_here(
    requests: Iterable[RequestSpec] | AsyncIterator[RequestSpec],
    concurrency: int,
    request_timeout: float,
) -> tuple[list[Record], Counter[str], float, float]:
    """(records, transport errors, elapsed seconds, client CPU seconds over the same span)."""
    records: list[Record] = []
    errors: Counter[str] = Counter()
    lock = asyncio.Lock()
    if hasattr(requests, "__anext__"):
        agen: AsyncIterator[RequestSpec] = requests  # type: ignore[assignment]

        async def next_spec() -> RequestSpec | None:
            async with lock:  # an async generator cannot be advanced by two tasks at once
                try:
                    return await agen.__anext__()
                except StopAsyncIteration:
                    return None
    else:
        it: Iterator[RequestSpec] = iter(requests)  # type: ignore[arg-type]

        async def next_spec() -> RequestSpec | None:
            return next(it, None)

    # One AsyncClient (a pool of one keep-alive connection) per worker: ``concurrency``
    # connections in all. One shared pool of that size costs the client ~3x more CPU at 50
    # connections (httpcore scans its pool on every request) and the client becomes the limit.
    clients = [_client(1, request_timeout) for _ in range(concurrency)]
    async with contextlib.AsyncExitStack() as stack:
        for c in clients:
            await stack.enter_async_context(c)

        async def worker(client: httpx.AsyncClient) -> None:
            while (spec := await next_spec()) is not None:
                started = time.perf_counter()
                try:
                    response = await client.request(
                        spec.method, spec.url, json=spec.json, headers=spec.headers,
                        content=spec.content, data=spec.data,
                    )
                    status = response.status_code
                except httpx.HTTPError as exc:
                    status, response = 0, None
                    errors[type(exc).__name__] += 1
                records.append((spec.name or spec.method, status, time.perf_counter() - started))
                if response is not None and spec.on_response is not None:
                    outcome = spec.on_response(response)
                    if inspect.isawaitable(outcome):
                        await outcome

        started, cpu = time.perf_counter(), time.process_time()
        await asyncio.gather(*(worker(c) for c in clients))
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    return records, errors, elapsed, cpu


def _child_drive(specs: list[RequestSpec], concurrency: int, start_at: float, timeout: float) -> Any:
    """One client process of a multi-process run: waits for the common start, then drives."""
    delay = start_at - time.time()
    if delay > 0:
        time.sleep(delay)
    return asyncio.run(_drive_here(specs, concurrency, timeout))


async def drive(
    requests: list[RequestSpec] | Iterable[RequestSpec] | AsyncIterator[RequestSpec],
    concurrency: int,
    *,
    server: ServerHandle | None = None,
    label: str = "",
    processes: int = 1,
    request_timeout: float = 60.0,
) -> Result:
    """Send every request with ``concurrency`` requests in flight; measure.

    ``processes > 1`` splits a list over that many client processes (each with
    ``concurrency // processes`` connections); specs must then be picklable (no ``on_response``)."""
    server_cpu0 = server.cpu_seconds() if server else None
    busy0 = _machine_busy_ticks()
    load = os.getloadavg()[0]
    if processes <= 1:
        records, errors, elapsed, client_cpu = await _drive_here(requests, concurrency, request_timeout)
    else:
        specs = list(requests)  # type: ignore[arg-type]
        chunks = [specs[i::processes] for i in range(processes)]
        per_process = max(1, concurrency // processes)
        context = multiprocessing.get_context("spawn")
        start_at = time.time() + 3.0  # time for the children to start and import
        loop = asyncio.get_running_loop()
        with concurrent.futures.ProcessPoolExecutor(processes, mp_context=context) as pool:
            outcomes = await asyncio.gather(*(
                loop.run_in_executor(pool, _child_drive, chunk, per_process, start_at, request_timeout)
                for chunk in chunks
            ))
        records, errors, client_cpu = [], Counter(), 0.0
        elapsed = 0.0
        for child_records, child_errors, child_elapsed, child_cpu in outcomes:
            records.extend(child_records)
            errors.update(child_errors)
            client_cpu += child_cpu
            elapsed = max(elapsed, child_elapsed)
    busy1 = _machine_busy_ticks()
    total = busy1[1] - busy0[1]
    return Result(
        label=label, concurrency=concurrency, elapsed=elapsed, records=records, errors=errors,
        client_cpu=client_cpu,
        server_cpu=(server.cpu_seconds() - server_cpu0) if server and server_cpu0 is not None else None,
        machine_busy=(busy1[0] - busy0[0]) / total if total else None,
        processes=max(1, processes),
        database=server.database if server else "", workers=server.workers if server else 0,
        load=load,
    )


# --- residents and staff ------------------------------------------------------------------


class SignIns(list[str]):
    """Bearer tokens of the residents signed in, with ``.result`` and ``.addresses``."""

    result: Result
    addresses: list[str]


async def sign_in_many(
    handle: ServerHandle,
    n: int,
    concurrency: int,
    *,
    prefix: str | None = None,
    request_timeout: float = 120.0,
    quiet: bool = False,
) -> SignIns:
    """Sign ``n`` distinct residents in through the real mailed-code flow; return their tokens.

    Each flow: POST /api/v1/auth/code, wait for the mail at the capturing SMTP server, read the
    code, POST /api/v1/auth/token. ``concurrency`` flows run at once. Flows that fail are left
    out of the returned list (the Result shows why); ``.result.only("sign-in")`` measures whole flows."""
    assert handle.mailbox is not None, "sign_in_many needs a canyu server (start_server)"
    mailbox = handle.mailbox
    prefix = prefix or f"bench{secrets.token_hex(3)}"
    addresses = [f"{prefix}.{i:06d}@example.com" for i in range(n)]
    tokens: list[str | None] = [None] * n
    records: list[Record] = []
    errors: Counter[str] = Counter()
    indices = iter(range(n))
    server_cpu0 = handle.cpu_seconds()
    busy0 = _machine_busy_ticks()
    load = os.getloadavg()[0]

    workers = max(1, min(concurrency, n))
    clients = [_client(1, request_timeout) for _ in range(workers)]
    async with contextlib.AsyncExitStack() as stack:
        for c in clients:
            await stack.enter_async_context(c)

        async def flow(client: httpx.AsyncClient, i: int) -> None:
            address = addresses[i]
            began = time.perf_counter()
            status = 0
            try:
                t = time.perf_counter()
                r = await client.post(handle.url + "/api/v1/auth/code", json={"email": address})
                records.append(("auth/code", r.status_code, time.perf_counter() - t))
                status = r.status_code
                if r.status_code != 202:
                    return
                t = time.perf_counter()
                try:
                    code = await mailbox.wait_code(address, request_timeout)
                except TimeoutError:
                    records.append(("mail", 0, time.perf_counter() - t))
                    errors["mail timeout"] += 1
                    status = 0
                    return
                records.append(("mail", 250, time.perf_counter() - t))
                t = time.perf_counter()
                r = await client.post(handle.url + "/api/v1/auth/token",
                                      json={"email": address, "code": code})
                records.append(("auth/token", r.status_code, time.perf_counter() - t))
                status = r.status_code
                if r.status_code == 200:
                    tokens[i] = r.json()["token"]
            except httpx.HTTPError as exc:
                errors[type(exc).__name__] += 1
                status = 0
            finally:
                records.append(("sign-in", status, time.perf_counter() - began))

        async def worker(client: httpx.AsyncClient) -> None:
            for i in indices:
                await flow(client, i)

        started, cpu0 = time.perf_counter(), time.process_time()
        await asyncio.gather(*(worker(c) for c in clients))
        elapsed = time.perf_counter() - started
        client_cpu = time.process_time() - cpu0

    busy1 = _machine_busy_ticks()
    total = busy1[1] - busy0[1]
    result = Result(
        label="sign-in", concurrency=concurrency, elapsed=elapsed, records=records, errors=errors,
        client_cpu=client_cpu, server_cpu=handle.cpu_seconds() - server_cpu0,
        machine_busy=(busy1[0] - busy0[0]) / total if total else None,
        database=handle.database, workers=handle.workers, load=load,
    )
    signed = SignIns(t for t in tokens if t is not None)
    signed.result = result
    signed.addresses = [a for a, t in zip(addresses, tokens, strict=True) if t is not None]
    if not quiet:
        flows = result.only("sign-in")
        print(
            f"signed in {len(signed)}/{n} residents in {elapsed:.1f}s = {flows.throughput:.1f} sign-ins/s "
            f"(p50 {flows.p50 * 1000:.0f} ms, p99 {flows.p99 * 1000:.0f} ms per flow, "
            f"{len(signed) and 3 * len(signed) / elapsed:.0f} HTTP+mail steps/s)",
            file=sys.stderr,
        )
    return signed


async def staff_token(
    handle: ServerHandle, username: str, role: str, unit: str | None = None
) -> str:
    """Create a staff account with ``canyu staff create ... --password-stdin`` (once per
    username and server) and return a bearer token from POST /api/v1/staff/token."""
    password = handle._staff_passwords.get(username)
    if password is None:
        password = "bench-" + secrets.token_urlsafe(12)
        args = ["staff", "create", username, "--role", role, "--password-stdin"]
        if unit:
            args += ["--unit", unit]
        proc = await asyncio.create_subprocess_exec(
            *_canyu_command(), *args, env=handle.env, cwd=ROOT,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )
        out, err = await proc.communicate((password + "\n").encode())
        if proc.returncode != 0:
            raise RuntimeError(f"canyu staff create {username} failed: {out.decode()}{err.decode()}")
        handle._staff_passwords[username] = password
    async with httpx.AsyncClient(timeout=30) as client:
        r = await client.post(handle.url + "/api/v1/staff/token",
                              json={"username": username, "password": password})
    if r.status_code != 200:
        raise RuntimeError(f"staff token for {username}: {r.status_code} {r.text}")
    return str(r.json()["token"])


# --- the naive ceiling ---------------------------------------------------------------------


async def ceiling(
    database: Database, workers: int, n: int = 2000, concurrency: int = 50, *, processes: int = 1,
    label: str = "naive insert ceiling",
) -> Result:
    """The naive insert ceiling: ``n`` POSTs to ``bench/naive_app.py`` (one row each), same
    database kind, same uvicorn, same worker count, same driver. ``2 * concurrency`` inserts go
    first, unmeasured, so that every database connection of the pool is open and has met the
    table (as a feature case is measured on a server that has served its request before)."""
    with start_naive_server(database, workers) as naive:
        def specs(k: int, prefix: str) -> list[RequestSpec]:
            return [RequestSpec("POST", naive.url + "/insert", json={"body": f"{prefix} {i}"},
                                name="insert") for i in range(k)]

        await drive(specs(2 * concurrency, "预热"), concurrency)
        return await drive(specs(n, "行"), concurrency, server=naive, label=label,
                           processes=processes)


def ceiling_throughput(base: Result | Sequence[Result]) -> float:
    """The ceiling a case is compared with: one measurement, or the mean of several (measured
    before and after the cases, so that a machine whose speed drifts during a run is compared
    with its own average)."""
    results = [base] if isinstance(base, Result) else list(base)
    return sum(r.throughput for r in results) / len(results) if results else 0.0


async def settle_mail(server: ServerHandle, expected: int, wait: float = 120.0) -> None:
    """Wait until the server's SMTP sink has received ``expected`` mails in all, so that the
    mail of one step is not sent during the next one's measurement."""
    assert server.mailbox is not None
    deadline = time.monotonic() + wait
    while server.mailbox.count < expected:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{server.mailbox.count} of {expected} mails after {wait:.0f}s")
        await asyncio.sleep(0.05)


# --- reports ------------------------------------------------------------------------------


def machine() -> dict[str, str]:
    cpus = str(os.cpu_count() or "?")
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    memory = "?"
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
                break
    return {
        "cpus": cpus,
        "model": model,
        "memory": memory,
        "system": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
    }


def command_line() -> str:
    """How this process was started, without machine paths (``python -m bench.x --args``)."""
    argv = list(getattr(sys, "orig_argv", sys.argv))
    if argv and Path(argv[0]).name.startswith("python"):
        argv[0] = "python"
    return shlex.join(argv)


def _code_version() -> str:
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                             text=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                               capture_output=True, text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"commit {rev}" + (" with uncommitted changes" if dirty else "")


def write_report(
    path: str | Path,
    title: str,
    rows: list[dict[str, Any]],
    *,
    command: str | None = None,
    notes: Iterable[str] = (),
    databases: Iterable[str] = (),
) -> None:
    """Append a Markdown section: title, exact command, date, machine, a table of ``rows``."""
    path = Path(path)
    if not path.is_absolute():
        path = ROOT / path
    path.parent.mkdir(parents=True, exist_ok=True)
    m = machine()
    columns: list[str] = []
    for row in rows:
        for key in row:
            if key not in columns:
                columns.append(key)
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    code = _code_version()
    lines = [
        "",
        f"## {title}",
        "",
        f"- Command: `{command or command_line()}`",
        f"- Date: {now}",
        f"- Machine: {m['cpus']} CPUs ({m['model'] or 'unknown model'}), {m['memory']} memory, "
        f"{m['system']}, Python {m['python']}"
        + (f", {', '.join(dict.fromkeys(databases))}" if databases else ""),
        f"- Code: {code}",
        "",
    ]
    if columns:
        lines.append("| " + " | ".join(columns) + " |")
        lines.append("|" + "|".join("---" for _ in columns) + "|")
        for row in rows:
            cells = [str(row.get(c, "")).replace("|", "\\|") for c in columns]
            lines.append("| " + " | ".join(cells) + " |")
    notes = list(notes)
    if notes:
        lines.append("")
        lines.extend(f"- {note}" for note in notes)
    lines.append("")
    with path.open("a", encoding="utf-8") as f:
        if path.stat().st_size == 0:
            f.write("# Benchmark results\n")
        f.write("\n".join(lines))


def bench_parser(description: str, **defaults: Any) -> argparse.ArgumentParser:
    """The common options: --database, --workers, --concurrency, --residents, --ceiling,
    --processes, --report. Keyword arguments change the defaults."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--database", choices=["sqlite", "postgres"],
                        default=defaults.get("database", "sqlite"))
    parser.add_argument("--workers", type=int, default=defaults.get("workers", 1))
    parser.add_argument("--concurrency", type=int, default=defaults.get("concurrency", 50))
    parser.add_argument("--residents", type=int, default=defaults.get("residents", 500))
    parser.add_argument("--ceiling", type=int, default=defaults.get("ceiling", 2000),
                        help="requests for the naive insert ceiling (0: skip it)")
    parser.add_argument("--processes", type=int, default=defaults.get("processes", 1),
                        help="client processes for the load (1: one asyncio client)")
    parser.add_argument("--report", default=defaults.get("report", ""),
                        help="append the numbers to this Markdown file")
    return parser
