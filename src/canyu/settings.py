"""Every setting comes from a ``CANYU_*`` environment variable (see API.md)."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field, replace
from pathlib import Path

from canyu import PROJECT_ROOT


def _env(name: str, default: str) -> str:
    value = os.environ.get(f"CANYU_{name}")
    return default if value is None or value == "" else value


def _int(name: str, default: int) -> int:
    return int(_env(name, str(default)))


def _float(name: str, default: float) -> float:
    return float(_env(name, str(default)))


def _secret_key(var_dir: Path) -> str:
    """The key from the environment, or one generated once into ``var/``."""
    key = os.environ.get("CANYU_SECRET_KEY")
    if key:
        return key
    var_dir.mkdir(parents=True, exist_ok=True)
    path = var_dir / "secret_key"
    if not path.exists():
        # O_EXCL: two workers starting together agree on one key.
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_urlsafe(48))
    return path.read_text().strip()


@dataclass(frozen=True)
class Settings:
    database_url: str = "sqlite://var/canyu.sqlite3"
    secret_key: str = ""
    base_url: str = "http://127.0.0.1:8000"
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 1025
    smtp_username: str = ""
    smtp_password: str = ""
    smtp_tls: str = "none"
    mail_from: str = "noreply@canyu.local"
    redis_url: str = ""
    rate_limit_scale: float = 1.0
    pow_difficulty: int = 50_000
    timezone: str = "Asia/Shanghai"
    var_dir: Path = field(default=PROJECT_ROOT / "var")
    upload_dir: Path = field(default=PROJECT_ROOT / "var" / "uploads")
    # Operations
    metrics_networks: str = "127.0.0.0/8,::1/128"
    outbox_interval: float = 2.0
    outbox_max_attempts: int = 12
    outbox_backlog_limit: int = 1000
    max_body_bytes: int = 12 * 1024 * 1024
    session_days: int = 14
    api_token_days: int = 30
    # Capability rules (never scaled)
    places_per_month: int = 3
    offer_hours: int = 24
    retention_days: int = 365
    draw_time_budget: float = 300.0
    holidays_file: str = ""
    run_outbox_worker: bool = True
    run_scheduler: bool = True

    @classmethod
    def from_env(cls, **overrides: object) -> Settings:
        var_dir = Path(_env("VAR_DIR", str(PROJECT_ROOT / "var")))
        settings = cls(
            database_url=_env("DATABASE_URL", "sqlite://var/canyu.sqlite3"),
            secret_key=_secret_key(var_dir),
            base_url=_env("BASE_URL", "http://127.0.0.1:8000").rstrip("/"),
            smtp_host=_env("SMTP_HOST", "127.0.0.1"),
            smtp_port=_int("SMTP_PORT", 1025),
            smtp_username=_env("SMTP_USERNAME", ""),
            smtp_password=_env("SMTP_PASSWORD", ""),
            smtp_tls=_env("SMTP_TLS", "none"),
            mail_from=_env("MAIL_FROM", "noreply@canyu.local"),
            redis_url=_env("REDIS_URL", ""),
            rate_limit_scale=_float("RATE_LIMIT_SCALE", 1.0),
            pow_difficulty=_int("POW_DIFFICULTY", 50_000),
            timezone=_env("TIMEZONE", "Asia/Shanghai"),
            var_dir=var_dir,
            upload_dir=Path(_env("UPLOAD_DIR", str(var_dir / "uploads"))),
            metrics_networks=_env("METRICS_NETWORKS", "127.0.0.0/8,::1/128"),
            outbox_interval=_float("OUTBOX_INTERVAL", 2.0),
            places_per_month=_int("PLACES_PER_MONTH", 3),
            offer_hours=_int("OFFER_HOURS", 24),
            retention_days=_int("RETENTION_DAYS", 365),
            draw_time_budget=_float("DRAW_TIME_BUDGET", 300.0),
            holidays_file=_env("HOLIDAYS_FILE", ""),
            run_outbox_worker=_env("SERVE_OUTBOX", "1").lower() not in ("0", "false", "no"),
        )
        if settings.smtp_tls not in ("none", "starttls", "tls"):
            raise ValueError("CANYU_SMTP_TLS must be none, starttls or tls")
        return replace(settings, **overrides) if overrides else settings

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")
