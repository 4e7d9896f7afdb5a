"""Prometheus text-format metrics kept in this process (one set per worker)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

_requests: dict[tuple[str, str, str], int] = defaultdict(int)
_latency_buckets: dict[str, list[int]] = defaultdict(lambda: [0] * len(BUCKETS))
_latency_sum: dict[str, float] = defaultdict(float)
_latency_count: dict[str, int] = defaultdict(int)
#: Gauges read at scrape time: name -> (help, async reader).
_gauges: dict[str, tuple[str, Callable[[], Awaitable[float]]]] = {}


def observe_request(route: str, method: str, status: int, seconds: float) -> None:
    _requests[(route, method, str(status))] += 1
    buckets = _latency_buckets[route]
    for i, bound in enumerate(BUCKETS):
        if seconds <= bound:
            buckets[i] += 1
    _latency_sum[route] += seconds
    _latency_count[route] += 1


def register_gauge(name: str, help_text: str, reader: Callable[[], Awaitable[float]]) -> None:
    _gauges[name] = (help_text, reader)


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


async def render() -> str:
    lines = [
        "# HELP canyu_requests_total HTTP requests by route, method and status.",
        "# TYPE canyu_requests_total counter",
    ]
    for (route, method, status), count in sorted(_requests.items()):
        lines.append(
            f'canyu_requests_total{{route="{_label(route)}",method="{method}",'
            f'status="{status}"}} {count}'
        )
    lines += [
        "# HELP canyu_request_duration_seconds Request latency by route.",
        "# TYPE canyu_request_duration_seconds histogram",
    ]
    for route in sorted(_latency_count):
        # Each bucket already counts every observation <= its bound (cumulative).
        for bound, count in zip(BUCKETS, _latency_buckets[route], strict=True):
            lines.append(
                f'canyu_request_duration_seconds_bucket{{route="{_label(route)}",le="{bound}"}} '
                f"{count}"
            )
        lines.append(
            f'canyu_request_duration_seconds_bucket{{route="{_label(route)}",le="+Inf"}} '
            f"{_latency_count[route]}"
        )
        lines.append(
            f'canyu_request_duration_seconds_sum{{route="{_label(route)}"}} '
            f"{_latency_sum[route]:.6f}"
        )
        lines.append(
            f'canyu_request_duration_seconds_count{{route="{_label(route)}"}} '
            f"{_latency_count[route]}"
        )
    for name, (help_text, reader) in sorted(_gauges.items()):
        lines += [f"# HELP {name} {help_text}", f"# TYPE {name} gauge", f"{name} {await reader()}"]
    return "\n".join(lines) + "\n"
