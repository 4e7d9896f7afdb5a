"""The verifiable draw: quotas always met, records reproducible, tampering detected by the CLI."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from functools import cache

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from canyu.meetings import selection

DISTRICTS = ("陆家嘴街道", "花木街道", "张江镇")


def _pool(n: int, shift: int = 0) -> list[dict]:
    return [
        {
            "id": 10 + i,
            "category": ("市民", "企业", "专家", "媒体")[(i + shift) % 4],
            "gender": ("男", "女")[(i * 3 + shift) % 2],
            "district": DISTRICTS[(i + 2 * shift) % 3],
            "age_band": ("18-29", "30-44", "45-59", "60+")[(i * 5 + shift) % 4],
        }
        for i in range(n)
    ]


QUOTAS = {
    "gender": {"男": {"min": 2, "max": 3}, "女": {"min": 2, "max": 3}},
    "category": {"市民": {"min": 1, "max": 3}},
    "district": {"张江镇": {"min": 1, "max": 2}},
}


@cache
def _commitment(algorithm: str = "maximin", n: int = 12, shift: int = 0, m: int = 200) -> str:
    pool = _pool(n, shift)
    panels = selection.compute_in_subprocess(pool, QUOTAS, 5, algorithm, m, 120)
    return json.dumps(selection.build_commitment(7, pool, QUOTAS, 5, 3, algorithm, panels))


def _record(seed: str = "05 12 19 23 28 31 + 07", **kw) -> dict:
    return selection.draw(json.loads(_commitment(**kw)), seed)


def test_maximin_lottery_is_reproducible_from_the_pool():
    pool = _pool(12)
    again = selection.compute_in_subprocess(pool, QUOTAS, 5, "maximin", 200, 120)
    assert again == json.loads(_commitment())["panels"]


def test_legacy_fallback_lottery_meets_quotas_and_verifies():
    record = _record(algorithm="legacy")
    assert record["algorithm"] == "legacy"
    assert selection.verify_record(record) == []
    assert selection.panel_meets_quotas(record["selected"], record["pool"], QUOTAS, 5) == []


def test_maximin_gives_everyone_a_chance():
    record = _record()
    assert min(record["probabilities"].values()) > 0


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.text(min_size=1, max_size=30).filter(lambda s: s.strip() == s and s))
def test_every_draw_meets_its_quotas_and_reverifies(seed):
    record = _record(seed)
    assert selection.panel_meets_quotas(record["selected"], record["pool"], QUOTAS, 5) == []
    assert len(record["alternates"]) == 3 and not set(record["alternates"]) & set(
        record["selected"]
    )
    assert selection.verify_record(json.loads(json.dumps(record))) == []
    assert selection.draw(json.loads(_commitment()), seed) == record


@settings(max_examples=3, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(shift=st.integers(min_value=0, max_value=5), n=st.integers(min_value=8, max_value=14))
def test_every_pool_gives_panels_within_quotas(shift, n):
    commitment = json.loads(_commitment(n=n, shift=shift, m=50))
    for panel in commitment["panels"]:
        assert selection.panel_meets_quotas(panel, commitment["pool"], QUOTAS, 5) == []


def test_panel_index_and_alternates_follow_the_published_formulas():
    import hashlib

    record = _record("dice 3 5 1 6")
    m = len(record["panels"])
    assert record["panel_index"] == int(hashlib.sha256(b"dice 3 5 1 6").hexdigest(), 16) % m
    rest = [r["id"] for r in record["pool"] if r["id"] not in record["selected"]]
    key = lambda i: hashlib.sha256(f"dice 3 5 1 6:{i}".encode()).hexdigest()  # noqa: E731
    assert record["alternates"] == sorted(rest, key=key)[:3]


def test_quota_problems_name_the_quota_and_numbers():
    problems = selection.quota_problems(_pool(6), {"category": {"媒体": {"min": 3, "max": 3}}}, 3)
    assert {
        "kind": "not_enough",
        "feature": "category",
        "value": "媒体",
        "min": 3,
        "have": 1,
    } in problems


def test_every_quota_problem_reads_as_a_chinese_sentence_with_its_numbers():
    from canyu.core import i18n
    from canyu.meetings.service import _problem_error

    pool = _pool(6)
    cases = {
        "pool_too_small": ({}, 7, "合格报名者 6 人，少于列席名额 7 人，不能抽签。"),
        "not_enough": (
            {"category": {"媒体": {"min": 3, "max": 3}}}, 3,
            "配额“类别=媒体”至少 3 人，但合格报名者中只有 1 人。",
        ),
        "min_sum": (
            {"gender": {"男": {"min": 3, "max": 4}, "女": {"min": 3, "max": 4}}}, 5,
            "“性别”各取值的最少人数合计 6 人，超过列席名额 5 人。",
        ),
        "max_sum": (
            {"gender": {"男": {"min": 0, "max": 1}, "女": {"min": 0, "max": 1}}}, 4,
            "“性别”各取值最多只能选出 2 人，少于列席名额 4 人。",
        ),
        "min_above_max": (
            {"gender": {"男": {"min": 2, "max": 1}}}, 3,
            "配额“性别=男”的最少人数 2 大于最多人数 1。",
        ),
    }
    for kind, (quotas, seats, sentence) in cases.items():
        [problem] = [p for p in selection.quota_problems(pool, quotas, seats) if p["kind"] == kind]
        error = _problem_error(problem)
        assert (error.code, error.status) == ("infeasible_quotas", 422)
        assert i18n.gettext(error.message, **error.params) == sentence, kind
    token = i18n.set_locale("en")
    try:
        problem = selection.quota_problems(pool, cases["min_above_max"][0], 3)[0]
        error = _problem_error(problem)
        english = i18n.gettext(error.message, **error.params)
        assert "Male" in english and "男" not in english and "性别" not in english
    finally:
        i18n._locale.reset(token)


def _cli(path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "canyu.cli", "draw", "verify", str(path), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_cli_verifies_a_record_and_refuses_a_changed_seed_pool_row_or_quota(tmp_path):
    record = _record()
    good = tmp_path / "record.json"
    good.write_text(json.dumps(record, ensure_ascii=False), encoding="utf-8")
    ok = _cli(good)
    assert ok.returncode == 0 and ok.stdout.strip() == "verified", ok.stdout + ok.stderr
    full = _cli(good, "--full")
    assert full.returncode == 0 and "verified" in full.stdout, full.stdout + full.stderr

    seed = copy.deepcopy(record)
    seed["seed"] = "05 12 19 23 28 31 + 08"
    row = copy.deepcopy(record)
    row["pool"][0]["gender"] = "女" if row["pool"][0]["gender"] == "男" else "男"
    quota = copy.deepcopy(record)
    quota["quotas"]["gender"]["男"]["max"] = 4
    for name, changed in (("seed", seed), ("row", row), ("quota", quota)):
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(changed, ensure_ascii=False), encoding="utf-8")
        result = _cli(path)
        assert result.returncode == 1, name
        assert result.stdout.strip() and "verified" not in result.stdout.splitlines(), name


def test_full_verify_detects_panels_that_the_pool_does_not_produce(tmp_path):
    record = _record()
    other = next(j for j, panel in enumerate(record["panels"]) if panel != record["panels"][0])
    record["panels"][0], record["panels"][other] = record["panels"][other], record["panels"][0]
    # Re-sign the tampered panels so that only --full can tell.
    fields = {k: record[k] for k in selection.COMMITMENT_FIELDS}
    record["commitment_sha256"] = selection.sha256_of(fields)
    record["selected"] = record["panels"][record["panel_index"]]
    record["alternates"] = selection.alternate_order(
        record["seed"], [r["id"] for r in record["pool"]], record["selected"]
    )[:3]
    path = tmp_path / "r.json"
    path.write_text(json.dumps(record, ensure_ascii=False), encoding="utf-8")
    assert _cli(path).returncode == 0
    full = _cli(path, "--full")
    assert full.returncode == 1 and "panels differ" in full.stdout
