"""Batch API jobs: sharding with small limits, resume at each submit step, partly failed jobs, fetch and cancel."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from qwen_vl_core import QwenVLClient
from qwen_vl_core.batch import (
    BatchAPIClient,
    BatchItem,
    BatchSettings,
    JobManifest,
    SettingsMismatchError,
    ShardLimits,
    acancel_job,
    afetch_job,
    arun_realtime,
    asubmit_job,
    read_records,
)
from qwen_vl_core.batch import shards as shards_module
from qwen_vl_core.batch.jobs import describe_job
from qwen_vl_core.testing import DashScopeEmulator, Reply

SETTINGS = BatchSettings("qwen3-vl-plus", "Describe it.")
THREE = ShardLimits(max_requests=3)


class Crash(BaseException):
    """Stands for the process dying (Ctrl-C, a kill) at one step."""


@pytest.fixture
def emu() -> Iterator[DashScopeEmulator]:
    with DashScopeEmulator() as emulator:
        emulator.batch_api.reply_for = lambda line: Reply(
            text=f"answer {line['custom_id']}", request_id=f"r-{line['custom_id']}"
        )
        yield emulator


@pytest.fixture
async def api(emu: DashScopeEmulator) -> AsyncIterator[BatchAPIClient]:
    client = BatchAPIClient(base_url=emu.base_url, api_key=emu.api_key, region="cn", poll_interval=0, max_retries=0)
    yield client
    await client.aclose()


def items(count: int) -> list[BatchItem]:
    return [BatchItem(f"item-{n}", prompt=f"question {n}") for n in range(count)]


def uploads(emu: DashScopeEmulator) -> list[str]:
    return sorted(f.filename for f in emu.batch_api.files.values() if f.purpose == "batch")


async def test_a_job_over_the_file_limit_is_sharded_and_merges_like_the_realtime_path(emu, api, tmp_path) -> None:
    work = items(7)
    out = tmp_path / "batch.jsonl"
    job = await asubmit_job(api, work, SETTINGS, out=out, limits=THREE, upload_concurrency=2)
    assert [(s.index, s.requests, s.step, s.status) for s in job.shards] == [
        (0, 3, "created", "validating"),
        (1, 3, "created", "validating"),
        (2, 1, "created", "validating"),
    ]
    assert (job.folder, job.out, job.items, job.skipped, job.rejected) == (
        tmp_path / "batch.jsonl.job", str(out), 7, 0, 0,
    )  # fmt: skip
    assert sorted(p.name for p in job.folder.iterdir()) == [
        "manifest.json",
        "rejected.jsonl",
        "shard-00000.ids",
        "shard-00001.ids",
        "shard-00002.ids",
    ]  # fmt: skip  (the input files are deleted once their batch exists)
    assert uploads(emu) == [f"qwen-vl-{job.job_id}-{n:05d}.jsonl" for n in range(3)]
    assert JobManifest.load(job.folder) == job
    fetched = await afetch_job(api, job.folder, wait=True)
    assert (fetched.written, fetched.skipped, fetched.ready, fetched.job.done) == (7, 0, True, True)
    emu.reset()
    emu.enqueue(*(Reply(text=f"answer {i.id}", request_id=f"r-{i.id}") for i in work))
    client = QwenVLClient(base_url=emu.base_url, api_key=emu.api_key, max_retries=0)
    try:
        await arun_realtime(work, tmp_path / "realtime.jsonl", client=client, settings=SETTINGS, concurrency=1)
    finally:
        await client.aclose()
    batched = sorted(read_records(out), key=lambda r: r["id"])
    assert batched == read_records(tmp_path / "realtime.jsonl")
    assert [r["answer"] for r in batched] == [f"answer item-{n}" for n in range(7)]
    header = (tmp_path / "realtime.jsonl").read_text().splitlines()[0]
    assert out.read_text().splitlines()[0] == header  # the same settings record on both paths


AFTER_CRASH = {
    "build": [],
    "upload-before": ["created", "uploading", "built"],
    "upload-after": ["created", "uploading", "built"],
    "create-before": ["created", "creating", "built"],
    "create-after": ["created", "creating", "built"],
}


@pytest.mark.parametrize("step", list(AFTER_CRASH))
async def test_submit_resumes_after_an_interruption_at_each_step_without_duplicates(
    emu, api, tmp_path, monkeypatch, step: str
) -> None:
    work, out = items(7), tmp_path / "out.jsonl"
    if step == "build":
        real_build = shards_module.build_request

        def crash_on_item_4(item: BatchItem, settings: BatchSettings) -> Any:
            if item.id == "item-4":
                raise Crash
            return real_build(item, settings)

        monkeypatch.setattr(shards_module, "build_request", crash_on_item_4)
    else:
        name = "aupload" if step.startswith("upload") else "acreate"
        real = getattr(api, name)
        calls: list[object] = []

        async def crash_on_the_second_shard(*args: Any, **kwargs: Any) -> Any:
            calls.append(args)
            if len(calls) == 2:
                if step.endswith("after"):
                    await real(*args, **kwargs)  # the server did it; the id never reached the manifest
                raise Crash
            return await real(*args, **kwargs)

        monkeypatch.setattr(api, name, crash_on_the_second_shard)
    with pytest.raises(Crash):
        await asubmit_job(api, work, SETTINGS, out=out, limits=THREE, upload_concurrency=1)
    saved = JobManifest.load(tmp_path / "out.jsonl.job")
    assert ([s.step for s in saved.shards], saved.built) == (AFTER_CRASH[step] or ["built"], step != "build")
    monkeypatch.undo()
    notes: list[str] = []
    job = await asubmit_job(api, work, SETTINGS, out=out, limits=THREE, upload_concurrency=1, on_note=notes.append)
    assert notes == [f"resuming job {saved.job_id} in {tmp_path / 'out.jsonl.job'}"]
    assert (job.job_id, [s.step for s in job.shards]) == (saved.job_id, ["created"] * 3)
    assert uploads(emu) == [f"qwen-vl-{job.job_id}-{n:05d}.jsonl" for n in range(3)]  # no second upload
    assert sorted(b.input_file_id for b in emu.batch_api.batches.values()) == sorted(
        str(s.file_id) for s in job.shards
    )  # one batch per shard: none created twice
    fetched = await afetch_job(api, job.folder, wait=True)
    assert fetched.written == 7
    assert sorted(r["id"] for r in read_records(out, latest=False)) == [f"item-{n}" for n in range(7)]


async def test_cancel_and_fetch_of_a_partly_failed_job(emu, api, tmp_path) -> None:
    work = [BatchItem(f"item-{n}", prompt="x" * 3000 if n == 4 else f"question {n}") for n in range(9)]
    emu.batch_api.max_line_bytes = 2000  # the service rejects shard 1, which holds the long line
    out = tmp_path / "out.jsonl"
    job = await asubmit_job(api, work, SETTINGS, out=out, limits=THREE)
    first, second, third = (s.batch_id for s in job.shards)
    assert None not in (first, second, third)
    assert first is not None
    for _ in range(3):
        await api.astatus(first)  # shard 0 runs to completion
    cancelled = await acancel_job(api, job.folder)
    assert [(s.step, s.status) for s in cancelled.shards] == [
        ("created", "completed"),
        ("created", "failed"),
        ("created", "cancelling"),
    ]
    fetched = await afetch_job(api, job.folder, wait=True)
    assert (fetched.written, fetched.ready) == (6, True)
    records = {r["id"]: r for r in read_records(out)}
    assert sorted(records) == [f"item-{n}" for n in range(6)]  # shard 2 never ran: no records, run it again
    assert [records[f"item-{n}"]["answer"] for n in range(3)] == ["answer item-0", "answer item-1", "answer item-2"]
    assert records["item-3"]["error"] == {
        "type": "BatchFailedError",
        "message": f"Batch {second} (shard 1) failed before running any item: line 2: The line is over 2,000 bytes.",
        "code": None,
        "status": None,
        "request_id": None,
    }
    assert describe_job(fetched.job) == (
        f"job {job.job_id} ({job.folder}): 3 batch(es), 9 requests, 3 done, 0 failed; records go to {out}\n"
        f"  shard 0: {first}: completed, 3/3 done, 0 failed, fetched\n"
        f"  shard 1: {second}: failed, 0/0 done, 0 failed, fetched\n"
        "    error: line 2: The line is over 2,000 bytes.\n"
        f"  shard 2: {third}: cancelled, 0/3 done, 0 failed, fetched\n"
    )
    again = await asubmit_job(api, work, SETTINGS, out=out, limits=THREE)  # the old job is done: a new one
    assert again.job_id != job.job_id
    assert [again.shard_ids(s.index) for s in again.shards] == [["item-6", "item-7", "item-8"]]
    retry = await asubmit_job(api, work, SETTINGS, out=tmp_path / "x.jsonl", job=tmp_path / "other", retry_failed=True)
    assert retry.shards[0].requests == 9  # another output: everything


async def test_fetch_writes_finished_shards_now_and_the_rest_later_never_twice(emu, api, tmp_path) -> None:
    out = tmp_path / "out.jsonl"
    job = await asubmit_job(api, items(5), SETTINGS, out=out, limits=THREE)
    for _ in range(3):
        await api.astatus(str(job.shards[0].batch_id))
    early = await afetch_job(api, job.folder)
    assert (early.written, [s.index for s in early.pending], early.ready) == (3, [1], False)
    assert [r["id"] for r in read_records(out)] == ["item-0", "item-1", "item-2"]
    rest = await afetch_job(api, job.folder, wait=True)
    again = await afetch_job(api, job.folder)
    assert (rest.written, again.written, again.ready) == (2, 0, True)
    assert [json.loads(line).get("id") for line in out.read_text().splitlines()] == [
        None, "item-0", "item-1", "item-2", "item-3", "item-4",
    ]  # fmt: skip


async def test_an_item_too_big_for_a_line_is_its_own_error_not_a_failed_batch(emu, api, tmp_path) -> None:
    work = [*items(2), BatchItem("long", prompt="x" * 5000)]
    out = tmp_path / "out.jsonl"
    job = await asubmit_job(api, work, SETTINGS, out=out, limits=ShardLimits(max_line_bytes=2000))
    assert ([s.requests for s in job.shards], job.rejected) == ([2], 1)
    fetched = await afetch_job(api, job.folder, wait=True)
    assert fetched.written == 3
    assert fetched.job.shards[0].status == "completed"
    record = {r["id"]: r for r in read_records(out)}["long"]
    assert record["error"]["message"].startswith("item 'long': its Batch API line is 5,")
    assert record["error"]["message"].endswith("over the limit of 2,000 per line, and it has no inline image to "
                                               "downscale. Shorten it, give media as http(s) URLs, or run it with "
                                               "--via realtime.")  # fmt: skip


async def test_an_unfinished_job_is_not_resumed_with_other_settings(emu, api, tmp_path) -> None:
    out = tmp_path / "out.jsonl"
    job = await asubmit_job(api, items(2), SETTINGS, out=out)
    with pytest.raises(SettingsMismatchError) as info:
        await asubmit_job(api, items(2), BatchSettings("qwen3-vl-plus", "Other."), out=out)
    assert str(info.value) == (
        f'The unfinished job in {job.folder} was started with other settings (prompt "Describe it." → "Other."). '
        "Finish it (qwen-vl batch fetch), cancel it, or give another job folder (--job)."
    )
    assert len(emu.batch_api.batches) == 1


async def test_a_manifest_that_is_not_one_is_a_clear_error(tmp_path) -> None:
    (tmp_path / "job").mkdir()
    with pytest.raises(ValueError, match=r"is not a batch job folder \(no manifest.json in it\)"):
        JobManifest.load(tmp_path / "job")
    (tmp_path / "job" / "manifest.json").write_text('{"format": "something-else"}')
    with pytest.raises(ValueError, match="is not a version 1 qwen-vl-batch-job manifest"):
        JobManifest.load(tmp_path / "job" / "manifest.json")
