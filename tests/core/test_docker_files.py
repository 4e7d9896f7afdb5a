"""The deployment files agree with the code: services, the unprivileged user, the settings names.

Docker itself does not run here; these checks read the files."""

from __future__ import annotations

import ast
import re
import shlex
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "docker" / "Dockerfile"
COMPOSE = ROOT / "docker" / "compose.yaml"
ENTRYPOINT = ROOT / "docker" / "entrypoint.sh"


def _instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    joined: list[str] = []
    buffer = ""
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not buffer and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            buffer += line[:-1] + " "
            continue
        joined.append(buffer + line)
        buffer = ""
    result = []
    for line in joined:
        keyword, _, rest = line.partition(" ")
        result.append((keyword.upper(), rest.strip()))
    return result


def _final_stage(path: Path) -> list[tuple[str, str]]:
    instructions = _instructions(path)
    starts = [i for i, (kw, _) in enumerate(instructions) if kw == "FROM"]
    return instructions[starts[-1]:]


def _settings_env_names() -> set[str]:
    """Every CANYU_* name that canyu/settings.py reads."""
    source = (ROOT / "src" / "canyu" / "settings.py").read_text(encoding="utf-8")
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            func = node.func
            name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
            value = node.args[0].value
            if name in ("_env", "_int", "_float") and isinstance(value, str):
                names.add(f"CANYU_{value}")
            elif name == "get" and isinstance(value, str) and value.startswith("CANYU_"):
                names.add(value)
    return names


def _compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))


def test_settings_reader_finds_the_documented_names() -> None:
    names = _settings_env_names()
    assert {"CANYU_DATABASE_URL", "CANYU_SECRET_KEY", "CANYU_REDIS_URL", "CANYU_SMTP_HOST"} <= names


def test_image_is_python_311_slim_and_runs_as_an_unprivileged_user() -> None:
    stage = _final_stage(DOCKERFILE)
    assert stage[0][1].split()[0] == "python:3.11-slim"
    users = [args for kw, args in stage if kw == "USER"]
    assert users, "the runtime stage sets no USER"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0")
    # The user is created in the image, with a non-zero uid.
    created = " ".join(args for kw, args in stage if kw == "RUN")
    assert re.search(rf"useradd\b[^&]*--uid (?!0\b)\d+[^&]*\b{re.escape(user)}\b", created)


def test_image_serves_with_four_workers_on_all_interfaces_and_checks_healthz() -> None:
    stage = _final_stage(DOCKERFILE)
    cmds = [args for kw, args in stage if kw == "CMD"]
    command = yaml.safe_load(cmds[-1])  # exec form: a JSON list
    assert command[:2] == ["canyu", "serve"]
    assert command[command.index("--host") + 1] == "0.0.0.0"  # noqa: S104 (inside a container)
    assert command[command.index("--workers") + 1] == "4"
    health = [args for kw, args in stage if kw == "HEALTHCHECK"]
    assert health and "/healthz" in health[-1]
    entry = [args for kw, args in stage if kw == "ENTRYPOINT"]
    assert entry, "no ENTRYPOINT"


def test_image_copies_only_files_that_exist_and_the_dockerignore_keeps_them() -> None:
    ignored = {
        line.strip() for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    }
    for kw, args in _instructions(DOCKERFILE):
        if kw != "COPY" or args.startswith("--from"):
            continue
        *sources, _dest = shlex.split(args)
        for source in sources:
            assert (ROOT / source).exists(), source
            assert source.split("/")[0] not in ignored, f"{source} is excluded by .dockerignore"
    assert ENTRYPOINT.read_text(encoding="utf-8").startswith("#!/bin/sh")
    assert 'exec "$@"' in ENTRYPOINT.read_text(encoding="utf-8")


def test_compose_has_the_app_postgres_15_redis_7_and_a_mail_catcher() -> None:
    services = _compose()["services"]
    assert set(services) >= {"app", "postgres", "redis", "mailpit"}
    assert services["postgres"]["image"].split(":")[1].startswith("15")
    assert services["redis"]["image"].split(":")[1].startswith("7")
    assert services["mailpit"]["image"].startswith("axllent/mailpit")
    app = services["app"]
    assert app["build"]["dockerfile"] == "docker/Dockerfile"
    assert "--workers" in app["command"]
    depends = app["depends_on"]
    assert depends["postgres"]["condition"] == "service_healthy"
    assert depends["redis"]["condition"] == "service_healthy"
    for name in ("postgres", "redis"):
        assert "healthcheck" in services[name]


def test_compose_wires_only_settings_the_application_reads() -> None:
    env = _compose()["services"]["app"]["environment"]
    known = _settings_env_names()
    canyu_names = {name for name in env if name.startswith("CANYU_")}
    assert canyu_names, "no CANYU_* settings in the app service"
    assert canyu_names <= known, f"unknown settings: {sorted(canyu_names - known)}"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("CANYU_DATABASE_URL", "@postgres:5432/"),
        ("CANYU_REDIS_URL", "redis://redis:6379"),
        ("CANYU_SMTP_HOST", "mailpit"),
        ("CANYU_SMTP_PORT", "1025"),
    ],
)
def test_compose_points_the_app_at_its_services(name: str, expected: str) -> None:
    env = _compose()["services"]["app"]["environment"]
    assert expected in str(env[name])


def test_compose_database_credentials_match_the_postgres_service() -> None:
    services = _compose()["services"]
    url = services["app"]["environment"]["CANYU_DATABASE_URL"]
    pg = services["postgres"]["environment"]
    assert url.startswith(f"postgres://{pg['POSTGRES_USER']}:")
    assert url.endswith(f"/{pg['POSTGRES_DB']}")
    assert pg["POSTGRES_PASSWORD"] in url
