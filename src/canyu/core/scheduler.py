"""Periodic jobs (offer expiry, reminders, reconciliation, purges) run inside ``canyu serve``.

Each job must be safe to run in several workers at once: they use conditional updates."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

log = logging.getLogger("canyu.scheduler")


@dataclass(frozen=True)
class Job:
    name: str
    interval: float
    run: Callable[[], Awaitable[object]]


JOBS: dict[str, Job] = {}


def register_job(name: str, interval: float, run: Callable[[], Awaitable[object]]) -> None:
    JOBS[name] = Job(name, interval, run)


async def run_all_once() -> None:
    for job in list(JOBS.values()):
        await job.run()


async def _loop(job: Job, stop: asyncio.Event) -> None:
    while not stop.is_set():
        try:
            await job.run()
        except Exception:
            log.exception("job %s failed", job.name)
        try:
            await asyncio.wait_for(stop.wait(), timeout=job.interval)
        except TimeoutError:
            pass


async def run_forever(stop: asyncio.Event) -> None:
    await asyncio.gather(*(_loop(job, stop) for job in list(JOBS.values())))
