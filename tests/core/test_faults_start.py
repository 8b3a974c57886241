"""Failures at the start of a native stream: DashScope answers some over HTTP 200, as a first event
`event:error` with `:HTTP_STATUS/429` (or 5xx). They are retried like the same HTTP status: only
before anything was delivered, `Retry-After` honoured, within `max_retries`; other first-event
errors (400) are not retried. Core client (stream and chat, sync and async) and both adapters.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from langchain_core.messages import HumanMessage
from llama_index.core.base.llms.types import ChatMessage
from test_faults import RID, Outcome, request, run

from langchain_qwen_vl import ChatQwenVL
from llama_index_qwen_vl import QwenVL
from qwen_vl_core import InvalidRequestError, RateLimitError, ServerError
from qwen_vl_core import retry as retry_module
from qwen_vl_core.testing import DashScopeEmulator, ErrorReply, Reply

MODES = pytest.mark.parametrize("mode", ["sync", "async"])
CALLS = pytest.mark.parametrize("call", ["stream", "chat"])
THROTTLED = "Requests rate limit exceeded, please try again later."
THROTTLED_HINT = f"{THROTTLED} Slow down or raise the quota; the call can be retried after a pause."
BUSY = "An internal error has occured, please try again later."


@pytest.fixture
def emu() -> Iterator[DashScopeEmulator]:
    with DashScopeEmulator() as emulator:
        yield emulator


@pytest.fixture
def delays(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, float | None]]:
    recorded: list[tuple[int, float | None]] = []

    def spy(attempt: int, retry_after: float | None) -> float:
        recorded.append((attempt, retry_after))
        return 0.0

    monkeypatch.setattr(retry_module, "retry_delay", spy)
    return recorded


def native(emu: DashScopeEmulator, **options: Any) -> Any:
    from qwen_vl_core import QwenVLClient

    return QwenVLClient(protocol="dashscope", base_url=emu.native_base_url, api_key=emu.api_key, **options)


def throttled(retry_after: float | str | None = None) -> ErrorReply:
    return ErrorReply(
        429, THROTTLED, code="Throttling.RateQuota", sse_framed=True, retry_after=retry_after, request_id=RID
    )


@MODES
@CALLS
def test_a_429_first_event_is_retried_after_its_retry_after(emu, mode, call) -> None:
    emu.enqueue(throttled(retry_after=0.3), Reply(reasoning="think", text="ok", request_id=RID))
    outcome: Outcome = run(native(emu, max_retries=1), request(), mode, call)
    assert outcome.error is None
    assert (outcome.result.reasoning, outcome.result.text, outcome.result.request_id) == ("think", "ok", RID)
    assert outcome.seconds >= 0.3
    assert len(emu.requests) == 2
    assert [r.connection for r in emu.requests] == [1, 1]  # the error's body was read: the connection kept


@MODES
@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_a_5xx_first_event_is_retried_with_backoff(emu, mode, status, delays) -> None:
    emu.enqueue(ErrorReply(status, BUSY, code="InternalError", sse_framed=True), Reply(text="ok"))
    outcome = run(native(emu, max_retries=2), request(), mode)
    assert (outcome.error, outcome.result.text, len(emu.requests)) == (None, "ok", 2)
    assert delays == [(0, None)]


@MODES
def test_first_event_errors_use_up_max_retries_then_raise(emu, mode, delays) -> None:
    emu.enqueue(throttled(retry_after=2), throttled(retry_after=2), throttled(retry_after=2), Reply(text="late"))
    outcome = run(native(emu, max_retries=2), request(), mode)
    error = outcome.error
    assert type(error) is RateLimitError
    assert (error.status, error.code, error.request_id, error.retryable, error.retry_after) == (
        429,
        "Throttling.RateQuota",
        RID,
        True,
        2.0,
    )
    assert str(error) == f"HTTP 429 Throttling.RateQuota: {THROTTLED_HINT} (request id {RID})"
    assert error.partial is None  # nothing had been delivered: as for an HTTP 429
    assert (len(emu.requests), emu.pending, delays) == (3, 1, [(0, 2.0), (1, 2.0)])


@MODES
def test_a_non_finite_retry_after_on_a_first_event_falls_back_to_backoff(emu, mode, delays) -> None:
    emu.enqueue(throttled(retry_after="nan"), Reply(text="ok"))
    outcome = run(native(emu, max_retries=1), request(), mode)
    assert (outcome.error, outcome.result.text, delays) == (None, "ok", [(0, None)])


@MODES
def test_a_400_first_event_is_not_retried(emu, mode, delays) -> None:
    message = "<400> InternalError.Algo.InvalidParameter: Range of max_tokens should be [1, 32768]"
    emu.enqueue(ErrorReply(400, message, sse_framed=True, request_id=RID), Reply(text="must not be reached"))
    error = run(native(emu, max_retries=2), request(), mode).error
    assert type(error) is InvalidRequestError
    assert (error.status, error.code, error.message, error.request_id) == (400, "InvalidParameter", message, RID)
    assert (len(emu.requests), emu.pending, delays) == (1, 1, [])


@MODES
def test_without_retries_a_5xx_first_event_is_a_server_error(emu, mode) -> None:
    emu.enqueue(ErrorReply(503, BUSY, code="ServiceUnavailable", sse_framed=True, request_id=RID))
    error = run(native(emu, max_retries=0), request(), mode).error
    assert type(error) is ServerError
    assert (error.status, error.request_id, error.retryable, error.partial) == (503, RID, True, None)
    assert len(emu.requests) == 1


@MODES
def test_the_adapters_retry_a_429_first_event(emu, mode, delays) -> None:
    emu.enqueue(throttled(), Reply(reasoning="r", text="lc"), throttled(), Reply(reasoning="r", text="li"))
    where = {"base_url": emu.native_base_url, "api_key": emu.api_key, "protocol": "dashscope", "max_retries": 1}
    chat, llm = ChatQwenVL(model="qvq-max", **where), QwenVL(model="qvq-max", **where)

    async def both() -> tuple[str, str]:
        try:
            first = (await chat.ainvoke([HumanMessage("hi")])).content
            second = (await llm.achat([ChatMessage(role="user", content="hi")])).message.content
            return str(first), second or ""
        finally:
            await chat.aclose()
            await llm.aclose()

    try:
        if mode == "sync":
            texts = (str(chat.invoke([HumanMessage("hi")]).content), llm.chat([ChatMessage(role="user", content="hi")]))
            texts = (texts[0], texts[1].message.content or "")
        else:
            texts = asyncio.run(both())
    finally:
        chat.close()
        llm.close()
    assert texts == ("lc", "li")
    assert (len(emu.requests), delays) == (4, [(0, None), (0, None)])
