"""Batch API jobs of any size: submit (sharded, resumable), status, fetch (merged) and cancel, as one job.

    api = BatchAPIClient(region="cn")
    job = submit_job(api, load_items("photos/"), BatchSettings("qwen3-vl-plus", "Label it."), out="labels.jsonl")
    ...                                      # later, wherever the job folder is (labels.jsonl.job/):
    fetch_job(api, job.folder, wait=True)    # every shard's records, merged into labels.jsonl

Submitting builds the shard files (`shards`), then uploads and creates one batch per shard, at most
`upload_concurrency` at a time, saving the manifest (`manifest`) before and after each step. Run it
again after an interruption and it picks up where it stopped: an upload whose id was not saved is
found again by file name, a batch whose id was not saved by its input file, so nothing is created
twice. Fetching writes the records of every finished shard (result and error files; a shard whose
batch failed as a whole gives each of its items an error record) and of the items that could not be
built into the one output file, the same records as the real-time path.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..errors import InvalidRequestError, NotFoundError
from .build import BatchSettings
from .fingerprint import SettingsMismatchError, choose_output, differences, fingerprint, header_for, settings_record
from .items import BatchItem
from .manifest import JobManifest, ShardState
from .output import RecordWriter
from .records import record_from_batch_line, record_from_error
from .remote import BatchAPIClient, BatchFailedError, BatchStatus
from .shards import DEFAULT_LIMITS, ShardInfo, ShardLimits, write_shards
from .support import check_batch_support
from .thinking import warn_if_unknown

__all__ = [
    "DEFAULT_UPLOAD_CONCURRENCY",
    "JobFetch",
    "acancel_job",
    "afetch_job",
    "ajob_status",
    "asubmit_job",
    "cancel_job",
    "default_job_folder",
    "describe_job",
    "fetch_job",
    "job_status",
    "submit_job",
]

DEFAULT_UPLOAD_CONCURRENCY = 4
Note = Callable[[str], None]


def default_job_folder(out: str | os.PathLike[str]) -> Path:
    return Path(f"{os.fspath(out)}.job")


@dataclass(frozen=True)
class JobFetch:
    job: JobManifest
    written: int = 0
    """Records appended by this fetch."""
    skipped: int = 0
    """Result lines whose id was already recorded."""

    @property
    def pending(self) -> list[ShardState]:
        """Shards still running, or not created yet."""
        return [s for s in self.job.shards if not s.terminal]

    @property
    def ready(self) -> bool:
        return not self.pending


def _resumable(folder: Path) -> JobManifest | None:
    if not JobManifest.exists(folder):
        return None
    manifest = JobManifest.load(folder)
    return None if manifest.done else manifest


def _counted(items: Iterable[BatchItem], manifest: JobManifest, skip: set[str]) -> Iterator[BatchItem]:
    for item in items:
        manifest.items += 1
        if item.id in skip:
            manifest.skipped += 1
        yield item


def _build(
    manifest: JobManifest, items: Iterable[BatchItem], settings: BatchSettings, limits: ShardLimits, skip: set[str]
) -> None:
    for stale in [*manifest.folder.glob("shard-*"), manifest.rejected_path]:
        stale.unlink(missing_ok=True)
    manifest.shards, manifest.items, manifest.skipped = [], 0, 0

    def saved(info: ShardInfo) -> None:
        manifest.shards.append(ShardState(info.index, info.requests, info.bytes, info.sha256, list(info.downscaled)))
        manifest.save()

    _, rejected = write_shards(
        _counted(items, manifest, skip), settings, manifest.folder, limits=limits, skip=skip,
        include_reasoning=manifest.include_reasoning, on_shard=saved,
    )  # fmt: skip
    with RecordWriter(manifest.rejected_path) as writer:
        for record in rejected:
            writer.append(record)
    manifest.rejected, manifest.built = len(rejected), True
    manifest.save()


def _update(shard: ShardState, status: BatchStatus) -> None:
    shard.batch_id, shard.status, shard.errors = status.id, status.status, list(status.errors)
    shard.counts = {"total": status.total, "completed": status.completed, "failed": status.failed}


async def _push(api: BatchAPIClient, job: JobManifest, shard: ShardState, metadata: Mapping[str, str] | None) -> None:
    name = job.upload_name(shard.index)
    if shard.step in ("built", "uploading"):
        file_id = None
        if shard.step == "uploading":  # cut short last time: the upload may have landed
            try:
                file_id = await api.afind_file(name, shard.bytes)
            except (NotFoundError, InvalidRequestError):  # no file listing here: upload again
                file_id = None
        if file_id is None:
            shard.step = "uploading"
            job.save()
            file_id = await api.aupload(job.shard_path(shard.index), name)
        shard.file_id, shard.step = file_id, "uploaded"
        job.save()
    if shard.step in ("uploaded", "creating"):
        assert shard.file_id is not None
        status = None
        if shard.step == "creating":  # cut short last time: the batch may exist
            status = await api.afind_batch(shard.file_id, since=shard.creating_since)
        if status is None:
            shard.step, shard.creating_since = "creating", int(time.time())
            job.save()
            status = await api.acreate(shard.file_id, metadata=metadata)
        _update(shard, status)
        shard.step = "created"
        job.save()
        job.shard_path(shard.index).unlink(missing_ok=True)


async def _push_all(
    api: BatchAPIClient, job: JobManifest, concurrency: int, metadata: Mapping[str, str] | None
) -> None:
    gate = asyncio.Semaphore(concurrency)
    stopped = False

    async def one(shard: ShardState) -> None:
        nonlocal stopped
        async with gate:
            if stopped:  # another shard failed: start nothing new
                return
            try:
                await _push(api, job, shard, metadata)
            except BaseException:
                stopped = True
                raise

    tasks = [
        asyncio.create_task(one(s)) for s in job.shards if s.step in ("built", "uploading", "uploaded", "creating")
    ]
    try:
        await asyncio.gather(*tasks)
    except BaseException:  # stop the others where they are; the manifest says how far each got
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise


async def asubmit_job(
    api: BatchAPIClient,
    items: Iterable[BatchItem],
    settings: BatchSettings,
    *,
    out: str | os.PathLike[str],
    job: str | os.PathLike[str] | None = None,
    limits: ShardLimits = DEFAULT_LIMITS,
    include_reasoning: bool = True,
    retry_failed: bool = False,
    new_settings: bool = False,
    upload_concurrency: int = DEFAULT_UPLOAD_CONCURRENCY,
    metadata: Mapping[str, str] | None = None,
    on_note: Note | None = None,
) -> JobManifest:
    """Shard, upload and create every item not yet in `out`; or resume the unfinished job in `job`.

    `job` is the job folder (default `<out>.job`). Items are read only when the shards are built.
    Raises `SettingsMismatchError` when `out` (or the unfinished job) was made with other settings.
    """
    if upload_concurrency < 1:
        raise ValueError(f"upload_concurrency must be at least 1, got {upload_concurrency}")
    note = on_note or (lambda _: None)
    record = settings_record(settings)
    folder = Path(job) if job is not None else default_job_folder(out)
    manifest = _resumable(folder)
    if manifest is None:
        if api.check_support:
            check_batch_support(settings.model, api.region)
        path, state, out_note = choose_output(out, record, new_settings=new_settings)
        if out_note:
            note(out_note)
        if job is None and path != Path(out):
            folder = default_job_folder(path)
            manifest = _resumable(folder)
    if manifest is not None:
        changed = differences(manifest.settings, record)
        if changed:
            raise SettingsMismatchError(
                f"The unfinished job in {folder} was started with other settings ({'; '.join(changed)}). Finish it "
                "(qwen-vl batch fetch), cancel it, or give another job folder (--job)."
            )
        note(f"resuming job {manifest.job_id} in {folder}")
        if not manifest.built:
            state = choose_output(manifest.out, record)[1]
            _build(manifest, items, settings, limits, state.done(retry_failed=manifest.retry_failed))
    else:
        warn_if_unknown(settings.model, settings.options.get("thinking"))
        manifest = JobManifest(
            job_id=uuid.uuid4().hex[:12], created_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
            out=str(path.resolve()), base_url=api.endpoint.base_url, region=api.region, model=settings.model,
            settings=record, fingerprint=fingerprint(record), include_reasoning=include_reasoning,
            retry_failed=retry_failed, limits=asdict(limits), folder=folder,
        )  # fmt: skip
        manifest.save()
        _build(manifest, items, settings, limits, state.done(retry_failed=retry_failed))
    await _push_all(api, manifest, upload_concurrency, metadata)
    return manifest


async def _refresh(
    api: BatchAPIClient, job: JobManifest, on_status: Callable[[BatchStatus], None] | None
) -> dict[int, BatchStatus]:
    seen: dict[int, BatchStatus] = {}
    for shard in job.shards:
        if shard.batch_id is None or shard.step in ("fetched", "cancelled"):
            continue
        status = await api.astatus(shard.batch_id)
        if on_status is not None and status.status != shard.status:
            on_status(status)
        _update(shard, status)
        seen[shard.index] = status
    job.save()
    return seen


async def ajob_status(api: BatchAPIClient, job: str | os.PathLike[str]) -> JobManifest:
    """The job with every unfinished shard's status refreshed (and saved)."""
    manifest = JobManifest.load(job)
    await _refresh(api, manifest, None)
    return manifest


def _failed_records(job: JobManifest, shard: ShardState) -> Iterator[dict[str, Any]]:
    reasons = "; ".join(shard.errors) or "no reason given"
    error = BatchFailedError(f"Batch {shard.batch_id} (shard {shard.index}) failed before running any item: {reasons}")
    for item_id in job.shard_ids(shard.index):
        yield record_from_error(item_id, error, include_reasoning=job.include_reasoning)


def _rejected(job: JobManifest) -> Iterator[dict[str, Any]]:
    if job.rejected_path.exists():
        with job.rejected_path.open(encoding="utf-8") as lines:
            yield from (json.loads(line) for line in lines if line.strip())


async def afetch_job(
    api: BatchAPIClient,
    job: str | os.PathLike[str],
    *,
    out: str | os.PathLike[str] | None = None,
    wait: bool = False,
    on_status: Callable[[BatchStatus], None] | None = None,
    on_record: Callable[[dict[str, Any]], None] | None = None,
) -> JobFetch:
    """Append the records of every finished shard not fetched yet (and of the items that could not be
    built) to the job's output (or `out`). With `wait`, first wait until every created shard ends."""
    manifest = JobManifest.load(job)
    statuses = await _refresh(api, manifest, on_status)
    delay = api.poll_interval
    while wait and any(not s.terminal and s.batch_id is not None for s in manifest.shards):
        await api._sleep(delay)
        delay = min(api.max_poll_interval, max(delay * 1.5, 0.0))
        statuses = await _refresh(api, manifest, on_status)
    path, state, _ = choose_output(out if out is not None else manifest.out, manifest.settings)
    skip = state.done(retry_failed=manifest.retry_failed)
    written = skipped = 0
    with RecordWriter(path, state=state, header=header_for(manifest.settings)) as writer:

        def put(record: dict[str, Any]) -> None:
            nonlocal written, skipped
            if record["id"] in skip:
                skipped += 1
                return
            skip.add(record["id"])
            writer.append(record)
            written += 1
            if on_record is not None:
                on_record(record)

        for shard in manifest.shards:
            if shard.step != "created" or not shard.terminal:
                continue
            if shard.status == "failed":
                for record in _failed_records(manifest, shard):
                    put(record)
            else:
                async for line in api.result_lines(statuses[shard.index]):
                    put(record_from_batch_line(line, include_reasoning=manifest.include_reasoning))
            writer.sync()
            shard.step = "fetched"
            manifest.save()
        if manifest.built and not manifest.rejected_merged:
            for record in _rejected(manifest):
                put(record)
            writer.sync()
            manifest.rejected_merged = True
            manifest.save()
    return JobFetch(manifest, written, skipped)


async def acancel_job(api: BatchAPIClient, job: str | os.PathLike[str]) -> JobManifest:
    """Cancel every running shard; shards not created yet are marked cancelled and never will be."""
    manifest = JobManifest.load(job)
    for shard in manifest.shards:
        if shard.step == "creating" and shard.file_id is not None:
            found = await api.afind_batch(shard.file_id, since=shard.creating_since)
            if found is not None:
                _update(shard, found)
                shard.step = "created"
        if shard.step in ("built", "uploading", "uploaded", "creating"):
            shard.step = "cancelled"
        elif shard.step == "created" and shard.batch_id is not None:
            status = await api.astatus(shard.batch_id)
            if not status.terminal:
                try:
                    status = await api.acancel(shard.batch_id)
                except InvalidRequestError:  # it ended in the meantime
                    status = await api.astatus(shard.batch_id)
            _update(shard, status)
        manifest.save()
    return manifest


def describe_job(job: JobManifest) -> str:
    """A status summary: the job, then one line per shard."""
    requests = sum(s.requests for s in job.shards)
    done = sum(s.counts.get("completed", 0) for s in job.shards)
    failed = sum(s.counts.get("failed", 0) for s in job.shards)
    lines = [
        f"job {job.job_id} ({job.folder}): {len(job.shards)} batch(es), {requests:,} requests, {done:,} done, "
        f"{failed:,} failed; records go to {job.out}"
    ]
    if job.rejected:
        lines.append(f"  {job.rejected:,} items could not be built (their error records are merged on fetch)")
    for s in job.shards:
        if s.batch_id is None:
            state = "cancelled before it was created" if s.step == "cancelled" else f"not created yet ({s.step})"
            lines.append(f"  shard {s.index}: {s.requests:,} requests, {state}")
            continue
        text = f"  shard {s.index}: {s.batch_id}: {s.status}, {s.counts['completed']:,}/{s.counts['total']:,} done, "
        lines.append(text + f"{s.counts['failed']:,} failed" + (", fetched" if s.step == "fetched" else ""))
        lines.extend(f"    error: {e}" for e in s.errors)
    return "\n".join(lines) + "\n"


def submit_job(api: BatchAPIClient, items: Iterable[BatchItem], settings: BatchSettings, **options: Any) -> JobManifest:
    """`asubmit_job` in a fresh event loop."""
    return api._sync(lambda: asubmit_job(api, items, settings, **options))


def job_status(api: BatchAPIClient, job: str | os.PathLike[str]) -> JobManifest:
    return api._sync(lambda: ajob_status(api, job))


def fetch_job(api: BatchAPIClient, job: str | os.PathLike[str], **options: Any) -> JobFetch:
    return api._sync(lambda: afetch_job(api, job, **options))


def cancel_job(api: BatchAPIClient, job: str | os.PathLike[str]) -> JobManifest:
    return api._sync(lambda: acancel_job(api, job))
