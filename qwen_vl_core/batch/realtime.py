"""The real-time batch runner: many `achat` calls at bounded concurrency, rate-limited, resumable.

The producer starts at most `concurrency` items at a time (the rest are not even built yet, so
memory stays flat over 50,000 items); each item takes a rate-limiter slot, runs through the
client (its retry policy applies: 429/5xx/connection errors before the first byte), and its record
is written durably the moment it finishes. A failure is recorded under the item's id and the run
goes on. Cancelling the run (Ctrl-C) cancels only the items in flight.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol, TextIO

from ..accumulator import ChatResult
from ..client import QwenVLClient
from ..errors import IncompleteStreamError, RateLimitError
from ..retry import retry_delay
from ..types import ChatRequest
from .build import BatchSettings, build_request, estimate_tokens
from .fingerprint import choose_output, header_for, settings_record
from .items import BatchItem
from .output import GroupSync, OutputState, RecordWriter
from .pricing import CostMeter
from .progress import Progress, RunSummary
from .ratelimit import Clock, RateLimiter, Sleep
from .records import record_from_error, record_from_result

__all__ = ["DEFAULT_CONCURRENCY", "ChatClient", "ItemRunner", "Limiter", "arun_realtime", "open_output", "run_realtime"]

DEFAULT_CONCURRENCY = 8
_RATE_LIMIT_PAUSE = 5.0  # seconds every start waits after a 429 the client could not absorb


class ChatClient(Protocol):
    """What the runner needs: `QwenVLClient` (or anything with its `achat`)."""

    async def achat(self, request: ChatRequest) -> ChatResult: ...


class Limiter(Protocol):
    """What an item needs of a rate limiter: `RateLimiter`, or the Ray runner's cluster-wide one."""

    @property
    def active(self) -> bool: ...

    async def acquire(self, tokens: int = 0) -> None: ...

    def settle(self, estimated: int, actual: int) -> None: ...

    def pause(self, seconds: float) -> None: ...


class ItemRunner:
    """Runs one item to its record: build, rate-limit, call, retry a cut stream; never raises for the item."""

    def __init__(
        self,
        client: ChatClient,
        settings: BatchSettings,
        limiter: Limiter,
        *,
        include_reasoning: bool = True,
        item_retries: int = 1,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.client, self.settings, self.limiter = client, settings, limiter
        self.include_reasoning = include_reasoning
        self.item_retries = item_retries
        self.sleep = sleep

    def _error(self, item: BatchItem, exc: BaseException) -> dict[str, Any]:
        return record_from_error(item.id, exc, include_reasoning=self.include_reasoning)

    async def process(self, item: BatchItem) -> dict[str, Any]:
        try:
            request = build_request(item, self.settings)
            estimate = estimate_tokens(request)
        except Exception as exc:  # an unreadable image, a bad option: this item only
            return self._error(item, exc)
        attempt = 0
        while True:
            if self.limiter.active:
                await self.limiter.acquire(estimate)
            try:
                result = await self.client.achat(request)
            except IncompleteStreamError as exc:
                # Cut mid-stream (the client never retries once bytes arrived); the whole item is safe to redo.
                if attempt < self.item_retries:
                    await self.sleep(retry_delay(attempt, exc.retry_after))
                    attempt += 1
                    continue
                return self._error(item, exc)
            except RateLimitError as exc:
                self.limiter.pause(exc.retry_after or _RATE_LIMIT_PAUSE)
                return self._error(item, exc)
            except Exception as exc:  # every other failure is recorded, never raised
                return self._error(item, exc)
            actual = result.usage.total_tokens if result.usage is not None else estimate
            self.limiter.settle(estimate, actual)
            return record_from_result(item.id, result, include_reasoning=self.include_reasoning)


def open_output(
    out: str | os.PathLike[str], settings: BatchSettings, *, protocol: str, new_settings: bool
) -> tuple[Path, OutputState, dict[str, Any], str | None]:
    """The output to write (checked against the settings), its state, its header line, and a note."""
    record = settings_record(settings, protocol=protocol)
    path, state, note = choose_output(out, record, new_settings=new_settings)
    return path, state, header_for(record), note


async def arun_realtime(
    items: Sequence[BatchItem],
    out: str | os.PathLike[str],
    *,
    client: ChatClient,
    settings: BatchSettings,
    concurrency: int = DEFAULT_CONCURRENCY,
    rpm: float | None = None,
    tpm: float | None = None,
    include_reasoning: bool = True,
    retry_failed: bool = False,
    item_retries: int = 1,
    progress: TextIO | None = None,
    tty: bool | None = None,
    cost_region: str | None = None,
    durable: bool = True,
    new_settings: bool = False,
    clock: Clock = time.monotonic,
    sleep: Sleep = asyncio.sleep,
) -> RunSummary:
    """Run every item not yet in `out` and append its record; returns this run's summary.

    `out` records the settings (see `fingerprint`); resuming it with other settings raises
    `SettingsMismatchError`, or with `new_settings` writes to a separate file (`summary.output`).
    `retry_failed` re-runs items whose recorded result is an error (the new record supersedes the
    failed one; readers keep the latest, see `read_records`). `item_retries` re-runs an item whose
    stream was cut midway. `progress` is where progress goes (a terminal gets a redrawn bar).
    `cost_region` (`intl`/`us`/`cn`) enables the estimated cost in the summary.
    """
    if concurrency < 1:
        raise ValueError(f"concurrency must be at least 1, got {concurrency}")
    protocol = str(getattr(client, "protocol", "openai"))
    path, state, header, note = open_output(out, settings, protocol=protocol, new_settings=new_settings)
    skip = state.done(retry_failed=retry_failed)
    todo = [item for item in items if item.id not in skip]
    meter = CostMeter(settings.model, cost_region) if cost_region else None
    reporter = Progress(len(items), progress, skipped=len(items) - len(todo), meter=meter, tty=tty, clock=clock)
    if note:
        reporter.note(note)
    if skip and todo:
        reporter.note(f"resuming: {len(items) - len(todo):,} of {len(items):,} items already in {path}")
    limiter = RateLimiter(rpm, tpm, clock=clock, sleep=sleep)
    writer = GroupSync(RecordWriter(path, state=state, durable=durable, header=header))
    run = ItemRunner(
        client, settings, limiter, include_reasoning=include_reasoning, item_retries=item_retries, sleep=sleep
    )

    async def one(item: BatchItem) -> None:
        try:
            record = await run.process(item)
            await writer.commit(record)
            reporter.record(record)
        finally:
            slots.release()

    slots = asyncio.Semaphore(concurrency)
    pending: set[asyncio.Task[None]] = set()
    try:
        for item in todo:
            await slots.acquire()
            task = asyncio.create_task(one(item))
            pending.add(task)
            task.add_done_callback(pending.discard)
        while pending:
            await asyncio.gather(*pending)
    finally:
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
        await writer.aclose()
    summary = reporter.finish()
    summary.output = os.fspath(path)
    return summary


def run_realtime(
    items: Sequence[BatchItem],
    out: str | os.PathLike[str],
    *,
    client: ChatClient | None = None,
    settings: BatchSettings,
    **options: Any,
) -> RunSummary:
    """`arun_realtime` in a fresh event loop; `client` defaults to `QwenVLClient()` (env key and region).

    The client's async connections belong to that loop, so its `aclose()` runs before returning
    (a `QwenVLClient`'s sync side stays open for further use).
    """
    chat_client = client if client is not None else QwenVLClient()

    async def main() -> RunSummary:
        try:
            return await arun_realtime(items, out, client=chat_client, settings=settings, **options)
        finally:
            aclose = getattr(chat_client, "aclose", None)
            if aclose is not None:
                await aclose()

    try:
        return asyncio.run(main())
    finally:
        if isinstance(chat_client, QwenVLClient) and client is None:
            chat_client.close()
