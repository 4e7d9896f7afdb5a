"""Rate limits per identity and per network, shared through Redis when configured.

Every limit is multiplied by ``CANYU_RATE_LIMIT_SCALE``; rules (ballots per day, places per
month) are not rate limits and live in the services."""

from __future__ import annotations

import ipaddress
import logging
import time

from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, Storage
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from limits.storage import storage_from_string

from canyu.core.errors import RateLimited

log = logging.getLogger("canyu.ratelimit")


class _MemoryStorage(MemoryStorage):
    """limits' in-process storage, sweeping expired counters at most every SWEEP_SECONDS.

    The library's own storage starts a sweep of *every* key after each hit that finds the last
    sweep done: with one key per resident and network, each request paid for a walk over
    thousands of keys (a third of the server's time in the vote benchmark). An expired counter
    is already dropped when it is read, so the sweep only gives memory back, and twice a minute
    is often enough. (The hook is the library's private ``__schedule_expiry``, which its
    ``incr`` calls; a test fails if a release renames it.)"""

    SWEEP_SECONDS = 30.0

    def __init__(self) -> None:
        super().__init__()
        self._last_sweep = time.monotonic()

    async def _MemoryStorage__schedule_expiry(self) -> None:
        now = time.monotonic()
        if now - self._last_sweep >= self.SWEEP_SECONDS:
            self._last_sweep = now
            await super()._MemoryStorage__schedule_expiry()  # type: ignore[misc]


class RateLimiter:
    def __init__(self, redis_url: str = "", scale: float = 1.0) -> None:
        self.scale = scale
        storage: Storage
        if redis_url:
            url = redis_url
            if url.startswith(("redis://", "rediss://")):
                url = "async+" + url
            storage = storage_from_string(url, implementation="redispy")
        else:
            storage = _MemoryStorage()
        self.storage = storage
        self._limiter = SlidingWindowCounterRateLimiter(storage)
        self._cache: dict[str, RateLimitItem] = {}

    def _item(self, rule: str) -> RateLimitItem:
        item = self._cache.get(rule)
        if item is None:
            base = parse(rule)
            amount = max(1, int(base.amount * self.scale))
            item = type(base)(amount, base.multiples, namespace=base.namespace)
            self._cache[rule] = item
        return item

    async def hit(self, name: str, rule: str, key: str) -> None:
        """Count one hit of ``name`` for ``key``; refuse with 429 past ``rule``."""
        if not await self._limiter.hit(self._item(rule), name, key):
            raise RateLimited()

    async def test(self, name: str, rule: str, key: str) -> bool:
        return await self._limiter.test(self._item(rule), name, key)

    async def reset(self) -> None:
        await self.storage.reset()

    async def close(self) -> None:
        """Close the Redis connections (they belong to the event loop that opened them)."""
        bridge = getattr(self.storage, "bridge", None)
        if bridge is not None:
            for readonly in (False, True):
                client = bridge.get_connection(readonly=readonly)
                await client.aclose()


_limiter = RateLimiter()


def configure(redis_url: str, scale: float) -> RateLimiter:
    global _limiter
    _limiter = RateLimiter(redis_url, scale)
    return _limiter


def limiter() -> RateLimiter:
    return _limiter


def network_of(ip: str | None) -> str:
    """The /24 (IPv4) or /48 (IPv6) network of an address: the unit of per-network limits."""
    if not ip:
        return "unknown"
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return "unknown"
    prefix = 24 if addr.version == 4 else 48
    return str(ipaddress.ip_network(f"{addr}/{prefix}", strict=False))


def client_ip(request) -> str:  # type: ignore[no-untyped-def]
    client = request.client
    return client.host if client else ""
