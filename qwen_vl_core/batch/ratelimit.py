"""Client-side rate limiting: requests per minute and tokens per minute, as two token buckets.

The request bucket holds one request, so starts are spaced evenly (rpm=120: one every 0.5 s) and
no burst can trip the server's per-second smoothing. The token bucket holds one second of tokens;
a request takes its estimated tokens up front (it may push the bucket below zero, which delays the
next ones) and `settle` later corrects the estimate with the usage the server reported. Waiting is
serialized by a lock, so one injectable `clock` and `sleep` make the schedule exact in tests.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

__all__ = ["Clock", "RateLimiter", "Sleep"]

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]
_EPSILON = 1e-9


class _Bucket:
    __slots__ = ("burst", "level", "rate", "stamp")

    def __init__(self, per_minute: float, burst: float, now: float) -> None:
        self.rate = per_minute / 60.0
        self.burst = burst
        self.level = burst
        self.stamp = now

    def refill(self, now: float) -> None:
        self.level = min(self.burst, self.level + (now - self.stamp) * self.rate)
        self.stamp = now

    def wait(self, amount: float) -> float:
        """Seconds until `amount` (at most one burst) is available."""
        return max(0.0, (min(amount, self.burst) - self.level) / self.rate)


class RateLimiter:
    """`await acquire(tokens)` before each request; `settle(estimated, actual)` after it."""

    def __init__(
        self,
        rpm: float | None = None,
        tpm: float | None = None,
        *,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        for name, value in (("rpm", rpm), ("tpm", tpm)):
            if value is not None and value <= 0:
                raise ValueError(f"{name} must be positive, got {value}")
        now = clock()
        self._requests = _Bucket(rpm, 1.0, now) if rpm else None
        self._tokens = _Bucket(tpm, max(tpm / 60.0, 1.0), now) if tpm else None
        self._clock = clock
        self._sleep = sleep
        self._lock = asyncio.Lock()
        self._paused_until = 0.0

    @property
    def active(self) -> bool:
        return self._requests is not None or self._tokens is not None

    def _wait(self, tokens: int) -> float:
        now = self._clock()
        wait = self._paused_until - now
        for bucket, amount in ((self._requests, 1), (self._tokens, tokens)):
            if bucket is not None:
                bucket.refill(now)
                wait = max(wait, bucket.wait(amount))
        return wait

    async def acquire(self, tokens: int = 0) -> None:
        """Wait for a request slot and `tokens` (the estimate for this request), then take them."""
        async with self._lock:
            while (wait := self._wait(tokens)) > _EPSILON:
                await self._sleep(wait)
            if self._requests is not None:
                self._requests.level -= 1
            if self._tokens is not None:
                self._tokens.level -= tokens

    def reserve(self, tokens: int = 0) -> float:
        """Take a request slot and `tokens` now; returns the seconds to wait before starting.

        For callers that cannot wait here (the Ray runner's cluster-wide limiter, an actor): each
        reservation pushes the next ones later, so the starts keep the configured rate.
        """
        wait = max(0.0, self._wait(tokens))
        if self._requests is not None:
            self._requests.level -= 1
        if self._tokens is not None:
            self._tokens.level -= tokens
        return wait

    def settle(self, estimated: int, actual: int) -> None:
        """Correct the token bucket once the server reported what the request really used."""
        if self._tokens is not None:
            self._tokens.refill(self._clock())
            self._tokens.level = min(self._tokens.burst, self._tokens.level - (actual - estimated))

    def pause(self, seconds: float) -> None:
        """Hold every start for `seconds` (after a 429 the client could not absorb)."""
        self._paused_until = max(self._paused_until, self._clock() + seconds)
