"""Database wiring: one Tortoise app per feature, each with its own migrations."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from tortoise import connections

#: Tortoise app label -> package. Every feature owns its models and migrations.
FEATURE_APPS = (
    "accounts",
    "notify",
    "audit",
    "consultations",
    "meetings",
    "openmonth",
    "voting",
)

_SQLITE_DEFAULTS = {
    "journal_mode": "WAL",
    "busy_timeout": "10000",
    "synchronous": "NORMAL",
    # SQLite's own default page cache is 2 MiB: a busy month's registrations and outbox no
    # longer fit, and every statement then reads pages back from the OS. 64 MiB per
    # connection, with reads through a memory map.
    "cache_size": "-65536",
    "mmap_size": "268435456",
    # Tortoise truncates the WAL file to 16 KiB after every checkpoint, so it is grown again
    # block by block a thousand pages later; keep up to 64 MiB of it.
    "journal_size_limit": "67108864",
}


def normalize_url(url: str) -> str:
    """SQLite gets WAL, a busy timeout, NORMAL sync and a larger page cache unless the URL
    says otherwise."""
    if not url.startswith("sqlite"):
        return url
    parts = urlsplit(url)
    params = dict(parse_qsl(parts.query))
    for key, value in _SQLITE_DEFAULTS.items():
        params.setdefault(key, value)
    return urlunsplit(parts._replace(query=urlencode(params)))


def apps_with_models() -> list[str]:
    """The feature apps whose models module defines at least one model."""
    import importlib
    import inspect

    from tortoise.models import Model

    labels = []
    for label in FEATURE_APPS:
        module = importlib.import_module(f"canyu.{label}.models")
        if any(
            inspect.isclass(obj) and issubclass(obj, Model) and obj.__module__ == module.__name__
            for obj in vars(module).values()
        ):
            labels.append(label)
    return labels


async def _keep_session(connection: Any) -> None:
    """asyncpg's pool runs ``SELECT pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET
    ALL`` on every connection given back (one more round trip for each query outside a
    transaction and each transaction). Canyu takes no advisory locks, keeps no cursors open
    across queries, listens to nothing and changes no session setting, so there is nothing to
    undo; an unfinished transaction is still rolled back by asyncpg before this is called."""


def _connection(url: str) -> dict[str, Any]:
    """The connection as Tortoise would read the URL, with ``_keep_session`` for asyncpg
    (whichever scheme names it: ``postgres://``, ``postgresql://``, ``asyncpg://``) and, for
    SQLite, the client whose connection ``core.sql`` may use from the event loop's thread."""
    from tortoise.backends.base.config_generator import expand_db_url

    config = expand_db_url(url)
    if config["engine"] == "tortoise.backends.sqlite":
        config["engine"] = "canyu.core.sqlite_client"
    elif config["engine"] == "tortoise.backends.asyncpg":
        config["credentials"]["reset"] = _keep_session
    return config


def tortoise_config(database_url: str) -> dict[str, Any]:
    url = normalize_url(database_url)
    if url.startswith("sqlite://") and not url.startswith("sqlite://:memory:"):
        from pathlib import Path

        path = urlsplit(url).netloc + urlsplit(url).path
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    return {
        "connections": {"default": _connection(url)},
        "apps": {
            label: {
                "models": [f"canyu.{label}.models"],
                "migrations": f"canyu.{label}.migrations",
                "default_connection": "default",
            }
            for label in apps_with_models()
        },
        "use_tz": True,
        "timezone": "UTC",
    }


def __getattr__(name: str) -> Any:
    # ``TORTOISE_ORM`` for Tortoise's own CLI (``tortoise makemigrations``), built lazily so
    # that importing this module has no side effects.
    if name == "TORTOISE_ORM":
        from canyu.settings import Settings

        return tortoise_config(Settings.from_env().database_url)
    raise AttributeError(name)


def dialect() -> str:
    """``sqlite`` or ``postgres``."""
    return connections.get("default").capabilities.dialect


def is_postgres() -> bool:
    return dialect() == "postgres"


async def apply_migrations(database_url: str) -> None:
    """Apply every pending migration (what ``canyu migrate`` and ``canyu serve`` do)."""
    from tortoise import Tortoise
    from tortoise.migrations.api import migrate

    config = tortoise_config(database_url)
    try:
        await migrate(config=config)
    finally:
        await Tortoise.close_connections()
