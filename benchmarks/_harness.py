"""Timing harness: contenders, what one stream gave back, round-robin timing, sync and concurrent async.

CPU is `time.process_time()` of this process only (the server runs in another one), measured around
fully consuming one stream, after a warm-up stream. Contenders are interleaved per repetition (the
order rotates each time) so machine drift hits all of them alike; the median is reported.
"""

from __future__ import annotations

import asyncio
import gc
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

__all__ = [
    "AsyncRun",
    "Contender",
    "Outcome",
    "Row",
    "Server",
    "Skip",
    "SyncRun",
    "run_async",
    "run_sync",
]

MODEL = "qvq-max"
PROMPT = "Describe the image and reason about what it shows."

_T = TypeVar("_T")


class Skip(Exception):
    """This row cannot run here: a peer is not installed, or it needs the native emulator."""


@dataclass(frozen=True)
class Server:
    """What the server process reported: where it listens and what every stream carries."""

    base_url: str
    native_base_url: str
    api_key: str
    reasoning_chunks: int
    answer_chunks: int
    reasoning_chars: int
    answer_chars: int
    native: bool = False
    """True when the emulator serves the native multimodal-generation endpoint."""

    @property
    def chunks(self) -> int:
        """Content chunks per stream (reasoning + answer): the "per 1,000 chunks" denominator."""
        return self.reasoning_chunks + self.answer_chunks


@dataclass(frozen=True)
class Outcome:
    """What the consumer saw in one stream."""

    reasoning_chars: int
    answer_chars: int
    output_tokens: int | None
    """From the usage the contender surfaced; None when it surfaced none."""
    items: int
    """Chunks (or events) the consumer received."""
    first_chunk: float | None = None
    """Seconds from the start of the stream to its first chunk."""

    def problems(self, server: Server) -> list[str]:
        found = []
        if self.reasoning_chars != server.reasoning_chars:
            found.append(f"reasoning {self.reasoning_chars:,}/{server.reasoning_chars:,} chars")
        if self.answer_chars != server.answer_chars:
            found.append(f"answer {self.answer_chars:,}/{server.answer_chars:,} chars")
        if self.output_tokens is None:
            found.append("no usage")
        elif self.output_tokens != server.chunks:
            found.append(f"usage says {self.output_tokens} output tokens, expected {server.chunks}")
        return found


SyncRun = Callable[[], Outcome]
AsyncRun = Callable[[], Awaitable[Outcome]]


@dataclass(frozen=True)
class Contender:
    """One row. `build` / `abuild` construct the client or model (not timed) and return a one-stream run."""

    name: str
    group: str
    """"core", "langchain" or "llama_index"."""
    sent: str
    """What the request carried (model, usage option), shown in the table."""
    build: Callable[[Server], SyncRun] | None = None
    abuild: Callable[[Server], AsyncRun] | None = None
    floor: str = ""
    """"raw" or "framework" when this row is the floor the others are divided by."""
    native: bool = False
    """Speaks the native DashScope protocol: skipped until the emulator serves it."""
    async_default: bool = False
    """Part of the concurrent async run even without `--async-peers`."""


@dataclass
class Row:
    contender: Contender
    cpu: list[float] = field(default_factory=list)
    """Seconds of CPU per timed repetition."""
    wall: list[float] = field(default_factory=list)
    full_gcs: list[int] = field(default_factory=list)
    """Generation-2 (full) collections of the cyclic GC during each timed repetition."""
    first_chunks: list[float] = field(default_factory=list)
    """Seconds to the first chunk, one per stream timed."""
    outcome: Outcome | None = None
    problems: list[str] = field(default_factory=list)
    skipped: str | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return bool(self.cpu) and self.error is None and self.skipped is None

    def median_cpu(self) -> float:
        return statistics.median(self.cpu)

    def median_wall(self) -> float:
        return statistics.median(self.wall)

    def record(self, timing: tuple[float, float, int], outcomes: list[Outcome], server: Server) -> None:
        cpu, wall, full_gcs = timing
        self.cpu.append(cpu)
        self.wall.append(wall)
        self.full_gcs.append(full_gcs)
        self.outcome = outcomes[-1]
        self.first_chunks += [o.first_chunk for o in outcomes if o.first_chunk is not None]
        for outcome in outcomes:
            for problem in outcome.problems(server):
                if problem not in self.problems:
                    self.problems.append(problem)


NATIVE_SKIP = (
    "needs the native emulator: DashScopeEmulator does not serve "
    "/api/v1/services/aigc/multimodal-generation/generation yet"
)


def _describe(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text[:240]}"


def _prepare(row: Row, server: Server, builder: Callable[[Server], _T] | None) -> _T | None:
    """Build a contender's run, or mark the row skipped / failed; never raises."""
    contender = row.contender
    if builder is None:
        row.skipped = "no runner for this mode"
        return None
    if contender.native and not server.native:
        row.skipped = NATIVE_SKIP
        return None
    try:
        return builder(server)
    except Skip as exc:
        row.skipped = str(exc)
    except Exception as exc:
        row.error = _describe(exc)
    return None


class _Timer:
    """CPU, wall and full GC passes of one measured block; `gc_off` disables the cyclic GC inside it."""

    def __init__(self, gc_off: bool) -> None:
        self._gc_off = gc_off
        self.result = (0.0, 0.0, 0)

    def __enter__(self) -> _Timer:
        gc.collect()  # the previous contender's garbage is not this one's cost
        if self._gc_off:
            gc.disable()
        self._full = gc.get_stats()[2]["collections"]
        self._cpu, self._wall = time.process_time(), time.perf_counter()
        return self

    def __exit__(self, *exc_info: object) -> None:
        cpu, wall = time.process_time() - self._cpu, time.perf_counter() - self._wall
        gc.enable()
        self.result = (cpu, wall, gc.get_stats()[2]["collections"] - self._full)


def _rotated(names: list[str], shift: int) -> list[str]:
    if not names:
        return names
    shift %= len(names)
    return names[shift:] + names[:shift]


def run_sync(
    contenders: list[Contender], server: Server, repeat: int, log: Callable[[str], None], gc_off: bool = False
) -> list[Row]:
    """Warm every contender up once, then time `repeat` rounds of one stream each, round-robin."""
    rows = {c.name: Row(c) for c in contenders}
    runs: dict[str, SyncRun] = {}
    for name, row in rows.items():
        run = _prepare(row, server, row.contender.build)
        if run is None:
            log(f"  {name}: {row.skipped or row.error}")
            continue
        try:
            run()  # warm-up: imports, connection, caches
        except Exception as exc:
            row.error = _describe(exc)
            log(f"  {name}: {row.error}")
            continue
        runs[name] = run
    for rep in range(repeat):
        for name in _rotated(list(runs), rep):
            row = rows[name]
            try:
                with _Timer(gc_off) as timer:
                    outcome = runs[name]()
            except Exception as exc:
                row.error = _describe(exc)
                del runs[name]
                continue
            row.record(timer.result, [outcome], server)
        log(f"  round {rep + 1}/{repeat} done")
    return list(rows.values())


async def run_async(
    contenders: list[Contender],
    server: Server,
    concurrency: int,
    repeat: int,
    log: Callable[[str], None],
    gc_off: bool = False,
) -> list[Row]:
    """`concurrency` streams at once per contender and round; one event loop for the whole run."""
    rows = {c.name: Row(c) for c in contenders}
    runs: dict[str, AsyncRun] = {}
    for name, row in rows.items():
        run = _prepare(row, server, row.contender.abuild)
        if run is None:
            log(f"  {name}: {row.skipped or row.error}")
            continue
        try:
            await asyncio.gather(run(), run())  # warm-up, two connections
        except Exception as exc:
            row.error = _describe(exc)
            log(f"  {name}: {row.error}")
            continue
        runs[name] = run
    for rep in range(repeat):
        for name in _rotated(list(runs), rep):
            row = rows[name]
            run_one = runs[name]
            try:
                with _Timer(gc_off) as timer:
                    outcomes = await asyncio.gather(*(run_one() for _ in range(concurrency)))
            except Exception as exc:
                row.error = _describe(exc)
                del runs[name]
                continue
            row.record(timer.result, list(outcomes), server)
            log(f"  {name}: {row.cpu[-1]:.1f} s CPU, {row.wall[-1]:.1f} s wall")
    return list(rows.values())
