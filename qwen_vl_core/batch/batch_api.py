"""Batch API runs end to end (submit a job, wait, merge every shard's records), and fetching one batch by id.

Collecting uses the same resumable, durable output file as the real-time runner: ids already
recorded are skipped, so fetching twice (or after a partial real-time run) never duplicates a
record. Items the Batch API never ran (a cancelled batch) get no record, so running the same
command again picks them up (in a new job, once the old one is fetched).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TextIO

from .build import BatchSettings
from .fingerprint import header_for
from .items import BatchItem
from .jobs import DEFAULT_UPLOAD_CONCURRENCY, afetch_job, asubmit_job
from .output import RecordWriter, scan_output
from .pricing import CostMeter
from .progress import Progress, RunSummary
from .ratelimit import Clock
from .records import record_from_batch_line
from .remote import BatchAPIClient, BatchFailedError, BatchStatus
from .shards import DEFAULT_LIMITS, ShardLimits

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
    """Append the records of one finished batch, known by its id alone, to `out` (nothing if it is still
    running, unless `wait`). A new `out` gets a header saying its settings are unknown. Raises
    `BatchFailedError` when the batch failed as a whole. Jobs (`afetch_job`) are the usual way."""
    status = await (api.await_batch(batch_id, on_status=on_status) if wait else api.astatus(batch_id))
    if status.status == "failed":
        reasons = "; ".join(status.errors) or "no reason given"
        raise BatchFailedError(f"Batch {status.id} failed before running any item: {reasons}")
    if not status.terminal:
        return FetchResult(status)
    state = scan_output(out)
    skip = state.done(retry_failed=retry_failed)
    written = skipped = 0
    with RecordWriter(out, state=state, durable=durable, header=header_for(None)) as writer:
        async for line in api.result_lines(status):
            record = record_from_batch_line(line, include_reasoning=include_reasoning)
            if record["id"] in skip:
                skipped += 1
                continue
            skip.add(record["id"])
            writer.append(record)
            written += 1
    return FetchResult(status, written, skipped)


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
    job: str | os.PathLike[str] | None = None,
    limits: ShardLimits = DEFAULT_LIMITS,
    include_reasoning: bool = True,
    retry_failed: bool = False,
    new_settings: bool = False,
    upload_concurrency: int = DEFAULT_UPLOAD_CONCURRENCY,
    metadata: Mapping[str, str] | None = None,
    progress: TextIO | None = None,
    tty: bool | None = None,
    clock: Clock = time.monotonic,
) -> RunSummary:
    """Submit every item not yet in `out` as a job (or resume the unfinished one), wait for all its
    batches, and merge every record into `out`.

    Support and limits are checked before anything is uploaded; items that fail to build are
    recorded. If the wait is interrupted the batches keep running: `afetch_job` collects them.
    """
    notes: list[str] = []
    manifest = await asubmit_job(
        api, items, settings, out=out, job=job, limits=limits, include_reasoning=include_reasoning,
        retry_failed=retry_failed, new_settings=new_settings, upload_concurrency=upload_concurrency,
        metadata=metadata, on_note=notes.append,
    )  # fmt: skip
    meter = CostMeter(settings.model, api.region or "cn", batch_api=True)
    reporter = Progress(manifest.items, progress, skipped=manifest.skipped, meter=meter, tty=tty, clock=clock)
    for note in notes:
        reporter.note(note)
    requests = sum(s.requests for s in manifest.shards)
    if manifest.shards:
        reporter.note(
            f"job {manifest.job_id}: {len(manifest.shards)} batch(es), {requests:,} requests; if this wait is "
            f"interrupted, collect them later with: qwen-vl batch fetch {manifest.folder}"
        )
    await afetch_job(
        api, manifest.folder, wait=True, on_status=lambda s: reporter.note(s.describe()), on_record=reporter.record
    )
    summary = reporter.finish()
    summary.output = manifest.out
    return summary


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
