#!/bin/sh
# Waits (up to CANYU_WAIT_SECONDS, default 60) for the database server named in
# CANYU_DATABASE_URL to accept connections, then runs the command (by default `canyu serve`,
# which applies pending migrations first). A SQLite URL needs no wait.
set -eu

python - <<'PY'
import os, socket, sys, time
from urllib.parse import urlsplit

url = os.environ.get("CANYU_DATABASE_URL", "")
if url.startswith(("postgres://", "postgresql://", "asyncpg://")):
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 5432
    deadline = time.monotonic() + float(os.environ.get("CANYU_WAIT_SECONDS", "60"))
    while True:
        try:
            socket.create_connection((host, port), timeout=3).close()
            break
        except OSError as exc:
            if time.monotonic() > deadline:
                sys.exit(f"database {host}:{port} not reachable: {exc}")
            print(f"waiting for the database at {host}:{port} ...", file=sys.stderr, flush=True)
            time.sleep(1)
PY

exec "$@"
