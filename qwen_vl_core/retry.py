"""One retry policy for both protocols: which failures are retried, how long to wait, the loops.

Retried: HTTP 429, 500, 502, 503, 504 and connection errors, and only before the first byte of a
response, so output already delivered is never silently repeated. The wait is the server's
`Retry-After` when it gave a usable one, else exponential backoff with jitter. Every delay handed
to `sleep` is finite and bounded: a proxy that sends `Retry-After: nan` (or `inf`, or `-5`, or a
year) gets backoff instead, because `asyncio.sleep(nan)` corrupts the event loop's timer queue.
A streamed request whose response headers did not come within `header_timeout`
(`HeaderTimeoutError`) is sent again at most once, whatever `max_retries` says: the server may
still be working on the first one.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from .errors import APITimeoutError, QwenVLError

__all__ = [
    "ABSURD_RETRY_AFTER",
    "MAX_RETRY_AFTER",
    "RETRY_STATUSES",
    "HeaderTimeoutError",
    "aretrying",
    "parse_retry_after",
    "retry_delay",
    "retrying",
    "should_retry",
]

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
MAX_RETRY_AFTER = 60.0
"""The longest server-requested wait honoured; a longer `Retry-After` is capped to this."""
ABSURD_RETRY_AFTER = 3600.0
"""A `Retry-After` above this (a date misread as seconds, a year) is treated as absent: backoff applies."""
_MAX_BACKOFF = 8.0
T = TypeVar("T")


def parse_retry_after(value: Any) -> float | None:
    """Seconds from a `Retry-After` header value, or None when it is absent or unusable.

    Only a finite number of seconds from 0 to `ABSURD_RETRY_AFTER` counts. An HTTP date, `nan`,
    `inf`, a negative or absurd number or anything else is treated as absent, so the backoff applies.
    """
    if value is None:
        return None
    if isinstance(value, bytes):
        value = value.decode("latin-1")
    if isinstance(value, str) and len(value) > 64:
        return None  # no number of seconds is this long
    try:
        seconds = float(value)
    except (TypeError, ValueError, OverflowError):
        return None  # an HTTP date or garbage: fall back to backoff
    if not math.isfinite(seconds) or seconds < 0 or seconds > ABSURD_RETRY_AFTER:
        return None
    return seconds


class HeaderTimeoutError(APITimeoutError):
    """A streamed request got no response headers within `header_timeout` (sent again at most once)."""


def retry_delay(attempt: int, retry_after: float | None) -> float:
    """Seconds to wait before retry number `attempt + 1`, always finite and in [0, 60]."""
    if retry_after is not None and math.isfinite(retry_after) and retry_after >= 0:
        return min(retry_after, MAX_RETRY_AFTER)
    return min(0.5 * 2.0 ** min(attempt, 16), _MAX_BACKOFF) * (0.5 + random.random() / 2)


def should_retry(error: QwenVLError, attempt: int, max_retries: int) -> bool:
    """Whether a failed attempt number `attempt` (0-based) is tried again."""
    if attempt >= max_retries or not error.retryable:
        return False
    return error.status is None or error.status in RETRY_STATUSES


def _give_up(error: QwenVLError, attempt: int, max_retries: int, header_timeouts: int) -> bool:
    if isinstance(error, HeaderTimeoutError) and header_timeouts > 1:
        return True  # the server may still be working on the first request: never a third copy
    return not should_retry(error, attempt, max_retries)


def retrying(send: Callable[[], T], max_retries: int, map_error: Callable[[Exception], QwenVLError]) -> T:
    """Call `send` until it succeeds or the policy gives up; failures leave as library errors."""
    attempt = header_timeouts = 0
    while True:
        try:
            return send()
        except Exception as exc:
            error = map_error(exc)
            header_timeouts += isinstance(error, HeaderTimeoutError)
            if _give_up(error, attempt, max_retries, header_timeouts):
                if error is exc:
                    raise  # already ours: `raise error from exc` would make it its own cause
                raise error from exc
            time.sleep(retry_delay(attempt, error.retry_after))
            attempt += 1


async def aretrying(
    send: Callable[[], Awaitable[T]], max_retries: int, map_error: Callable[[Exception], QwenVLError]
) -> T:
    """The async twin of `retrying`."""
    attempt = header_timeouts = 0
    while True:
        try:
            return await send()
        except Exception as exc:
            error = map_error(exc)
            header_timeouts += isinstance(error, HeaderTimeoutError)
            if _give_up(error, attempt, max_retries, header_timeouts):
                if error is exc:
                    raise
                raise error from exc
            await asyncio.sleep(retry_delay(attempt, error.retry_after))
            attempt += 1
