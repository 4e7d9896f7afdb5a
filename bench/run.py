"""``make bench``: the foundation benchmark, then every feature benchmark present, at modest sizes.

    python -m bench.run                                  # SQLite, 1 worker
    python -m bench.run --database postgres --workers 2
    python -m bench.run --only signin,openmonth --residents 1000

Each benchmark runs in its own process (``python -m bench.<name> --database ... --report
bench/results/<name>.md``), given those of the common options (and of the modest sizes in
``MODEST``) that its ``--help`` lists; one failing does not stop the others. The exit status is non-zero
when any failed. Results are appended to ``bench/results/`` (not versioned); the numbers the
project publishes are in ``docs/benchmarks.md`` and ``docs/benchmarks/<feature>.md``.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCHES = ("signin", "consultations", "meetings", "openmonth", "voting")
#: Modest sizes for a benchmark's own options (passed only when its --help lists them).
MODEST: dict[str, dict[str, str]] = {
    "consultations": {"--comments": "500", "--renders": "50"},
    "voting": {"--repeat": "50"},
    "openmonth": {"--events": "20", "--registrations": "1000", "--places": "50"},
    "meetings": {"--only": "200", "--budget": "60"},
}


def _options_of(name: str) -> set[str]:
    """The long options a benchmark module accepts (from its --help)."""
    help_text = subprocess.run(
        [sys.executable, "-m", f"bench.{name}", "--help"], cwd=ROOT, capture_output=True,
        text=True, timeout=120, check=False,
    ).stdout
    return set(re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]*)", help_text))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--residents", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--ceiling", type=int, default=1000)
    parser.add_argument("--only", default="", help="comma-separated benchmark names")
    parser.add_argument("--results", default="bench/results", help="directory for the reports")
    args = parser.parse_args(argv)

    wanted = [b.strip() for b in args.only.split(",") if b.strip()] or list(BENCHES)
    unknown = [b for b in wanted if b not in BENCHES]
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(unknown)}")
    results = ROOT / args.results
    results.mkdir(parents=True, exist_ok=True)
    outcome: list[tuple[str, str, float]] = []
    for name in wanted:
        if not (ROOT / "bench" / f"{name}.py").exists():
            outcome.append((name, "absent", 0.0))
            continue
        accepted = _options_of(name)
        report = str(results / f"{name}.md")
        wanted_options = {
            "--database": args.database, "--workers": str(args.workers),
            "--residents": str(args.residents), "--concurrency": str(args.concurrency),
            "--ceiling": str(args.ceiling), "--report": report, "--out": report,
            **MODEST.get(name, {}),
        }
        if "--report" in accepted:
            wanted_options.pop("--out")
        command = [sys.executable, "-m", f"bench.{name}"]
        for option, value in wanted_options.items():
            if option in accepted:
                command += [option, value]
        print(f"\n=== bench.{name} ({args.database}, {args.workers} worker(s)) ===", flush=True)
        started = time.monotonic()
        code = subprocess.call(command, cwd=ROOT)
        outcome.append((name, "ok" if code == 0 else f"failed ({code})", time.monotonic() - started))

    print("\n=== summary ===")
    for name, status, seconds in outcome:
        print(f"{name:15} {status:12} {seconds:6.0f}s")
    print(f"reports: {args.results}/")
    return 0 if all(status in ("ok", "absent") for _, status, _ in outcome) else 1


if __name__ == "__main__":
    sys.exit(main())
