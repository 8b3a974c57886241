"""The Batch API path: support checks, lines, the emulator's files/batches endpoints, records."""

from __future__ import annotations

import io
import json
import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import openai
import pytest
from PIL import Image

import qwen_vl_core.batch as batch
from qwen_vl_core import AuthenticationError, NotFoundError, QwenVLClient
from qwen_vl_core.batch import (
    BatchAPIClient,
    BatchFailedError,
    BatchItem,
    BatchSettings,
    BatchStatus,
    afetch_batch,
    arun_batch_api,
    arun_realtime,
    asubmit_job,
    build_batch_line,
    build_request,
    check_batch_support,
    read_records,
    record_from_batch_line,
)
from qwen_vl_core.batch.support import region_of
from qwen_vl_core.testing import DashScopeEmulator, ErrorReply, Reply, ToolCallReply

SETTINGS = BatchSettings("qwen3-vl-plus", "Describe it.")


@pytest.fixture
def emu() -> Iterator[DashScopeEmulator]:
    with DashScopeEmulator() as emulator:
        yield emulator


@pytest.fixture
async def api(emu: DashScopeEmulator) -> AsyncIterator[BatchAPIClient]:
    client = BatchAPIClient(base_url=emu.base_url, api_key=emu.api_key, region="cn", poll_interval=0, max_retries=0)
    yield client
    await client.aclose()


def items(count: int) -> list[BatchItem]:
    return [BatchItem(f"item-{n}", prompt=f"question {n}") for n in range(count)]


def test_public_names_are_pinned() -> None:
    assert batch.__all__ == sorted(batch.__all__, key=lambda n: (not n.isupper(), n))
    assert set(batch.__all__) == {
        "BATCH_API_MODELS", "PRICES", "BatchAPIClient", "BatchFailedError", "BatchItem", "BatchItemError",
        "BatchSettings", "BatchStatus", "BatchThinkingWarning", "CostEstimate", "CostMeter", "FetchResult",
        "JobFetch", "JobManifest", "RateLimiter", "RecordWriter", "RunSummary", "SettingsMismatchError",
        "ShardLimits", "ShardState", "acancel_job", "afetch_batch", "afetch_job", "ajob_status", "arun_batch_api",
        "arun_realtime", "asubmit_job", "build_batch_line", "build_request", "cancel_job", "check_batch_support",
        "estimate_tokens", "fetch_batch", "fetch_job", "format_summary", "items_from_folder", "items_from_manifest",
        "job_status", "load_items", "read_records", "record_from_batch_line", "record_from_error",
        "record_from_result", "run_batch_api", "run_realtime", "scan_output", "settings_record", "submit_job",
    }  # fmt: skip


@pytest.mark.parametrize(
    ("model", "region", "message"),
    [
        (
            "qvq-max",
            "cn",
            "qvq-max answers only streaming requests, and Batch API requests do not stream, so it cannot be batched. "
            "Use --via realtime (streams each item), or a model such as qwen3-vl-plus.",
        ),
        (
            "qwen3-vl-plus",
            "us",
            "The Model Studio Batch API does not run visual models in Virginia (us); it does in Beijing (cn) and, "
            "for qwen3.7-plus, Singapore (intl). Use --region cn (or intl) with a key of that region, or "
            "--via realtime here.",
        ),
        (
            "qwen3-vl-plus",
            "intl",
            "qwen3-vl-plus is batched only in Beijing (cn), not in Singapore (intl). Use --region cn with a key of "
            "that region, or --via realtime here.",
        ),
        (
            "qwen3-vl-8b-thinking",
            None,
            "qwen3-vl-8b-thinking is not on Model Studio's Batch API list for image input (Beijing (cn): "
            "qwen3-vl-flash, qwen3-vl-plus, qwen3.5-flash, qwen3.5-plus, qwen3.6-flash, qwen3.6-plus, qwen3.7-flash, "
            "qwen3.7-plus, qwen3.8-flash, qwen3.8-max; Singapore (intl): qwen3.7-plus). Use one of those, or "
            "--via realtime (same records, full price).",
        ),
    ],
)
def test_unsupported_model_or_region_is_a_clear_error(model: str, region: str | None, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)) as info:
        check_batch_support(model, region)
    assert str(info.value) == message


def test_supported_combinations_and_regions_of_urls() -> None:
    for model, region in [
        ("qwen3-vl-plus", "cn"), ("qwen3-vl-flash", None), ("qwen3.5-plus", "cn"), ("qwen3.6-plus", None),
        ("qwen3.7-plus", "cn"), ("qwen3.7-plus", "intl"),
    ]:  # fmt: skip
        check_batch_support(model, region)
    assert [
        region_of(u)
        for u in (
            "https://dashscope.aliyuncs.com/compatible-mode/v1",
            "https://dashscope-intl.aliyuncs.com/compatible-mode/v1",
            "https://dashscope-us.aliyuncs.com/compatible-mode/v1",
            "https://ws-1.cn-beijing.maas.aliyuncs.com/compatible-mode/v1",
            "https://ws-1.ap-southeast-1.maas.aliyuncs.com/compatible-mode/v1",
            "http://127.0.0.1:8000/v1",
        )
    ] == ["cn", "intl", "us", "cn", "intl", None]
    assert BatchAPIClient(region="cn").region == "cn"
    assert BatchAPIClient(base_url="http://127.0.0.1:1/v1").region is None
    assert BatchAPIClient(base_url="http://127.0.0.1:1/v1", region="CN").region == "cn"


async def test_unsupported_region_fails_before_any_upload(emu, tmp_path: Path) -> None:
    api = BatchAPIClient(base_url=emu.base_url, api_key=emu.api_key, region="intl", poll_interval=0)
    out = tmp_path / "out.jsonl"
    with pytest.raises(ValueError, match=r"batched only in Beijing \(cn\), not in Singapore"):
        await arun_batch_api(items(2), out, api=api, settings=SETTINGS)
    with pytest.raises(ValueError, match="answers only streaming requests"):
        await asubmit_job(api, items(1), BatchSettings("qvq-max", "q"), out=out)
    assert emu.requests == []
    assert not (tmp_path / "out.jsonl.job").exists()
    assert not out.exists()


def test_a_line_is_the_compat_body_without_streaming(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48)).save(buffer, "PNG")
    (tmp_path / "a.png").write_bytes(buffer.getvalue())
    item = BatchItem("a", (str(tmp_path / "a.png"),), options={"thinking": True, "max_tokens": 50})
    line = build_batch_line("a", build_request(item, SETTINGS))
    data_url = "data:image/png;base64," + __import__("base64").b64encode(buffer.getvalue()).decode()
    assert line == {
        "custom_id": "a",
        "method": "POST",
        "url": "/v1/chat/completions",
        "body": {
            "model": "qwen3-vl-plus",
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "image_url", "image_url": {"url": data_url}},
                        {"type": "text", "text": "Describe it."},
                    ],
                }
            ],
            "max_tokens": 50,
            "enable_thinking": True,
        },
    }
    with pytest.raises(ValueError, match="Batch API requests cannot stream"):
        build_batch_line("b", build_request(BatchItem("b", options={"extra_body": {"stream": True}}), SETTINGS))


SCRIPTS = (
    Reply(reasoning="I see a cat.", text="A cat.", request_id="r1"),
    Reply(text="", tool_calls=[ToolCallReply(name="label", arguments='{"tag": "cat"}', id="call_1")], request_id="r2"),
    ErrorReply(400, "Bad image.", request_id="r3"),
    Reply(reasoning="", text="Plain.", request_id="r4"),
)
WORK = [
    BatchItem("think", prompt="q1", options={"thinking": True}),
    BatchItem("tool", prompt="q2"),
    BatchItem("error", prompt="q3", options={"thinking": True}),
    BatchItem("plain", prompt="q4"),
]


async def test_same_scripts_give_identical_records_on_both_paths(emu, api, tmp_path: Path) -> None:
    emu.enqueue(*SCRIPTS)
    client = QwenVLClient(base_url=emu.base_url, api_key=emu.api_key, max_retries=0)
    try:
        await arun_realtime(WORK, tmp_path / "realtime.jsonl", client=client, settings=SETTINGS, concurrency=1)
    finally:
        await client.aclose()
    assert [r.body.get("stream", False) for r in emu.requests] == [True, False, True, False]
    emu.reset()
    emu.enqueue(*SCRIPTS)
    summary = await arun_batch_api(WORK, tmp_path / "batch.jsonl", api=api, settings=SETTINGS)
    realtime = {r["id"]: r for r in read_records(tmp_path / "realtime.jsonl")}
    batched = {r["id"]: r for r in read_records(tmp_path / "batch.jsonl")}  # result file first, then error file
    assert batched == realtime
    assert [(r["id"], r["answer"], r["error"] and r["error"]["type"]) for r in batched.values()] == [
        ("think", "A cat.", None),
        ("tool", "", None),
        ("plain", "Plain.", None),
        ("error", None, "InvalidRequestError"),
    ]
    assert batched["tool"]["tool_calls"] == [
        {"id": "call_1", "name": "label", "arguments": '{"tag": "cat"}', "args": {"tag": "cat"}}
    ]
    assert (summary.done, summary.failed, summary.reasoning_tokens) == (3, 1, 2)
    assert summary.cost is not None
    assert summary.cost.batch_api


async def test_round_trip_through_the_emulator_endpoints(emu, api, tmp_path: Path) -> None:
    emu.batch_api.retrieves_per_status = 2
    emu.enqueue(Reply(text="one", request_id="a"), Reply(text="two", request_id="b"))
    out = tmp_path / "out.jsonl"
    out.write_text(json.dumps({"id": "item-0", "answer": "earlier", "error": None}) + "\n")
    summary = await arun_batch_api(items(3), out, api=api, settings=SETTINGS)
    assert [(r["id"], r["answer"]) for r in read_records(out)] == [
        ("item-0", "earlier"),
        ("item-1", "one"),
        ("item-2", "two"),
    ]
    assert (summary.skipped, summary.done) == (1, 2)
    calls = [(r.method, r.path.split("/")[3]) for r in emu.requests]
    assert calls == [("POST", "files"), ("POST", "batches")] + [("GET", "batches")] * 6 + [("GET", "files")]
    upload = emu.requests[0]
    assert upload.headers["content-type"].startswith("multipart/form-data; boundary=")
    (stored,) = [f for f in emu.batch_api.files.values() if f.purpose == "batch"]
    assert [json.loads(line)["custom_id"] for line in stored.data.splitlines()] == ["item-1", "item-2"]
    assert emu.requests[1].body == {
        "input_file_id": stored.id,
        "endpoint": "/v1/chat/completions",
        "completion_window": "24h",
    }


async def test_submit_then_fetch_from_another_client_with_only_the_id(emu, tmp_path: Path) -> None:
    emu.enqueue(
        Reply(text="one", request_id="a"), ErrorReply(500, "Internal error.", code="InternalError", request_id="b")
    )
    submitter = BatchAPIClient(base_url=emu.base_url, api_key=emu.api_key, region="cn")
    try:
        job = await asubmit_job(
            submitter, [*items(2), BatchItem("bad", ("/nope.png",))], SETTINGS, out=tmp_path / "job-out.jsonl"
        )
    finally:
        await submitter.aclose()
    ((batch_id, status),) = [(s.batch_id, s.status) for s in job.shards]
    assert (status, job.rejected) == ("validating", 1)
    (rejected,) = read_records(job.rejected_path)
    assert (rejected["id"], rejected["error"]["type"]) == ("bad", "InvalidMediaError")
    assert batch_id is not None
    other = BatchAPIClient(base_url=emu.base_url, api_key=emu.api_key, poll_interval=0)
    out = tmp_path / "out.jsonl"
    try:
        early = await afetch_batch(other, batch_id, out)
        assert (early.ready, early.written, early.status.status, out.exists()) == (False, 0, "in_progress", False)
        seen: list[str] = []
        result = await afetch_batch(other, batch_id, out, wait=True, on_status=lambda s: seen.append(s.status))
        again = await afetch_batch(other, batch_id, out)
    finally:
        await other.aclose()
    assert seen == ["finalizing", "completed"]
    assert (result.written, result.status.completed, result.status.failed) == (2, 1, 1)
    assert (again.written, again.skipped) == (0, 2)  # fetching twice never duplicates
    records = read_records(out)
    assert [(r["id"], r["answer"], r["error"] and r["error"]["type"]) for r in records] == [
        ("item-0", "one", None),
        ("item-1", None, "ServerError"),
    ]
    header = {"qwen_vl_batch": {"version": 1, "fingerprint": None, "settings": None}}  # fetched by id: unknown
    assert json.loads(out.read_text().splitlines()[0]) == header


async def test_expired_batch_records_the_items_it_never_ran(emu, api, tmp_path: Path) -> None:
    emu.batch_api.expire_after = 1
    emu.enqueue(Reply(text="done in time", request_id="a"))
    out = tmp_path / "out.jsonl"
    summary = await arun_batch_api(items(3), out, api=api, settings=SETTINGS)
    records = read_records(out)
    assert [r["answer"] for r in records] == ["done in time", None, None]
    assert records[1]["error"] == {
        "type": "BatchItemError",
        "message": "This request could not be executed before the completion window expired.",
        "code": "batch_expired",
        "status": None,
        "request_id": None,
    }
    assert (summary.done, summary.failed) == (1, 2)
    assert (await api.astatus(next(iter(emu.batch_api.batches)))).status == "expired"


async def test_cancel_and_a_cancelled_batch_has_nothing_to_fetch(emu, api, tmp_path: Path) -> None:
    job = await asubmit_job(api, items(2), SETTINGS, out=tmp_path / "job.jsonl")
    batch_id = job.shards[0].batch_id
    assert batch_id is not None
    cancelling = await api.acancel(batch_id)
    assert cancelling.status == "cancelling"
    final = await api.await_batch(batch_id)
    assert (final.status, final.completed, final.output_file_id) == ("cancelled", 0, None)
    result = await afetch_batch(api, batch_id, tmp_path / "out.jsonl")
    assert (result.ready, result.written) == (True, 0)
    assert emu.pending == 0
    assert [r for r in emu.requests if r.path.endswith("/chat/completions")] == []


async def test_a_batch_that_fails_validation_raises(emu, api, tmp_path: Path) -> None:
    raw = openai.OpenAI(base_url=emu.base_url, api_key=emu.api_key, max_retries=0)
    try:
        file = raw.files.create(
            file=("in.jsonl", b'{"custom_id": "a", "method": "GET"}\n', "application/jsonl"), purpose="batch"
        )
        created = raw.batches.create(input_file_id=file.id, endpoint="/v1/chat/completions", completion_window="24h")
    finally:
        raw.close()
    with pytest.raises(BatchFailedError) as info:
        await afetch_batch(api, created.id, tmp_path / "out.jsonl", wait=True)
    assert str(info.value) == (
        f"Batch {created.id} failed before running any item: line 1: method must be POST and url /v1/chat/completions."
    )


async def test_api_errors_map_to_library_errors(emu, api) -> None:
    with pytest.raises(NotFoundError) as info:
        await api.astatus("batch_missing")
    assert (info.value.status, info.value.code, info.value.message) == (
        404,
        "not_found",
        "Batch batch_missing not found. Check the batch or file id, and that the key is for the region "
        "(and workspace) the batch was created in.",
    )
    wrong = BatchAPIClient(base_url=emu.base_url, api_key="wrong", max_retries=0)
    try:
        with pytest.raises(AuthenticationError):
            await wrong.astatus("batch_x")
    finally:
        await wrong.aclose()


def test_record_from_lines_without_a_response_or_with_a_broken_body() -> None:
    assert record_from_batch_line(
        {"custom_id": "x", "response": None, "error": {"code": "batch_cancelled", "message": "Cancelled."}},
        include_reasoning=False,
    ) == {
        "id": "x",
        "answer": None,
        "tool_calls": [],
        "finish_reason": None,
        "model": None,
        "usage": None,
        "request_id": None,
        "error": {
            "type": "BatchItemError",
            "message": "Cancelled.",
            "code": "batch_cancelled",
            "status": None,
            "request_id": None,
        },
    }
    odd = record_from_batch_line(
        {
            "custom_id": "y",
            "response": {"status_code": 429, "request_id": "q", "body": None},
            "error": {"code": "Throttling", "message": "Slow."},
        }
    )
    assert odd["error"]["type"] == "RateLimitError"
    assert (odd["error"]["status"], odd["request_id"]) == (429, "q")


def test_status_describes_itself() -> None:
    status = BatchStatus("batch_1", "failed", 10, 0, 0, errors=("line 3: bad",))
    assert (status.terminal, status.describe()) == (True, "batch_1: failed, 0/10 done, 0 failed\n  error: line 3: bad")
