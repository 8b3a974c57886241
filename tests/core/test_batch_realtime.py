"""The real-time runner: records, item errors, resume after interruption, rate limits, retries."""

from __future__ import annotations

import asyncio
import io
import json
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from qwen_vl_core import ChatRequest, ChatResult, QwenVLClient, RateLimitError, Usage
from qwen_vl_core.batch import (
    BatchItem,
    BatchSettings,
    SettingsMismatchError,
    arun_realtime,
    read_records,
    run_realtime,
    settings_record,
)
from qwen_vl_core.batch.fingerprint import fingerprint
from qwen_vl_core.testing import DashScopeEmulator, Disconnect, ErrorReply, Reply

SETTINGS = BatchSettings("qwen3-vl-plus", "Describe it.")


def items(count: int) -> list[BatchItem]:
    return [BatchItem(f"item-{n:02d}", prompt=f"question {n}") for n in range(count)]


@pytest.fixture
def emu() -> Iterator[DashScopeEmulator]:
    with DashScopeEmulator() as emulator:
        yield emulator


@pytest.fixture
async def client(emu: DashScopeEmulator) -> AsyncIterator[QwenVLClient]:
    c = QwenVLClient(base_url=emu.base_url, api_key=emu.api_key, max_retries=0)
    yield c
    await c.aclose()


def lines(path: Path) -> list[dict[str, object]]:
    """The record lines (the settings header left out)."""
    return [json.loads(line) for line in path.read_text().splitlines() if '"qwen_vl_batch"' not in line]


SETTINGS_RECORD = {
    "model": "qwen3-vl-plus",
    "prompt": "Describe it.",
    "system": None,
    "thinking": {"enable": None, "effective": False, "budget": None},
    "images": {"max_pixels": None, "high_res": None, "fps": None},
    "sampling": {},
    "response_format": None,
    "extra_body": None,
    "protocol": "openai",
}


async def test_records_for_answers_and_item_errors(emu, client, tmp_path: Path) -> None:
    emu.enqueue(
        Reply(reasoning="Let me see.", text="A cat.", request_id="r1"),
        ErrorReply(400, "Bad image.", code="invalid_parameter_error", request_id="r2"),
    )
    work = [
        BatchItem("ok", prompt="What?", options={"thinking": True}),
        BatchItem("api-error", prompt="What?"),
        BatchItem("missing-file", ("/nope/x.png",)),
        BatchItem("policy", prompt="What?", options={"thinking_budget": 100, "thinking": False}),
    ]
    out = tmp_path / "out.jsonl"
    summary = await arun_realtime(work, out, client=client, settings=SETTINGS, concurrency=1)
    assert (summary.total, summary.done, summary.failed, summary.skipped) == (4, 1, 3, 0)
    header = json.loads(out.read_text().splitlines()[0])
    assert header == {"qwen_vl_batch": {"version": 1, "fingerprint": header["qwen_vl_batch"]["fingerprint"],
                                        "settings": SETTINGS_RECORD}}  # fmt: skip
    assert lines(out) == [
        {
            "id": "ok",
            "answer": "A cat.",
            "reasoning": "Let me see.",
            "tool_calls": [],
            "finish_reason": "stop",
            "model": "qwen3-vl-plus",
            "usage": {
                "input_tokens": 2,
                "output_tokens": 3,
                "total_tokens": 5,
                "reasoning_tokens": 2,
                "image_tokens": None,
                "video_tokens": None,
                "cached_tokens": None,
            },
            "request_id": "r1",
            "error": None,
        },
        {
            "id": "api-error",
            "answer": None,
            "reasoning": None,
            "tool_calls": [],
            "finish_reason": None,
            "model": None,
            "usage": None,
            "request_id": "r2",
            "error": {
                "type": "InvalidRequestError",
                "message": "Bad image.",
                "code": "invalid_parameter_error",
                "status": 400,
                "request_id": "r2",
            },
        },
        {
            "id": "missing-file",
            "answer": None,
            "reasoning": None,
            "tool_calls": [],
            "finish_reason": None,
            "model": None,
            "usage": None,
            "request_id": None,
            "error": {
                "type": "InvalidMediaError",
                "message": "The image file '/nope/x.png' does not exist (or is not a file).",
                "code": None,
                "status": None,
                "request_id": None,
            },
        },
        {
            "id": "policy",
            "answer": None,
            "reasoning": None,
            "tool_calls": [],
            "finish_reason": None,
            "model": None,
            "usage": None,
            "request_id": None,
            "error": {
                "type": "ValueError",
                "message": "thinking_budget=100 was given but thinking is off for qwen3-vl-plus; "
                "set enable_thinking=True or remove thinking_budget.",
                "code": None,
                "status": None,
                "request_id": None,
            },
        },
    ]
    assert len(emu.requests) == 2  # the two local errors never reached the server


async def test_no_reasoning_leaves_the_key_out(emu, client, tmp_path: Path) -> None:
    emu.enqueue(Reply(reasoning="hmm", text="yes", request_id="r"))
    out = tmp_path / "out.jsonl"
    await arun_realtime(items(1), out, client=client, settings=SETTINGS, include_reasoning=False)
    assert "reasoning" not in lines(out)[0]
    assert lines(out)[0]["answer"] == "yes"


class CountingClient:
    """Passes calls through; `reached` is set once `after` answers came back (their records are then written)."""

    def __init__(self, inner: QwenVLClient, *, after: int) -> None:
        self.inner, self.after, self.answered = inner, after, 0
        self.reached = asyncio.Event()

    async def achat(self, request: ChatRequest) -> ChatResult:
        result = await self.inner.achat(request)
        self.answered += 1
        if self.answered >= self.after:
            self.reached.set()
        return result


async def test_resume_after_cancel_mid_run_has_no_duplicate_and_no_lost_record(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    work = items(12)
    with DashScopeEmulator(default_reply=Reply(text="slow answer", delay=0.05)) as emu:
        client = QwenVLClient(base_url=emu.base_url, api_key=emu.api_key, max_retries=0)
        try:
            counting = CountingClient(client, after=4)
            task = asyncio.create_task(arun_realtime(work, out, client=counting, settings=SETTINGS, concurrency=3))
            await asyncio.wait_for(counting.reached.wait(), timeout=30)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            first = out.read_text().splitlines()
            assert 4 <= len(first) < 12
            summary = await arun_realtime(work, out, client=client, settings=SETTINGS, concurrency=3)
        finally:
            await client.aclose()
            client.close()
    final = out.read_text().splitlines()
    assert final[: len(first)] == first  # nothing finished was lost or rewritten
    assert sorted(r["id"] for r in lines(out)) == [i.id for i in work]  # each exactly once
    assert (summary.skipped, summary.done, summary.failed) == (len(first) - 1, 13 - len(first), 0)


class StubClient:
    """Answers instantly; raises `fail` on call number `fail_at`; notes the clock at every call."""

    def __init__(self, clock=time.monotonic, *, fail_at: int | None = None, fail: BaseException | None = None):
        self.clock, self.fail_at, self.fail = clock, fail_at, fail
        self.calls: list[tuple[float, str]] = []

    async def achat(self, request: ChatRequest) -> ChatResult:
        number = len(self.calls)
        self.calls.append((self.clock(), request.messages[-1].text))
        await asyncio.sleep(0)
        if number == self.fail_at and self.fail is not None:
            raise self.fail
        return ChatResult("", f"answer {number}", usage=Usage(10, 5, 15), finish_reason="stop", request_id=f"r{number}")


def test_keyboard_interrupt_keeps_finished_records_and_a_rerun_completes(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    work = items(8)
    with pytest.raises(KeyboardInterrupt):
        run_realtime(
            work, out, client=StubClient(fail_at=4, fail=KeyboardInterrupt()), settings=SETTINGS, concurrency=1
        )  # type: ignore[arg-type]
    kept = lines(out)
    assert [r["id"] for r in kept] == ["item-00", "item-01", "item-02", "item-03"]
    stub = StubClient()
    summary = run_realtime(work, out, client=stub, settings=SETTINGS, concurrency=1)  # type: ignore[arg-type]
    assert [text for _, text in stub.calls] == [f"question {n}" for n in range(4, 8)]
    assert [r["id"] for r in lines(out)] == [i.id for i in work]
    assert lines(out)[:4] == kept
    assert (summary.skipped, summary.done) == (4, 4)


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds
        await asyncio.sleep(0)


async def test_rpm_holds_the_configured_rate_with_a_fake_clock(tmp_path: Path) -> None:
    clock = FakeClock()
    stub = StubClient(clock)
    await arun_realtime(
        items(6), tmp_path / "out.jsonl", client=stub, settings=SETTINGS, concurrency=6, rpm=120,
        clock=clock, sleep=clock.sleep,
    )  # fmt: skip
    assert [at for at, _ in stub.calls] == [0.0, 0.5, 1.0, 1.5, 2.0, 2.5]


async def test_rpm_holds_in_real_time_against_the_emulator(client, tmp_path: Path) -> None:
    started = time.monotonic()
    await arun_realtime(items(4), tmp_path / "out.jsonl", client=client, settings=SETTINGS, concurrency=4, rpm=600)
    assert time.monotonic() - started >= 0.29  # 4 starts, 0.1 s apart


async def test_a_429_the_client_could_not_absorb_pauses_every_start(tmp_path: Path) -> None:
    clock = FakeClock()
    error = RateLimitError("slow down", status=429)
    error.retry_after = 7.0
    stub = StubClient(clock, fail_at=0, fail=error)
    out = tmp_path / "out.jsonl"
    await arun_realtime(
        items(2), out, client=stub, settings=SETTINGS, concurrency=1, rpm=6000, clock=clock, sleep=clock.sleep
    )
    assert [at for at, _ in stub.calls] == [0.0, 7.0]
    assert [r["error"]["type"] if r["error"] else None for r in lines(out)] == ["RateLimitError", None]


async def test_a_stream_cut_midway_is_retried_as_a_whole_item(emu, client, tmp_path: Path) -> None:
    emu.enqueue(
        Reply(reasoning="partial thoughts", text="lost", fault=Disconnect(after_chunks=2)),
        Reply(reasoning="again", text="Complete.", request_id="r2"),
    )
    out = tmp_path / "out.jsonl"
    await arun_realtime(
        [BatchItem("a", prompt="q", options={"thinking": True})], out, client=client, settings=SETTINGS,
        sleep=lambda _: asyncio.sleep(0),
    )  # fmt: skip
    record = lines(out)[0]
    assert (record["answer"], record["reasoning"], record["request_id"], record["error"]) == (
        "Complete.",
        "again",
        "r2",
        None,
    )
    assert len(emu.requests) == 2


async def test_retry_failed_reruns_only_failed_items(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    first = StubClient(fail_at=1, fail=RuntimeError("flaky"))
    await arun_realtime(items(3), out, client=first, settings=SETTINGS, concurrency=1)
    assert [r["error"]["message"] if r["error"] else None for r in lines(out)] == [None, "flaky", None]
    again = StubClient()
    await arun_realtime(items(3), out, client=again, settings=SETTINGS)
    assert again.calls == []  # failed items count as done unless asked
    await arun_realtime(items(3), out, client=again, settings=SETTINGS, retry_failed=True)
    assert [text for _, text in again.calls] == ["question 1"]
    assert [(r["id"], r["error"], r.get("supersedes")) for r in read_records(out)] == [
        ("item-00", None, None),
        ("item-01", None, 3),  # line 1 is the settings header; the failed record was line 3
        ("item-02", None, None),
    ]
    assert [(r["id"], r.get("supersedes")) for r in lines(out)] == [
        ("item-00", None), ("item-01", None), ("item-02", None), ("item-01", 3),
    ]  # fmt: skip


async def test_progress_lines_and_summary(tmp_path: Path) -> None:
    clock = FakeClock()
    stream = io.StringIO()
    out = tmp_path / "out.jsonl"
    out.write_text(json.dumps({"id": "item-00", "answer": "old", "error": None}) + "\n")
    summary = await arun_realtime(
        items(3), out, client=StubClient(clock), settings=SETTINGS, concurrency=1, rpm=60, progress=stream,
        cost_region="cn", clock=clock, sleep=clock.sleep,
    )  # fmt: skip
    assert stream.getvalue() == (
        f"{out} has no settings record (written by an older version): settings not checked\n"
        f"resuming: 1 of 3 items already in {out}\n2/2 done, 0 failed, 2.0 items/s, 30 tokens, ETA 0s\n"
    )
    assert summary.cost is not None
    assert (summary.input_tokens, summary.output_tokens, round(summary.cost.total, 8)) == (20, 10, 0.00012)


def test_concurrency_must_be_positive(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="concurrency must be at least 1, got 0"):
        asyncio.run(arun_realtime([], tmp_path / "o.jsonl", client=StubClient(), settings=SETTINGS, concurrency=0))


async def test_resuming_with_other_settings_is_refused_and_names_what_differs(tmp_path: Path) -> None:
    out = tmp_path / "labels.jsonl"
    await arun_realtime(items(3), out, client=StubClient(), settings=SETTINGS)
    before = out.read_bytes()
    other = BatchSettings("qvq-max", "something else", {"thinking_budget": 500})
    stub = StubClient()
    with pytest.raises(SettingsMismatchError) as info:
        await arun_realtime(items(3), out, client=stub, settings=other)
    separate = tmp_path / f"labels-{fingerprint(settings_record(other))[:8]}.jsonl"
    assert str(info.value) == (
        f'{out} holds 3 records produced with other settings (model "qwen3-vl-plus" → "qvq-max"; prompt '
        f'"Describe it." → "something else"; thinking.effective false → true; thinking.budget not set → 500). '
        "Resuming would pass them off as answers to these settings. Run with the same settings, write to another "
        f"--out, or pass --new-settings to start {separate}."
    )
    assert (stub.calls, out.read_bytes()) == ([], before)
    summary = await arun_realtime(items(3), out, client=stub, settings=other, new_settings=True, progress=io.StringIO())
    assert (summary.output, summary.done, out.read_bytes()) == (str(separate), 3, before)
    assert json.loads(separate.read_text().splitlines()[0])["qwen_vl_batch"]["settings"]["model"] == "qvq-max"
    again = await arun_realtime(items(3), out, client=stub, settings=other, new_settings=True)
    assert (again.output, again.skipped, len(stub.calls)) == (str(separate), 3, 3)  # the separate file resumes


async def test_same_settings_resume_and_a_protocol_change_is_a_difference(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    await arun_realtime(items(2), out, client=StubClient(), settings=SETTINGS)
    summary = await arun_realtime(items(3), out, client=StubClient(), settings=SETTINGS)
    assert (summary.skipped, summary.done) == (2, 1)
    native = StubClient()
    native.protocol = "dashscope"  # type: ignore[attr-defined]
    with pytest.raises(SettingsMismatchError, match='protocol "openai" → "dashscope"'):
        await arun_realtime(items(3), out, client=native, settings=SETTINGS)
