"""Masking, the clock, keyed hashes and encryption, rate limits (memory and Redis), exports."""

from __future__ import annotations

import io
import socket
import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from limits.aio.storage import MemoryStorage

from canyu.core import clock, masking, security, workdays
from canyu.core.errors import RateLimited
from canyu.core.exports import to_csv, to_xlsx
from canyu.core.markdown import render_markdown
from canyu.core.ratelimit import RateLimiter, network_of


def test_masking_of_names_phones_ids_emails_and_addresses():
    assert masking.mask_name("张三") == "张*"
    assert masking.mask_name("欧阳娜娜") == "欧***"
    assert masking.mask_name("") == "匿名"
    assert masking.mask_phone("13812345678") == "138****5678"
    assert masking.mask_id_number("31011519900101123X") == "3101**********123X"
    assert masking.mask_email("zhang.san@example.com") == "z***@example.com"
    assert masking.mask_address("上海市浦东新区花木街道锦绣路100弄3号") == "花木街道"
    assert masking.mask_address("某地某路") == "浦东新区"


def test_clock_moves_and_days_are_shanghai_days():
    clock.freeze(datetime(2026, 10, 8, 15, 59, 59, tzinfo=UTC))  # 23:59:59 in Shanghai
    assert clock.today() == date(2026, 10, 8)
    clock.travel(timedelta(seconds=1))
    assert clock.today() == date(2026, 10, 9)
    assert clock.local_midnight(date(2026, 10, 9)) == datetime(2026, 10, 8, 16, tzinfo=UTC)
    # 2026-10-09 00:00:00 in Shanghai: a week before at 09:00, three weeks on at 14:00.
    assert clock.local_day_at(-7, 9) == datetime(2026, 10, 2, 1, tzinfo=UTC)
    assert clock.local_day_at(21, 14) == datetime(2026, 10, 30, 6, tzinfo=UTC)


def test_keyed_hashes_tokens_passwords_and_encryption():
    security.configure("unit-test-key")
    assert security.keyed_hash("email", "a@b.cn") == security.keyed_hash("email", "a@b.cn")
    assert security.keyed_hash("email", "a@b.cn") != security.keyed_hash("phone", "a@b.cn")
    hashed = security.hash_password("a long password")
    assert hashed.startswith("$argon2")
    assert security.verify_password(hashed, "a long password")
    assert not security.verify_password(hashed, "wrong")
    sealed = security.encrypt("31011519900101123X")
    assert "3101151990" not in sealed
    assert security.decrypt(sealed) == "31011519900101123X"
    assert security.encrypt("x") != security.encrypt("x")  # random nonce


async def test_rate_limits_refuse_past_the_rule_and_scale():
    limiter = RateLimiter(scale=1)
    for _ in range(3):
        await limiter.hit("t", "3/minute", "k")
    with pytest.raises(RateLimited):
        await limiter.hit("t", "3/minute", "k")
    await limiter.hit("t", "3/minute", "other-key")
    scaled = RateLimiter(scale=100)
    for _ in range(300):
        await scaled.hit("t", "3/minute", "k")


async def test_in_process_counters_are_swept_twice_a_minute_not_after_every_hit():
    # The hook the sweep throttling overrides must exist in the installed limits release.
    assert hasattr(MemoryStorage, "_MemoryStorage__schedule_expiry")
    limiter = RateLimiter(scale=1)
    storage = limiter.storage
    for i in range(500):
        await limiter.hit("t", "2/minute", f"key-{i}")
    assert storage.timer is None  # no walk over every key after each hit
    with pytest.raises(RateLimited):  # and the limits hold
        for _ in range(2):
            await limiter.hit("t", "2/minute", "key-7")
    storage._last_sweep -= storage.SWEEP_SECONDS
    for key in list(storage.expirations)[:100]:
        storage.expirations[key] = 0  # expired
    await limiter.hit("t", "2/minute", "key-new")
    assert storage.timer is not None
    await storage.timer
    assert len(storage.expirations) < 500


def _redis_up() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 6379), timeout=0.5):
            return True
    except OSError:
        return False


@pytest.mark.skipif(not _redis_up(), reason="no Redis at 127.0.0.1:6379")
async def test_rate_limits_are_shared_through_redis():
    first = RateLimiter("redis://127.0.0.1:6379/0", scale=1)
    second = RateLimiter("redis://127.0.0.1:6379/0", scale=1)  # another worker
    key = uuid.uuid4().hex
    try:
        await first.hit("shared", "2/minute", key)
        await second.hit("shared", "2/minute", key)
        with pytest.raises(RateLimited):
            await first.hit("shared", "2/minute", key)
    finally:
        await first.close()
        await second.close()


def test_networks_group_addresses():
    assert network_of("203.0.113.77") == "203.0.113.0/24"
    assert network_of("2001:db8:1:2::7") == "2001:db8:1::/48"
    assert network_of("garbage") == "unknown"


def test_exports_neutralize_formulas():
    rows = [["=HYPERLINK(\"http://x\")", "+1", "-2", "@SUM(A1)", "正常文本", 3]]
    text = to_csv(["a", "b", "c", "d", "e", "f"], rows).decode("utf-8-sig")
    assert "'=HYPERLINK" in text and "'+1" in text and "'-2" in text and "'@SUM" in text
    from openpyxl import load_workbook

    ws = load_workbook(io.BytesIO(to_xlsx(["a"] * 6, rows))).active
    values = [cell.value for cell in ws[2]]
    assert values[:4] == ["'=HYPERLINK(\"http://x\")", "'+1", "'-2", "'@SUM(A1)"]
    assert all(cell.data_type != "f" for cell in ws[2])


def test_markdown_is_sanitized():
    html = render_markdown("**粗体** <script>alert(1)</script> [x](javascript:alert(1)) <img src=x onerror=alert(1)>")
    assert "<strong>粗体</strong>" in html
    assert "<script>" not in html and "<img" not in html and "href=\"javascript" not in html


def test_working_days_skip_weekends_and_holidays():
    # National Day 2026: Oct 1-7 off, Saturday Oct 10 worked.
    assert not workdays.is_workday(date(2026, 10, 1))
    assert workdays.is_workday(date(2026, 10, 10))
    assert workdays.add_workdays(date(2026, 9, 30), 1) == date(2026, 10, 8)
    assert workdays.workdays_between(date(2026, 11, 27), date(2026, 12, 4)) == 5


def test_serve_runs_the_mail_worker_unless_told_not_to(monkeypatch, tmp_path):
    from canyu.settings import Settings

    monkeypatch.setenv("CANYU_VAR_DIR", str(tmp_path))
    monkeypatch.setenv("CANYU_SECRET_KEY", "k" * 48)
    monkeypatch.delenv("CANYU_SERVE_OUTBOX", raising=False)
    assert Settings.from_env().run_outbox_worker is True
    for off in ("0", "false", "NO"):
        monkeypatch.setenv("CANYU_SERVE_OUTBOX", off)
        assert Settings.from_env().run_outbox_worker is False
    monkeypatch.setenv("CANYU_SERVE_OUTBOX", "1")
    assert Settings.from_env().run_outbox_worker is True
