"""The real migrations build exactly the schema the models describe."""

from __future__ import annotations

import inspect
from pathlib import Path

from tortoise import Tortoise, connections
from tortoise.models import Model

from canyu.core.db import apply_migrations, apps_with_models, tortoise_config


async def _columns() -> dict[str, set[str]]:
    conn = connections.get("default")
    if conn.capabilities.dialect == "sqlite":
        _, tables = await conn.execute_query("SELECT name FROM sqlite_master WHERE type='table'")
        result = {}
        for row in tables:
            name = row["name"]
            if name.startswith("sqlite_") or name == "tortoise_migrations":
                continue
            _, cols = await conn.execute_query(f'PRAGMA table_info("{name}")')
            result[name] = {c["name"] for c in cols}
        return result
    _, cols = await conn.execute_query(
        "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema='public'"
    )
    result: dict[str, set[str]] = {}
    for row in cols:
        if row["table_name"] != "tortoise_migrations":
            result.setdefault(row["table_name"], set()).add(row["column_name"])
    return result


async def test_migrated_schema_matches_the_models(tmp_path: Path, database_url: str):
    from conftest import POSTGRES_URL

    # 1. The test database was built by the real migrations (see the database_template fixture).
    await Tortoise.init(config=tortoise_config(database_url), _enable_global_fallback=True)
    try:
        migrated = await _columns()
    finally:
        await Tortoise.close_connections()
    # 2. A database built straight from the models.
    if POSTGRES_URL:
        # Compare against the models' own column list.
        expected = {m._meta.db_table: set(m._meta.fields_db_projection.values()) for m in _models()}
    else:
        fresh_url = f"sqlite://{tmp_path / 'fresh.sqlite3'}"
        await Tortoise.init(config=tortoise_config(fresh_url), _enable_global_fallback=True)
        try:
            await Tortoise.generate_schemas()
            expected = await _columns()
        finally:
            await Tortoise.close_connections()
    assert migrated == expected


def _models() -> list[type[Model]]:
    import importlib

    found = []
    for label in apps_with_models():
        module = importlib.import_module(f"canyu.{label}.models")
        found += [
            obj
            for obj in vars(module).values()
            if inspect.isclass(obj) and issubclass(obj, Model) and obj.__module__ == module.__name__
        ]
    return found


async def test_no_model_change_is_missing_a_migration(database_url: str):
    from tortoise.migrations.autodetector import MigrationAutodetector

    config = tortoise_config(database_url)
    await Tortoise.init(config=config, _enable_global_fallback=True)
    try:
        detector = MigrationAutodetector(Tortoise.apps, config["apps"])
        writers = await detector.changes()
    finally:
        await Tortoise.close_connections()
    assert not writers, "run `make migrations APP=...`: " + ", ".join(
        f"{w.app_label}.{w.name}" for w in writers
    )


async def test_migrations_are_idempotent(database_url: str):
    await apply_migrations(database_url)  # already applied: nothing to do, no error


def test_model_descriptions_have_no_semicolons():
    # Tortoise copies docstrings and ``#:`` comments into SQL comments, and its SQLite
    # statement splitter breaks on ";".
    for model in _models():
        assert ";" not in (model._meta.table_description or ""), model
        for name, field in model._meta.fields_map.items():
            assert ";" not in (field.description or ""), f"{model.__name__}.{name}"
