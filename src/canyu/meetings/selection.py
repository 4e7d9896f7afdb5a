"""The verifiable stratified draw (遴选 / 抽签): commitment, seeded panel choice, verification.

This module never touches the database or the settings, so that ``canyu draw verify``
can check a published record with nothing but the record file.

The procedure (published in ``docs/meetings.md``):

1. ``pool`` = one row per qualified application, ``{"id", "category", "gender",
   "district", "age_band"}`` sorted by id; ``pool_sha256`` = SHA-256 of its canonical JSON.
2. The lottery: the Sortition Foundation's ``sortition-algorithms`` computes the maximin
   distribution over panels and rounds it to a uniform lottery of ``m`` panels, with the
   library's random generator seeded by ``int(pool_sha256[:16], 16)`` (reproducible).
   ``legacy`` (only as a recorded fallback) runs the greedy algorithm ``m`` times after the
   same seeding. ``probabilities[id]`` = panels containing id ÷ m.
3. ``commitment_sha256`` = SHA-256 of the canonical JSON of the commitment fields
   (everything except the seed and the result), published before any seed exists.
4. Panel index = ``int(SHA-256(seed), 16) mod m``; ``selected`` = that panel.
5. Alternates: the rest of the pool sorted by ``SHA-256(seed + ":" + id)`` (hex, ascending),
   the first ``alternates`` of them.

Canonical JSON: ``json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))``
encoded as UTF-8.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
from importlib import metadata
from pathlib import Path
from typing import Any

LIBRARY = "sortition-algorithms"
FEATURES = ("category", "gender", "district", "age_band")
DEFAULT_PANELS = 1000
COMMITMENT_FIELDS = (
    "meeting_id",
    "algorithm",
    "library",
    "seats",
    "alternates_wanted",
    "number_selections",
    "quotas",
    "pool",
    "pool_sha256",
    "panels",
)


def library_version() -> str:
    return metadata.version(LIBRARY)


def canonical(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode(
        "utf-8"
    )


def sha256_of(value: Any) -> str:
    return hashlib.sha256(canonical(value)).hexdigest()


def lottery_seed(pool_sha256: str) -> int:
    """The library's seed for the lottery: the first 16 hex digits of the pool hash (never 0)."""
    return int(pool_sha256[:16], 16) or 1


def panel_index(seed: str, m: int) -> int:
    """The published formula: ``int(SHA-256(seed), 16) mod m``."""
    return int(hashlib.sha256(seed.encode("utf-8")).hexdigest(), 16) % m


def alternate_order(seed: str, pool_ids: list[int], selected: list[int]) -> list[int]:
    """The rest of the pool sorted by ``SHA-256(seed + ":" + id)``."""
    chosen = set(selected)
    rest = [i for i in pool_ids if i not in chosen]
    return sorted(rest, key=lambda i: hashlib.sha256(f"{seed}:{i}".encode()).hexdigest())


# --- quotas --------------------------------------------------------------------------


def quota_problems(pool: list[dict], quotas: dict, seats: int) -> list[dict]:
    """Quotas that no panel can meet, each named with its numbers (refused before drawing)."""
    problems: list[dict] = []
    if seats < 1:
        problems.append({"kind": "seats", "seats": seats})
    if len(pool) < seats:
        problems.append({"kind": "pool_too_small", "seats": seats, "pool": len(pool)})
    for feature, values in quotas.items():
        mins = sum(int(v.get("min", 0)) for v in values.values())
        present = {row[feature] for row in pool}
        unbounded = present - set(values)
        maxes = sum(int(v.get("max", seats)) for v in values.values())
        if mins > seats:
            problems.append({"kind": "min_sum", "feature": feature, "sum": mins, "seats": seats})
        if not unbounded:
            reachable = sum(
                min(int(v.get("max", seats)), sum(1 for row in pool if row[feature] == value))
                for value, v in values.items()
            )
            if maxes < seats or reachable < seats:
                problems.append(
                    {
                        "kind": "max_sum",
                        "feature": feature,
                        "sum": min(maxes, reachable),
                        "seats": seats,
                    }
                )
        for value, bounds in values.items():
            low, high = int(bounds.get("min", 0)), int(bounds.get("max", seats))
            have = sum(1 for row in pool if row[feature] == value)
            if low > high:
                problems.append(
                    {
                        "kind": "min_above_max",
                        "feature": feature,
                        "value": value,
                        "min": low,
                        "max": high,
                    }
                )
            elif have < low:
                problems.append(
                    {
                        "kind": "not_enough",
                        "feature": feature,
                        "value": value,
                        "min": low,
                        "have": have,
                    }
                )
    return problems


def panel_meets_quotas(
    panel: list[int] | set[int], pool: list[dict], quotas: dict, seats: int
) -> list[str]:
    rows = {row["id"]: row for row in pool}
    issues = []
    if len(set(panel)) != seats:
        issues.append(f"panel has {len(set(panel))} members, expected {seats}")
    for feature, values in quotas.items():
        for value, bounds in values.items():
            n = sum(1 for pid in panel if pid in rows and rows[pid][feature] == value)
            if n < int(bounds.get("min", 0)) or n > int(bounds.get("max", seats)):
                issues.append(
                    f"quota {feature}={value} [{bounds.get('min', 0)}, {bounds.get('max', seats)}] has {n}"  # noqa: E501
                )
    return issues


# --- the lottery ---------------------------------------------------------------------


def _library_inputs(pool: list[dict], quotas: dict, seats: int) -> tuple[Any, Any]:
    from sortition_algorithms.features import FeatureValueMinMax
    from sortition_algorithms.people import People

    features: dict[str, dict[str, Any]] = {}
    for feature in sorted(quotas):
        values = quotas[feature]
        fv: dict[str, Any] = {}
        for value in sorted(values):
            fv[value] = FeatureValueMinMax(
                min=int(values[value].get("min", 0)), max=int(values[value].get("max", seats))
            )
        for value in sorted({row[feature] for row in pool} - set(values)):
            fv[value] = FeatureValueMinMax(min=0, max=seats)
        for item in fv.values():
            item.set_default_max_flex(seats + len(pool))
        features[feature] = fv
    people = People([])
    for number, row in enumerate(pool):
        people.add(str(row["id"]), {f: str(row[f]) for f in features}, features, number)
    return features, people


def compute_panels(
    pool: list[dict], quotas: dict, seats: int, algorithm: str, m: int
) -> list[list[int]]:
    """The m panels of the uniform lottery. Seeds the library's global random state: run it
    in a process of its own (``compute_in_subprocess``)."""
    from sortition_algorithms.core import find_random_sample
    from sortition_algorithms.utils import set_random_provider

    pool = sorted(pool, key=lambda r: r["id"])
    set_random_provider(lottery_seed(sha256_of(pool)))
    features, people = _library_inputs(pool, quotas, seats)
    if algorithm == "legacy":
        panels = []
        for _ in range(m):
            committees, _report = find_random_sample(
                features, people, seats, [], selection_algorithm="legacy", max_attempts=10
            )
            panels.append(committees[0])
    else:
        panels, _report = find_random_sample(
            features, people, seats, [], selection_algorithm=algorithm, number_selections=m
        )
    return [sorted(int(pid) for pid in panel) for panel in panels]


def compute_in_subprocess(
    pool: list[dict], quotas: dict, seats: int, algorithm: str, m: int, timeout: float | None
) -> list[list[int]]:
    """Run ``compute_panels`` in a fresh Python process (the library seeds the global random
    state) with a fixed ``PYTHONHASHSEED`` (the library iterates over sets of ids, whose order
    follows string hashing). TimeoutError after ``timeout`` seconds; the process is killed."""
    with tempfile.TemporaryDirectory(prefix="canyu-draw-") as tmp:
        job = Path(tmp) / "job.json"
        result = Path(tmp) / "result.json"
        job.write_text(
            json.dumps(
                {"pool": pool, "quotas": quotas, "seats": seats, "algorithm": algorithm, "m": m},
                ensure_ascii=False,
            ),
            encoding="utf-8",
        )
        env = {**os.environ, "PYTHONHASHSEED": "0"}
        try:
            proc = subprocess.run(  # noqa: S603 - our own interpreter and module
                [sys.executable, "-m", "canyu.meetings.selection", str(job), str(result)],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise TimeoutError(f"{algorithm} exceeded {timeout} s") from None
        if not result.exists():
            raise RuntimeError(
                f"{algorithm} process ended with code {proc.returncode}: "
                + proc.stderr.decode("utf-8", "replace")[-500:]
            )
        status, value = json.loads(result.read_text(encoding="utf-8"))
    if status != "ok":
        raise RuntimeError(value)
    return value


def _main(job_path: str, result_path: str) -> None:
    import logging

    logging.disable(logging.CRITICAL)
    job = json.loads(Path(job_path).read_text(encoding="utf-8"))
    try:
        answer = [
            "ok",
            compute_panels(job["pool"], job["quotas"], job["seats"], job["algorithm"], job["m"]),
        ]
    except Exception as exc:
        answer = ["error", f"{type(exc).__name__}: {exc}"]
    Path(result_path).write_text(json.dumps(answer, ensure_ascii=False), encoding="utf-8")


def probabilities_of(pool: list[dict], panels: list[list[int]]) -> dict[str, float]:
    m = len(panels)
    counts = {row["id"]: 0 for row in pool}
    for panel in panels:
        for pid in panel:
            counts[pid] = counts.get(pid, 0) + 1
    return {str(pid): round(n / m, 6) for pid, n in sorted(counts.items())}


def build_commitment(
    meeting_id: int,
    pool: list[dict],
    quotas: dict,
    seats: int,
    alternates: int,
    algorithm: str,
    panels: list[list[int]],
    fallback_from: str | None = None,
) -> dict:
    """The commitment document published before any seed exists."""
    pool = sorted(pool, key=lambda r: r["id"])
    commitment: dict[str, Any] = {
        "meeting_id": meeting_id,
        "algorithm": algorithm,
        "library": {"name": LIBRARY, "version": library_version()},
        "seats": seats,
        "alternates_wanted": alternates,
        "number_selections": len(panels),
        "quotas": quotas,
        "pool": pool,
        "pool_sha256": sha256_of(pool),
        "panels": panels,
    }
    commitment["commitment_sha256"] = sha256_of({k: commitment[k] for k in COMMITMENT_FIELDS})
    commitment["probabilities"] = probabilities_of(pool, panels)
    commitment["fallback_from"] = fallback_from
    return commitment


def draw(commitment: dict, seed: str) -> dict:
    """The selection record: the commitment plus the seed, the panel chosen and the alternates."""
    seed = seed.strip()
    if not seed:
        raise ValueError("empty seed")
    panels = commitment["panels"]
    index = panel_index(seed, len(panels))
    selected = list(panels[index])
    pool_ids = [row["id"] for row in commitment["pool"]]
    alternates = alternate_order(seed, pool_ids, selected)[: commitment["alternates_wanted"]]
    record = dict(commitment)
    record.update(
        seed=seed,
        panel_index=index,
        selected=selected,
        alternates=alternates,
        procedure={
            "pool_sha256": "SHA-256 of canonical JSON of pool",
            "commitment_sha256": "SHA-256 of canonical JSON of " + ", ".join(COMMITMENT_FIELDS),
            "lottery_seed": "int(pool_sha256[:16], 16)",
            "panel_index": "int(SHA-256(seed), 16) mod number_selections",
            "alternates": 'rest of pool sorted by SHA-256(seed + ":" + id), first alternates_wanted',  # noqa: E501
        },
    )
    return record


# --- verification --------------------------------------------------------------------


def verify_record(record: dict, full: bool = False) -> list[str]:
    """Re-run a published selection record. Empty list = verified; else the differences."""
    out: list[str] = []
    needed = (
        "meeting_id",
        "seed",
        "algorithm",
        "library",
        "quotas",
        "pool",
        "pool_sha256",
        "panels",
        "commitment_sha256",
        "probabilities",
        "selected",
        "alternates",
    )
    missing = [k for k in needed if k not in record]
    if missing:
        return [f"record lacks {', '.join(missing)}"]
    try:
        pool = record["pool"]
        panels = record["panels"]
        seed = str(record["seed"])
        if sorted(pool, key=lambda r: r["id"]) != pool:
            out.append("pool rows are not sorted by id")
        pool_hash = sha256_of(pool)
        if pool_hash != record["pool_sha256"]:
            out.append(
                f"pool_sha256 differs: record {record['pool_sha256']}, recomputed {pool_hash}"
            )
        fields = {k: record.get(k) for k in COMMITMENT_FIELDS}
        fields["pool_sha256"] = pool_hash
        commitment = sha256_of(fields)
        if commitment != record["commitment_sha256"]:
            out.append(
                f"commitment_sha256 differs: record {record['commitment_sha256']}, recomputed {commitment}"  # noqa: E501
            )
        if not panels or len(panels) != record.get("number_selections"):
            out.append("number of panels differs from number_selections")
            return out
        seats = int(record.get("seats", 0))
        for number, panel in enumerate(panels):
            issues = panel_meets_quotas(panel, pool, record["quotas"], seats)
            if issues:
                out.append(f"panel {number} breaks the quotas: {'; '.join(issues)}")
                break
        if not seed.strip() or seed != seed.strip():
            out.append("seed is empty or has surrounding spaces")
        index = panel_index(seed, len(panels))
        if record.get("panel_index") != index:
            out.append(
                f"panel_index differs: record {record.get('panel_index')}, recomputed {index}"
            )
        if sorted(record["selected"]) != sorted(panels[index]):
            out.append(
                f"selected differs from panel {index}: record {record['selected']}, recomputed {panels[index]}"  # noqa: E501
            )
        alternates = alternate_order(seed, [r["id"] for r in pool], panels[index])[
            : int(record.get("alternates_wanted", len(record["alternates"])))
        ]
        if record["alternates"] != alternates:
            out.append(f"alternates differ: record {record['alternates']}, recomputed {alternates}")
        probabilities = probabilities_of(pool, panels)
        if {str(k): float(v) for k, v in record["probabilities"].items()} != probabilities:
            out.append("probabilities differ from the panels")
        if record["library"].get("name") != LIBRARY:
            out.append(f"library differs: {record['library']}")
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
        out.append(f"malformed record: {type(exc).__name__}: {exc}")
        return out
    if full and not out:
        out.extend(_verify_full(record))
    return out


def _verify_full(record: dict) -> list[str]:
    version = library_version()
    notes = []
    if record["library"].get("version") != version:
        notes.append(
            f"library version differs: record {record['library'].get('version')}, installed {version}"  # noqa: E501
        )
    try:
        panels = compute_in_subprocess(
            record["pool"],
            record["quotas"],
            int(record["seats"]),
            record["algorithm"],
            int(record["number_selections"]),
            None,
        )
    except Exception as exc:
        return [*notes, f"cannot recompute the panels: {exc}"]
    if panels != record["panels"]:
        differing = sum(1 for a, b in zip(panels, record["panels"], strict=False) if a != b)
        return [*notes, f"recomputed panels differ from the record ({differing} of {len(panels)})"]
    return []


if __name__ == "__main__":
    _main(sys.argv[1], sys.argv[2])
