"""The emulator's Batch File API (`/files`, `/batches`) driven by the plain openai SDK and httpx."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import openai
import pytest

from qwen_vl_core.testing import DashScopeEmulator, ErrorReply, Reply
from qwen_vl_core.testing._batch_api import parse_multipart


@pytest.fixture
def emu() -> Iterator[DashScopeEmulator]:
    with DashScopeEmulator() as emulator:
        yield emulator


@pytest.fixture
def sdk(emu: DashScopeEmulator) -> Iterator[openai.OpenAI]:
    client = openai.OpenAI(base_url=emu.base_url, api_key=emu.api_key, max_retries=0)
    yield client
    client.close()


def line(custom_id: str, model: str = "qwen3-vl-plus", **body: object) -> dict[str, object]:
    return {
        "custom_id": custom_id,
        "method": "POST",
        "url": "/v1/chat/completions",
        "body": {"model": model, "messages": [{"role": "user", "content": "hi"}], **body},
    }


def start(sdk: openai.OpenAI, *lines: dict[str, object] | str) -> str:
    data = "".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines).encode()
    file = sdk.files.create(file=("in.jsonl", data, "application/jsonl"), purpose="batch")
    return sdk.batches.create(input_file_id=file.id, endpoint="/v1/chat/completions", completion_window="24h").id


def finish(sdk: openai.OpenAI, batch_id: str) -> openai.types.Batch:
    batch = sdk.batches.retrieve(batch_id)
    while batch.status not in ("completed", "failed", "expired", "cancelled"):
        batch = sdk.batches.retrieve(batch_id)
    return batch


def content(sdk: openai.OpenAI, file_id: str | None) -> list[dict[str, object]]:
    assert file_id is not None
    return [json.loads(x) for x in sdk.files.content(file_id).text.splitlines()]


def test_multipart_parsing() -> None:
    body = (
        b'--XyZ\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nbatch\r\n'
        b'--XyZ\r\nContent-Disposition: form-data; name="file"; filename="a.jsonl"\r\n'
        b'Content-Type: application/jsonl\r\n\r\n{"a": 1}\n\r\n--XyZ--\r\n'
    )
    assert parse_multipart(body, 'multipart/form-data; boundary="XyZ"') == {
        "purpose": (None, b"batch"),
        "file": ("a.jsonl", b'{"a": 1}\n'),
    }
    with pytest.raises(ValueError, match="multipart body without a boundary"):
        parse_multipart(body, "multipart/form-data")


def test_status_steps_and_the_batch_object(emu, sdk) -> None:
    emu.enqueue(Reply(text="hello", request_id="r1"))
    batch_id = start(sdk, line("a"))
    assert [sdk.batches.retrieve(batch_id).status for _ in range(4)] == [
        "in_progress",
        "finalizing",
        "completed",
        "completed",
    ]
    batch = sdk.batches.retrieve(batch_id)
    assert (batch.request_counts.total, batch.request_counts.completed, batch.request_counts.failed) == (1, 1, 0)
    assert (batch.error_file_id, batch.completed_at is None, batch.expires_at) == (
        None,
        False,
        batch.created_at + 86400,
    )
    (result,) = content(sdk, batch.output_file_id)
    assert (result["custom_id"], result["error"]) == ("a", None)
    assert (result["response"]["status_code"], result["response"]["request_id"]) == (200, "r1")
    assert result["response"]["body"]["choices"][0]["message"] == {"content": "hello", "role": "assistant"}
    assert str(result["id"]).startswith("batch_req_")


def test_zero_retrieves_per_status_finishes_at_once(emu, sdk) -> None:
    emu.batch_api.retrieves_per_status = 0
    assert sdk.batches.retrieve(start(sdk, line("a"))).status == "completed"


def test_broken_rules_and_error_replies_go_to_the_error_file(emu, sdk) -> None:
    emu.enqueue(ErrorReply(429, "Too many.", code="Throttling", request_id="q"), Reply(text="ok"))
    batch = finish(
        sdk,
        start(
            sdk, line("a"), line("b", enable_thinking=True, tool_choice="required"), line("c"), line("d", stream=True)
        ),
    )
    errors = content(sdk, batch.error_file_id)
    assert [(e["custom_id"], e["response"]["status_code"], e["error"]) for e in errors] == [
        ("a", 429, {"code": "Throttling", "message": "Too many."}),
        (
            "b",
            400,
            {
                "code": "invalid_parameter_error",
                "message": "<400> InternalError.Algo.InvalidParameter: The tool_choice parameter does not "
                "support being set to required or object in thinking mode",
            },
        ),
        ("d", 400, {"code": "invalid_parameter_error", "message": "Batch requests cannot stream; remove stream."}),
    ]
    assert [r["custom_id"] for r in content(sdk, batch.output_file_id)] == ["c"]
    assert (batch.request_counts.completed, batch.request_counts.failed) == (1, 3)


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (["not json"], "The line is not a JSON object."),
        ([line("a"), line("a")], "Duplicate custom_id 'a'."),
        ([line("a"), line("b", model="qwen3-vl-flash")], "All lines must request the same model."),
        ([{**line("a"), "url": "/v1/embeddings"}], "method must be POST and url /v1/chat/completions."),
        ([{"method": "POST"}], "custom_id is missing."),
        ([{**line("a"), "body": []}], "body must be a JSON object."),
    ],
)
def test_invalid_input_fails_the_batch(sdk, lines: list[dict[str, object] | str], message: str) -> None:
    batch = finish(sdk, start(sdk, *lines))
    assert batch.status == "failed"
    assert batch.errors is not None
    assert batch.errors.data is not None
    assert batch.errors.data[0].message == message


def test_http_errors_and_auth(emu, sdk) -> None:
    base = emu.base_url
    auth = {"Authorization": f"Bearer {emu.api_key}"}
    assert httpx.get(f"{base}/batches/nope", headers=auth).status_code == 404
    assert httpx.get(f"{base}/files/nope/content", headers=auth).status_code == 404
    assert httpx.get(f"{base}/batches/x/y/z", headers=auth).status_code == 404
    assert httpx.get(f"{base}/files", headers={"Authorization": "Bearer wrong"}).status_code == 401
    bad_purpose = httpx.post(f"{base}/files", headers=auth, files={"file": ("a.jsonl", b"{}")}, data={"purpose": "x"})
    assert (bad_purpose.status_code, bad_purpose.json()["error"]["message"]) == (
        400,
        "Upload a JSONL file with purpose=batch.",
    )
    assert httpx.post(f"{base}/batches", headers=auth, content=b"nope").status_code == 400
    assert httpx.post(f"{base}/batches", headers=auth, json={"input_file_id": "missing"}).status_code == 404
    file_id = sdk.files.create(file=("in.jsonl", b"{}\n", "application/jsonl"), purpose="batch").id
    assert sdk.files.retrieve(file_id).bytes == 3
    wrong = httpx.post(f"{base}/batches", headers=auth, json={"input_file_id": file_id, "endpoint": "/v1/embeddings"})
    assert wrong.status_code == 400
    done = start(sdk, line("a"))
    emu.batch_api.retrieves_per_status = 0
    sdk.batches.retrieve(done)
    with pytest.raises(openai.BadRequestError, match="Cannot cancel a batch with status completed"):
        sdk.batches.cancel(done)
    assert [r.method for r in emu.requests][:3] == ["GET", "GET", "GET"]  # every request is recorded


def test_reset_forgets_files_and_batches(emu, sdk) -> None:
    start(sdk, line("a"))
    emu.reset()
    assert (emu.batch_api.files, emu.batch_api.batches, emu.requests) == ({}, {}, [])


def test_the_vllm_flavour_has_no_batch_api() -> None:
    with DashScopeEmulator(flavour="vllm") as emu, pytest.raises(RuntimeError, match="serves no Batch API"):
        emu.batch_api  # noqa: B018


def test_files_and_batches_are_listed_newest_batch_first_with_pagination(emu, sdk) -> None:
    ids = [start(sdk, line("a")) for _ in range(3)]
    assert [f.filename for f in sdk.files.list(purpose="batch")] == ["in.jsonl"] * 3
    page = sdk.batches.list(limit=2)
    assert ([b.id for b in page.data], page.has_more) == ([ids[2], ids[1]], True)
    assert [b.id for b in sdk.batches.list(limit=2)] == [ids[2], ids[1], ids[0]]  # the SDK follows `after`
    assert [b.id for b in sdk.batches.list(after=ids[1])] == [ids[0]]


def test_validation_enforces_the_documented_limits(emu, sdk) -> None:
    emu.batch_api.max_line_bytes = 200
    emu.batch_api.max_lines = 2
    too_long = finish(sdk, start(sdk, line("a"), line("b", max_tokens=1, stop=["x" * 200])))
    assert too_long.errors is not None
    assert too_long.errors.data is not None
    assert (too_long.errors.data[0].line, too_long.errors.data[0].message) == (2, "The line is over 200 bytes.")
    too_many = finish(sdk, start(sdk, line("a"), line("b"), line("c")))
    assert too_many.errors is not None
    assert too_many.errors.data is not None
    assert too_many.errors.data[0].message == "The file has over 2 lines."
    emu.batch_api.max_file_bytes = 10
    assert finish(sdk, start(sdk, line("a"))).status == "failed"


def test_reply_for_scripts_each_line_by_its_content(emu, sdk) -> None:
    emu.enqueue(Reply(text="from the queue"))
    emu.batch_api.reply_for = lambda it: Reply(text=f"for {it['custom_id']}") if it["custom_id"] != "q" else None
    batch = finish(sdk, start(sdk, line("x"), line("q"), line("y")))
    answers = [r["response"]["body"]["choices"][0]["message"]["content"] for r in content(sdk, batch.output_file_id)]
    assert answers == ["for x", "from the queue", "for y"]
