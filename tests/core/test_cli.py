"""The `canyu` command as API.md describes it."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import POSTGRES_URL, TEST_SECRET

CANYU = str(Path(sys.executable).parent / "canyu")


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    import os

    return {
        **os.environ,
        "CANYU_DATABASE_URL": f"sqlite://{tmp_path / 'cli.sqlite3'}",
        "CANYU_SECRET_KEY": TEST_SECRET,
        "CANYU_VAR_DIR": str(tmp_path / "var"),
        **extra,
    }


def _run(args: list[str], env: dict[str, str], stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run([CANYU, *args], input=stdin, env=env, capture_output=True, text=True, timeout=300)


def test_migrate_then_staff_create_reads_the_password_from_stdin(tmp_path):
    env = _env(tmp_path)
    assert _run(["migrate"], env).returncode == 0
    done = _run(["staff", "create", "zhou", "--role", "organizer", "--unit", "区民政局", "--password-stdin"], env, "a good long password\n")
    assert done.returncode == 0, done.stderr
    db = sqlite3.connect(tmp_path / "cli.sqlite3")
    row = db.execute("SELECT s.role, u.name, s.password_hash FROM staff s JOIN unit u ON u.id = s.unit_id").fetchone()
    assert row[0] == "organizer" and row[1] == "区民政局" and row[2].startswith("$argon2")
    again = _run(["staff", "create", "zhou", "--role", "admin", "--password-stdin"], env, "a good long password\n")
    assert again.returncode == 1 and "已存在" in again.stderr
    weak = _run(["staff", "create", "li", "--role", "admin", "--password-stdin"], env, "short\n")
    assert weak.returncode == 1


@pytest.mark.skipif(bool(POSTGRES_URL), reason="runs on its own SQLite file")
def test_demo_is_idempotent(tmp_path):
    env = _env(tmp_path)
    first = _run(["demo"], env)
    assert first.returncode == 0, first.stdout + first.stderr
    db = sqlite3.connect(tmp_path / "cli.sqlite3")
    tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'")]

    def counts() -> dict[str, int]:
        return {t: db.execute(f'SELECT COUNT(*) FROM "{t}"').fetchone()[0] for t in tables if t != "outbox_mail"}

    before = counts()
    assert before["staff"] >= 6
    second = _run(["demo"], env)
    assert second.returncode == 0, second.stdout + second.stderr
    assert counts() == before


def test_outbox_run_once_sends_due_mail(tmp_path, mailbox):
    env = _env(tmp_path, CANYU_SMTP_PORT=str(mailbox.port))
    assert _run(["migrate"], env).returncode == 0
    db = sqlite3.connect(tmp_path / "cli.sqlite3")
    db.execute(
        "INSERT INTO outbox_mail (to_addr, subject, body_text, body_html, attachments, message_id, status,"
        " attempts, next_attempt_at, last_error, created_at, kind, claim_token) VALUES"
        " ('cli@example.com', '测试', '正文', '', '[]', '<x@canyu.local>', 'pending', 0,"
        " '2000-01-01 00:00:00+00:00', '', '2000-01-01 00:00:00+00:00', 'test', '')"
    )
    db.commit()
    done = _run(["outbox", "run", "--once"], env)
    assert done.returncode == 0, done.stderr
    assert "sent 1" in done.stdout
    assert [str(m["To"]) for m in mailbox.messages] == ["cli@example.com"]


def test_outbox_run_alone_builds_a_features_attachment(tmp_path, mailbox):
    """The worker as a process of its own has imported no feature: the e-ticket's QR code
    (a builder of the open month) is still drawn, the same PNG as in the serving process."""
    from canyu.openmonth import tickets

    env = _env(tmp_path, CANYU_SMTP_PORT=str(mailbox.port))
    assert _run(["migrate"], env).returncode == 0
    attachments = (
        '[{"filename": "ticket-F74SC32XQJ.png", "content_type": "image/png",'
        ' "builder": "openmonth.ticket_png", "args": {"code": "F74SC32XQJ"}}]'
    )
    db = sqlite3.connect(tmp_path / "cli.sqlite3")
    db.execute(
        "INSERT INTO outbox_mail (to_addr, subject, body_text, body_html, attachments, message_id, status,"
        " attempts, next_attempt_at, last_error, created_at, kind, claim_token) VALUES"
        " ('ticket@example.com', '报名成功', '正文', '', ?, '<t@canyu.local>', 'pending', 0,"
        " '2000-01-01 00:00:00+00:00', '', '2000-01-01 00:00:00+00:00', 'ticket', '')",
        (attachments,),
    )
    db.commit()
    done = _run(["outbox", "run", "--once"], env)
    assert done.returncode == 0, done.stderr
    assert "sent 1" in done.stdout, done.stdout + done.stderr
    [message] = mailbox.messages
    [png] = [p for p in message.iter_attachments() if p.get_content_type() == "image/png"]
    assert png.get_filename() == "ticket-F74SC32XQJ.png"
    assert png.get_content() == tickets.qr_png("F74SC32XQJ")
    assert db.execute("SELECT status, last_error FROM outbox_mail").fetchone() == ("sent", "")


def test_draw_verify_of_a_missing_record_fails(tmp_path):
    done = _run(["draw", "verify", str(tmp_path / "nope.json")], _env(tmp_path))
    assert done.returncode == 1
