"""Fixtures shared by the core tests."""

from __future__ import annotations

import signal
from collections.abc import Iterator

import pytest


@pytest.fixture
def hang_watchdog(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fail a test that runs for a minute instead of hanging the suite (POSIX main thread only);
    for the fuzzing tests, where a hang is one of the failures looked for."""
    if not hasattr(signal, "SIGALRM"):
        yield
        return

    def expire(signum: int, frame: object) -> None:
        raise TimeoutError(f"{request.node.name} ran for 60 s: a hang")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, 60)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
