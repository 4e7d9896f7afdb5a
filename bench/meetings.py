"""Draw benchmark: time to compute the transparent lottery (m panels) and the minimum selection
probability it gives, for synthetic pools of 200, 1,000 and 5,000 qualified applicants with
6–30 seats and 3–4 quota features, for each algorithm the draw uses (``maximin``, and ``legacy``
as the recorded fallback).

Each computation runs exactly as in production: ``selection.compute_in_subprocess`` (a fresh
Python process, fixed hash seed, killed at the time budget).

    python -m bench.meetings [--budget 300] [--panels 1000] [--only 200,1000] [--out docs/benchmarks/meetings.md]
"""

from __future__ import annotations

import argparse
import math
import platform
import random
import time
from pathlib import Path

from canyu.meetings import selection

SHARES = {
    "category": {"市民": 0.55, "企业": 0.2, "专家": 0.15, "媒体": 0.1},
    "gender": {"男": 0.48, "女": 0.52},
    "age_band": {"18-29": 0.18, "30-44": 0.3, "45-59": 0.3, "60+": 0.22},
    "district": {
        "陆家嘴街道": 0.2,
        "花木街道": 0.2,
        "张江镇": 0.25,
        "川沙新镇": 0.2,
        "塘桥街道": 0.15,
    },
}
CASES = [  # (pool, seats, features)
    (200, 6, 3),
    (200, 30, 4),
    (1000, 12, 3),
    (1000, 30, 4),
    (5000, 30, 4),
]


def synthetic_pool(n: int, seed: int = 2026) -> list[dict]:
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        row = {"id": i + 1}
        for feature, shares in SHARES.items():
            row[feature] = rng.choices(list(shares), weights=list(shares.values()))[0]
        rows.append(row)
    return rows


def proportional_quotas(seats: int, features: int) -> dict:
    quotas = {}
    for feature in list(SHARES)[:features]:
        quotas[feature] = {
            value: {
                "min": max(0, math.floor(seats * share * 0.7)),
                "max": math.ceil(seats * share * 1.4) + 1,
            }
            for value, share in SHARES[feature].items()
        }
    return quotas


def run_case(n: int, seats: int, features: int, algorithm: str, m: int, budget: float) -> dict:
    pool = synthetic_pool(n)
    quotas = proportional_quotas(seats, features)
    started = time.monotonic()
    try:
        panels = selection.compute_in_subprocess(pool, quotas, seats, algorithm, m, budget)
    except TimeoutError:
        return {
            "n": n,
            "seats": seats,
            "features": features,
            "algorithm": algorithm,
            "seconds": None,
            "min_p": None,
            "note": f"exceeded the {budget:.0f} s budget",
        }
    seconds = time.monotonic() - started
    probabilities = selection.probabilities_of(pool, panels)
    bad = sum(1 for p in panels if selection.panel_meets_quotas(p, pool, quotas, seats))
    return {
        "n": n,
        "seats": seats,
        "features": features,
        "algorithm": algorithm,
        "seconds": seconds,
        "min_p": min(probabilities.values()),
        "zero": sum(1 for v in probabilities.values() if v == 0),
        "note": f"{bad} panels break quotas" if bad else "",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=300.0)
    parser.add_argument("--panels", type=int, default=selection.DEFAULT_PANELS)
    parser.add_argument("--only", default="", help="pool sizes, comma separated")
    parser.add_argument("--algorithms", default="maximin,legacy")
    parser.add_argument("--out", default="")
    parser.add_argument(
        "--case", action="append", default=[], help="POOL,SEATS,FEATURES (repeatable)"
    )
    args = parser.parse_args()
    only = {int(x) for x in args.only.split(",") if x}
    cases = [tuple(int(x) for x in c.split(",")) for c in args.case] or CASES
    rows = []
    for n, seats, features in cases:
        if only and n not in only:
            continue
        for algorithm in args.algorithms.split(","):
            row = run_case(n, seats, features, algorithm, args.panels, args.budget)
            rows.append(row)
            seconds = "—" if row["seconds"] is None else f"{row['seconds']:.1f}"
            min_p = "—" if row["min_p"] is None else f"{row['min_p']:.3%}"
            line = (
                f"| {n} | {seats} | {features} | {algorithm} | {args.panels} | {seconds} | {min_p} | "
                f"{row.get('zero', '—')} | {seats / n:.3%} | {row['note']} |"
            )
            print(line, flush=True)
            if args.out:
                with Path(args.out).open("a", encoding="utf-8") as f:
                    f.write(line + "\n")
    print(
        f"# {platform.processor() or platform.machine()}, Python {platform.python_version()}, "
        f"{selection.LIBRARY} {selection.library_version()}"
    )


if __name__ == "__main__":
    main()
