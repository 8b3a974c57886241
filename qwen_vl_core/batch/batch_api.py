"""Batch API runs end to end: submit, wait, and collect the result lines into the output file.

Collecting uses the same resumable, durable output file as the real-time runner: ids already
recorded are skipped, so fetching twice (or after a partial real-time run) never duplicates a
record. Items the Batch API never ran (a cancelled batch) get no record, so running the same
command again picks them up.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TextIO

from .build import BatchSettings
from .items import BatchItem
from .output import RecordWriter, scan_output
from .pricing import CostMeter
from .progress import Progress, RunSummary
from .ratelimit import Clock
from .records import record_from_batch_line
from .remote import BatchAPIClient, BatchFailedError, BatchStatus

__all__ = ["FetchResult", "afetch_batch", "arun_batch_api", "fetch_batch", "run_batch_api"]


@dataclass(frozen=True)
class FetchResult:
    status: BatchStatus
    written: int = 0
    """Records appended by this fetch."""
    skipped: int = 0
    """Result lines whose id was already recorded."""

    @property
    def ready(self) -> bool:
        return self.status.terminal


async def _collect(
    api: BatchAPIClient,
    status: BatchStatus,
    writer: RecordWriter,
    skip: set[str],
    *,
    include_reasoning: bool,
    progress: Progress | None,
) -> FetchResult:
    written = skipped = 0
    async for line in api.result_lines(status):
        record = record_from_batch_line(line, include_reasoning=include_reasoning)
        if record["id"] in skip:
            skipped += 1
            continue
        skip.add(record["id"])
        writer.write(record)
        written += 1
        if progress is not None:
            progress.record(record)
    return FetchResult(status, written, skipped)


def _failed(status: BatchStatus) -> BatchFailedError:
    reasons = "; ".join(status.errors) or "no reason given"
    return BatchFailedError(f"Batch {status.id} failed before running any item: {reasons}")


async def afetch_batch(
    api: BatchAPIClient,
    batch_id: str,
    out: str | os.PathLike[str],
    *,
    include_reasoning: bool = True,
    retry_failed: bool = False,
    wait: bool = False,
    on_status: Callable[[BatchStatus], None] | None = None,
    durable: bool = True,
) -> FetchResult:
    """Append the records of a finished batch to `out` (nothing if it is still running, unless `wait`).

    Needs only the batch id: every line's `custom_id` is its item id. Raises `BatchFailedError` when
    the batch failed as a whole.
    """
    status = await (api.await_batch(batch_id, on_status=on_status) if wait else api.astatus(batch_id))
    if status.status == "failed":
        raise _failed(status)
    if not status.terminal:
        return FetchResult(status)
    state = scan_output(out)
    with RecordWriter(out, state=state, durable=durable) as writer:
        return await _collect(
            api, status, writer, state.done(retry_failed=retry_failed), include_reasoning=include_reasoning,
            progress=None,
        )  # fmt: skip


def fetch_batch(api: BatchAPIClient, batch_id: str, out: str | os.PathLike[str], **options: Any) -> FetchResult:
    """`afetch_batch` in a fresh event loop."""

    async def main() -> FetchResult:
        try:
            return await afetch_batch(api, batch_id, out, **options)
        finally:
            await api.aclose()

    return asyncio.run(main())


async def arun_batch_api(
    items: Sequence[BatchItem],
    out: str | os.PathLike[str],
    *,
    api: BatchAPIClient,
    settings: BatchSettings,
    include_reasoning: bool = True,
    retry_failed: bool = False,
    metadata: Mapping[str, str] | None = None,
    progress: TextIO | None = None,
    tty: bool | None = None,
    out_label: str | None = None,
    durable: bool = True,
    clock: Clock = time.monotonic,
) -> RunSummary:
    """Submit every item not yet in `out`, wait for the batch, and append every record.

    Support and limits are checked before anything is uploaded; items that fail to build are
    recorded at once. If the wait is interrupted the batch keeps running: `afetch_batch` collects it.
    """
    state = scan_output(out)
    skip = state.done(retry_failed=retry_failed)
    todo = [item for item in items if item.id not in skip]
    meter = CostMeter(settings.model, api.region or "cn", batch_api=True)
    reporter = Progress(len(items), progress, skipped=len(items) - len(todo), meter=meter, tty=tty, clock=clock)
    prepared = api.prepare(todo, settings, include_reasoning=include_reasoning)
    try:
        with RecordWriter(out, state=state, durable=durable) as writer:
            for record in prepared.rejected:
                writer.write(record)
                reporter.record(record)
            if not prepared.ids:
                return reporter.finish()
            status = await api.asubmit_prepared(prepared, metadata=metadata)
            target = out_label or os.fspath(out)
            reporter.note(
                f"submitted batch {status.id} ({len(prepared.ids):,} requests); if this wait is interrupted, "
                f"collect it later with: qwen-vl batch fetch {status.id} --out {target}"
            )
            status = await api.await_batch(status.id, on_status=lambda s: reporter.note(s.describe()))
            if status.status == "failed":
                raise _failed(status)
            await _collect(api, status, writer, set(skip), include_reasoning=include_reasoning, progress=reporter)
    finally:
        prepared.close()
    return reporter.finish()


def run_batch_api(
    items: Sequence[BatchItem],
    out: str | os.PathLike[str],
    *,
    api: BatchAPIClient,
    settings: BatchSettings,
    **options: Any,
) -> RunSummary:
    """`arun_batch_api` in a fresh event loop."""

    async def main() -> RunSummary:
        try:
            return await arun_batch_api(items, out, api=api, settings=settings, **options)
        finally:
            await api.aclose()

    return asyncio.run(main())
