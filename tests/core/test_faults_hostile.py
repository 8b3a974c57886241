"""Hostile and broken servers (issue #13, the transport side), on both protocols, sync and async,
through the core client and both adapters where they apply, with exact outcomes.

- `Retry-After: nan` / `inf` / negative / absurd / a date: treated as absent (backoff), every sleep
  finite, and the event loop's other timers keep ticking during the retries.
- A body with no line break: the line is capped (`max_sse_line`), memory stays bounded, the error
  carries `partial`.
- A non-SSE HTTP 200 to a streamed call: an HTML page is an error quoting it (not retried); a complete
  JSON answer is the result.
- A server that echoes the `Authorization` header: the key never reaches an error's str, repr,
  traceback, or the logs.
- A server that never sends the headers: the header timeout ends each try, and the request is sent
  at most twice.
- Tool-call fragments without `index`: keyed by id.
- `asyncio.run(...)` again and again: the async clients of each finished loop are closed.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
import traceback
import tracemalloc
from collections.abc import Iterator
from typing import Any

import pytest
from langchain_core.messages import HumanMessage
from llama_index.core.base.llms.types import ChatMessage
from test_faults import PARTIAL_NOTE, RID, Outcome, request, run

from langchain_qwen_vl import ChatQwenVL
from llama_index_qwen_vl import QwenVL
from qwen_vl_core import (
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    IncompleteStreamError,
    QwenVLClient,
    QwenVLError,
    RateLimitError,
    ReasoningDelta,
)
from qwen_vl_core import retry as retry_module
from qwen_vl_core.retry import HeaderTimeoutError
from qwen_vl_core.testing import (
    DashScopeEmulator,
    EchoAuthorization,
    EndlessLine,
    ErrorReply,
    HtmlPage,
    IgnoreStream,
    NoHeaders,
    Reply,
    ToolCallReply,
)

PROTOCOLS = pytest.mark.parametrize("protocol", ["openai", "dashscope"])
MODES = pytest.mark.parametrize("mode", ["sync", "async"])
THROTTLED = "Requests rate limit exceeded, please try again later."
CANARY = "sk-canary-0123456789abcdef"


@pytest.fixture
def emu() -> Iterator[DashScopeEmulator]:
    with DashScopeEmulator() as emulator:
        yield emulator


def where(emu: DashScopeEmulator, protocol: str, **options: Any) -> dict[str, Any]:
    url = emu.base_url if protocol == "openai" else emu.native_base_url
    return {"base_url": url, "api_key": emu.api_key, "protocol": protocol, **options}


def core(emu: DashScopeEmulator, protocol: str, **options: Any) -> QwenVLClient:
    return QwenVLClient(**where(emu, protocol, **options))


@pytest.fixture
def delays(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, float | None, float]]:
    recorded: list[tuple[int, float | None, float]] = []
    real = retry_module.retry_delay

    def spy(attempt: int, retry_after: float | None) -> float:
        recorded.append((attempt, retry_after, real(attempt, retry_after)))
        return 0.0

    monkeypatch.setattr(retry_module, "retry_delay", spy)
    return recorded


def adapter_call(kind: str, emu: DashScopeEmulator, protocol: str, mode: str, model: str, **options: Any) -> Any:
    """One call through an adapter (invoke / ainvoke, chat / achat); returns the text or the error."""
    if kind == "langchain":
        chat = ChatQwenVL(model=model, **where(emu, protocol, **options))

        async def lc() -> str:
            try:
                return str((await chat.ainvoke([HumanMessage("hi")])).content)
            finally:
                await chat.aclose()

        try:
            return str(chat.invoke([HumanMessage("hi")]).content) if mode == "sync" else asyncio.run(lc())
        except QwenVLError as exc:
            return exc
        finally:
            chat.close()
    llm = QwenVL(model=model, **where(emu, protocol, **options))
    messages = [ChatMessage(role="user", content="hi")]

    async def li() -> str:
        try:
            return (await llm.achat(messages)).message.content or ""
        finally:
            await llm.aclose()

    try:
        return (llm.chat(messages).message.content or "") if mode == "sync" else asyncio.run(li())
    except QwenVLError as exc:
        return exc
    finally:
        llm.close()


# -- 1. Retry-After that is not a usable number ---------------------------------------------------------

ODD_RETRY_AFTER = ["nan", "inf", "-inf", "-5", "1e999", "31536000", "Wed, 21 Oct 2015 07:28:00 GMT", "soon", ""]


@PROTOCOLS
@MODES
@pytest.mark.parametrize("value", ODD_RETRY_AFTER)
def test_an_unusable_retry_after_falls_back_to_backoff(emu, protocol, mode, value, delays) -> None:
    emu.enqueue(ErrorReply(429, THROTTLED, code="limit_requests", retry_after=value), Reply(text="ok"))
    outcome = run(core(emu, protocol, max_retries=1), request(), mode)
    assert (outcome.error, outcome.result.text, len(emu.requests)) == (None, "ok", 2)
    ((attempt, retry_after, delay),) = delays
    assert (attempt, retry_after) == (0, None)
    assert 0.25 <= delay <= 0.5  # the backoff, finite


@pytest.mark.parametrize("value", ["nan", "inf", "-1", "3600.5", "1e400", "0x10", "  7  ", "7", "0", "3600", b"2"])
def test_parse_retry_after(value) -> None:
    expected = {"  7  ": 7.0, "7": 7.0, "0": 0.0, "3600": 3600.0, b"2": 2.0}.get(value)
    assert retry_module.parse_retry_after(value) == expected


class Ticker:
    """A timer on the same event loop: it must keep firing every `period` while a call retries."""

    def __init__(self, period: float = 0.02) -> None:
        self.period = period
        self.ticks: list[float] = []

    async def run(self) -> None:
        while True:
            self.ticks.append(time.perf_counter())
            await asyncio.sleep(self.period)

    def largest_gap(self) -> float:
        return max(b - a for a, b in zip(self.ticks, self.ticks[1:], strict=False))


async def with_ticker(call: Any) -> tuple[Any, Ticker]:
    ticker = Ticker()
    task = asyncio.create_task(ticker.run())
    try:
        return await call, ticker
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


@PROTOCOLS
@pytest.mark.parametrize("via", ["core", "langchain", "llama_index"])
def test_the_event_loop_keeps_ticking_while_a_nan_retry_after_is_retried(emu, protocol, via) -> None:
    emu.enqueue(ErrorReply(429, THROTTLED, code="limit_requests", retry_after="nan"), Reply(text="ok"))
    options = where(emu, protocol, max_retries=1)

    async def call() -> str:
        if via == "core":
            client = QwenVLClient(**options)
            try:
                return (await client.achat(request())).text
            finally:
                await client.aclose()
        if via == "langchain":
            chat = ChatQwenVL(model="qvq-max", **options)
            try:
                return str((await chat.ainvoke([HumanMessage("hi")])).content)
            finally:
                await chat.aclose()
        llm = QwenVL(model="qvq-max", **options)
        try:
            return (await llm.achat([ChatMessage(role="user", content="hi")])).message.content or ""
        finally:
            await llm.aclose()

    start = time.perf_counter()
    text, ticker = asyncio.run(with_ticker(call()))
    seconds = time.perf_counter() - start
    assert (text, len(emu.requests)) == ("ok", 2)
    assert seconds >= 0.25  # the backoff was slept, not nan
    assert len(ticker.ticks) >= seconds / ticker.period / 3  # the other timer kept firing ...
    assert ticker.largest_gap() < 0.2  # ... with no stall of the loop


# -- 2. a body without line breaks -------------------------------------------------------------------


def too_long(limit: int) -> str:
    return (
        f"The stream sent a line longer than {limit:,} characters without a line break, so it is not server-sent "
        "events as the API sends them; reading stopped there. If the server really sends lines this long, raise "
        "`max_sse_line=`." + PARTIAL_NOTE
    )


@PROTOCOLS
@MODES
def test_an_endless_line_is_cut_at_the_limit_with_bounded_memory(emu, protocol, mode) -> None:
    emu.enqueue(Reply(reasoning=["ab", "cd", "ef"], fault=EndlessLine(30_000_000, after_chunks=3), request_id=RID))
    client = core(emu, protocol, max_retries=2, max_sse_line=65_536, coalesce_deltas=False)
    tracemalloc.start()
    try:
        outcome = run(client, request(), mode)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    error = outcome.error
    assert type(error) is IncompleteStreamError
    assert error.message == too_long(65_536)
    assert error.retryable is False
    delivered = "abcdef"[: 2 * (3 if protocol == "dashscope" else 2)]  # compat's first event is the role chunk
    assert error.partial.reasoning == delivered
    assert "".join(e.text for e in outcome.events if type(e) is ReasoningDelta) == delivered
    assert len(emu.requests) == 1
    assert peak < 2_000_000, f"peak {peak / 1e6:.2f} MB for a 30 MB line"


def test_the_default_line_limit_is_generous_and_bounded() -> None:
    from qwen_vl_core.settings import DEFAULT_MAX_SSE_LINE
    from qwen_vl_core.sse import LineSplitter

    splitter = LineSplitter(DEFAULT_MAX_SSE_LINE)
    piece = "x" * 65_536
    for _ in range(DEFAULT_MAX_SSE_LINE // len(piece)):
        assert splitter.feed(piece) == []
    with pytest.raises(IncompleteStreamError) as info:
        splitter.feed("y")
    assert info.value.retryable is False
    assert splitter.feed("a\nb\n") == ["a", "b"]  # the held line was dropped


@PROTOCOLS
@pytest.mark.parametrize("via", ["langchain", "llama_index"])
def test_the_adapters_raise_the_line_limit_error(emu, protocol, via) -> None:
    emu.enqueue(Reply(reasoning="ab", fault=EndlessLine(5_000_000, after_chunks=1)))
    error = adapter_call(via, emu, protocol, "sync", "qvq-max", max_sse_line=65_536, max_retries=0)
    assert isinstance(error, IncompleteStreamError)
    assert error.message == too_long(65_536)


# -- 4. a non-SSE HTTP 200 to a streamed call --------------------------------------------------------

PORTAL = (
    "The server answered a streamed call with 'text/html; charset=utf-8' instead of server-sent events "
    "(text/event-stream): '<!DOCTYPE html>\\n<html><head><title>Sign in to the network</title></head>\\n<body><h1>"
    "Authentication required</h1><p>Log in to continue browsing.</p></body></html>\\n'. A proxy or captive portal "
    "may be in the way; check the network and the base URL."
)


@PROTOCOLS
@MODES
@pytest.mark.parametrize("call", ["stream", "chat"])
def test_an_html_page_to_a_streamed_call_is_an_error_quoting_it(emu, protocol, mode, call, delays) -> None:
    emu.enqueue(HtmlPage(), Reply(text="must not be reached"))
    error = run(core(emu, protocol, max_retries=2), request(), mode, call).error
    assert type(error) is APIStatusError
    assert (error.status, error.message, error.retryable, error.partial) == (200, PORTAL, False, None)
    assert str(error) == "HTTP 200: " + PORTAL
    assert (len(emu.requests), delays) == (1, [])


@PROTOCOLS
@pytest.mark.parametrize("via", ["langchain", "llama_index"])
def test_the_adapters_report_the_html_page(emu, protocol, via) -> None:
    emu.enqueue(HtmlPage())
    error = adapter_call(via, emu, protocol, "async", "qvq-max", max_retries=2)
    assert isinstance(error, QwenVLError)  # LangChain's is its `ModelError` dual (no APIStatusError dual)
    assert (error.status, error.message, error.retryable) == (200, PORTAL, False)
    assert len(emu.requests) == 1


@PROTOCOLS
@MODES
@pytest.mark.parametrize("call", ["stream", "chat"])
def test_a_complete_json_answer_to_a_streamed_call_is_the_result(emu, protocol, mode, call, caplog) -> None:
    emu.enqueue(Reply(reasoning="think", text="whole", request_id=RID, fault=IgnoreStream()), Reply(text="next"))
    client = core(emu, protocol, max_retries=0)
    with caplog.at_level(logging.DEBUG, logger="qwen_vl_core"):
        outcome: Outcome = run(client, request(), mode, call)
    assert outcome.error is None
    result = outcome.result
    assert (result.reasoning, result.text, result.finish_reason, result.request_id) == ("think", "whole", "stop", RID)
    assert "A streamed call was answered with one JSON response (application/json" in caplog.text
    assert len(emu.requests) == 1


@PROTOCOLS
@pytest.mark.parametrize("via", ["langchain", "llama_index"])
def test_the_adapters_take_a_complete_json_answer(emu, protocol, via) -> None:
    emu.enqueue(Reply(reasoning="think", text="whole", fault=IgnoreStream()))
    assert adapter_call(via, emu, protocol, "sync", "qvq-max", max_retries=0) == "whole"


# -- 5. a server that echoes the key ------------------------------------------------------------------


def shows_key(text: str) -> bool:
    return CANARY in text or CANARY[3:-4] in text


@PROTOCOLS
@MODES
def test_an_echoed_key_is_redacted_from_the_error(protocol, mode, caplog) -> None:
    with DashScopeEmulator(api_key=CANARY) as emu:
        emu.enqueue(EchoAuthorization())
        client = QwenVLClient(**where(emu, protocol, max_retries=0))
        with caplog.at_level(logging.DEBUG):
            error = run(client, request(model="qwen3-vl-plus"), mode, "chat").error
    assert type(error) is AuthenticationError
    formatted = "".join(traceback.format_exception(error))
    for text in (str(error), repr(error), formatted, caplog.text):
        assert not shows_key(text), text
    assert "Bearer sk-…cdef" in str(error)  # what was echoed, shortened


@PROTOCOLS
@pytest.mark.parametrize("via", ["langchain", "llama_index"])
@MODES
def test_the_adapters_redact_an_echoed_key(protocol, via, mode) -> None:
    with DashScopeEmulator(api_key=CANARY) as emu:
        emu.enqueue(EchoAuthorization())
        error = adapter_call(via, emu, protocol, mode, "qvq-max", max_retries=0)
    assert isinstance(error, AuthenticationError)
    formatted = "".join(traceback.format_exception(error))
    assert not shows_key(str(error) + repr(error) + formatted)
    assert "sk-…cdef" in str(error)


def test_a_key_echoed_into_the_streamed_text_is_redacted_from_partial() -> None:
    from qwen_vl_core.accumulator import ChatResult
    from qwen_vl_core.errors import redact_error

    error = IncompleteStreamError(f"cut: {CANARY}")
    error.partial = ChatResult(reasoning=f"key={CANARY}", text=f"Bearer {CANARY}")
    redact_error(error, (CANARY,))
    assert (error.message, error.args) == ("cut: sk-…cdef", ("cut: sk-…cdef",))
    assert (error.partial.reasoning, error.partial.text) == ("key=sk-…cdef", "Bearer sk-…cdef")


# -- 6. no response headers ----------------------------------------------------------------------------

NO_HEADERS = (
    "The server sent no response headers within 0.3 s (the header timeout of a streamed call, `header_timeout=`); "
    "such a request is sent again at most once. Retry later, or raise `header_timeout=`."
)


@PROTOCOLS
@MODES
def test_a_server_that_sends_no_headers_gets_the_request_at_most_twice(emu, protocol, mode, delays) -> None:
    emu.enqueue(*[Reply(text="late", fault=NoHeaders(2.0))] * 3, Reply(text="never"))
    outcome = run(core(emu, protocol, header_timeout=0.3, max_retries=5), request(), mode)
    error = outcome.error
    assert type(error) is HeaderTimeoutError
    assert (str(error), error.retryable, error.partial) == (NO_HEADERS, True, None)
    assert len(emu.requests) == 2  # sent again once, not max_retries times
    assert len(delays) == 1
    assert outcome.seconds < 1.5  # two header timeouts, not the read timeout


@PROTOCOLS
@MODES
def test_the_body_gets_the_read_timeout_not_the_header_timeout(emu, protocol, mode) -> None:
    emu.enqueue(Reply(reasoning=["a", "b"], text="c", delay=0.5))  # 0.5 s before each event, headers at once
    outcome = run(core(emu, protocol, header_timeout=0.3, timeout=5, max_retries=0), request(), mode)
    assert outcome.error is None
    assert (outcome.result.reasoning, outcome.result.text) == ("ab", "c")


@PROTOCOLS
@pytest.mark.parametrize("via", ["langchain", "llama_index"])
def test_the_adapters_apply_the_header_timeout(emu, protocol, via) -> None:
    emu.enqueue(*[Reply(text="late", fault=NoHeaders(2.0))] * 2)
    error = adapter_call(via, emu, protocol, "async", "qvq-max", header_timeout=0.3, max_retries=2)
    assert isinstance(error, APITimeoutError)  # LangChain's dual is its APITimeoutError one
    assert str(error) == NO_HEADERS
    assert len(emu.requests) == 2


# -- 7. tool-call fragments without an index ------------------------------------------------------------

WEATHER = ToolCallReply("get_weather", ['{"city": ', '"Paris"}'], id="call_a", omit_index=True)
TIME = ToolCallReply("get_time", ["{", "}"], id="call_b", omit_index=True)


@MODES
@pytest.mark.parametrize("call", ["stream", "chat"])
@pytest.mark.parametrize("flavour", ["dashscope", "vllm"])
def test_tool_calls_without_index_are_kept_apart_by_id(mode, call, flavour) -> None:
    with DashScopeEmulator(flavour=flavour) as emu:
        emu.enqueue(Reply(tool_calls=[WEATHER, TIME], chunk_size=4))
        client = QwenVLClient(base_url=emu.base_url, api_key=emu.api_key, max_retries=0)
        outcome = run(client, request(model="qwen3-vl-plus"), mode, call)
    assert outcome.error is None
    calls = [(c.index, c.id, c.name, c.arguments, c.args) for c in outcome.result.tool_calls]
    assert calls == [
        (0, "call_a", "get_weather", '{"city": "Paris"}', {"city": "Paris"}),
        (1, "call_b", "get_time", "{}", {}),
    ]


def test_fragments_with_neither_index_nor_id_continue_the_last_call() -> None:
    from qwen_vl_core.events import ToolCallDelta
    from qwen_vl_core.parse_common import ToolIndexes, tool_call_deltas

    indexes, out = ToolIndexes(), []
    tool_call_deltas([{"id": "a", "function": {"name": "f", "arguments": "{"}}], out, indexes)
    tool_call_deltas([{"function": {"arguments": "}"}}], out, indexes)
    tool_call_deltas([{"id": "b", "function": {"name": "g", "arguments": ""}}], out, indexes)
    tool_call_deltas([{"id": "a", "function": {"arguments": ""}}], out, indexes)
    tool_call_deltas(
        [{"index": 5, "id": "c", "function": {"name": "h"}}, {"function": {"arguments": "x"}}], out, indexes
    )
    assert [(d.index, d.id, d.arguments) for d in out if isinstance(d, ToolCallDelta)] == [
        (0, "a", "{"),
        (0, None, "}"),
        (1, "b", ""),
        (0, "a", ""),
        (5, "c", ""),
        (5, None, "x"),
    ]


@pytest.mark.parametrize("via", ["langchain", "llama_index"])
def test_the_adapters_keep_index_less_tool_calls_apart(via) -> None:
    with DashScopeEmulator() as emu:
        emu.enqueue(Reply(tool_calls=[WEATHER, TIME]))
        if via == "langchain":
            chat = ChatQwenVL(model="qwen3-vl-plus", base_url=emu.base_url, api_key=emu.api_key, max_retries=0)
            try:
                message = chat.invoke([HumanMessage("hi")])
            finally:
                chat.close()
            calls = [(c["id"], c["name"], c["args"]) for c in message.tool_calls]
        else:
            llm = QwenVL(model="qwen3-vl-plus", base_url=emu.base_url, api_key=emu.api_key, max_retries=0)
            try:
                response = llm.chat([ChatMessage(role="user", content="hi")])
            finally:
                llm.close()
            calls = [(s.tool_id, s.tool_name, s.tool_kwargs) for s in llm.get_tool_calls_from_response(response)]
    assert calls == [("call_a", "get_weather", {"city": "Paris"}), ("call_b", "get_time", {})]


# -- 8. asyncio.run again and again --------------------------------------------------------------------


@PROTOCOLS
@pytest.mark.parametrize("via", ["core", "langchain", "llama_index"])
def test_repeated_asyncio_run_leaves_no_client_of_a_dead_loop(emu, protocol, via, caplog) -> None:
    options = where(emu, protocol, max_retries=0)
    core_client = QwenVLClient(**options)
    chat = ChatQwenVL(model="qwen3-vl-plus", **options)
    llm = QwenVL(model="qwen3-vl-plus", **options)

    async def once() -> str:  # no aclose(): the end of the loop must take care of it
        if via == "core":
            return (await core_client.achat(request(model="qwen3-vl-plus"))).text
        if via == "langchain":
            return str((await chat.ainvoke([HumanMessage("hi")])).content)
        return (await llm.achat([ChatMessage(role="user", content="hi")])).message.content or ""

    def transport() -> Any:
        if via == "core":
            return core_client._transport
        owner = chat if via == "langchain" else llm
        return owner._clients.client._transport  # type: ignore[union-attr]

    with caplog.at_level(logging.DEBUG, logger="asyncio"):
        for _ in range(3):
            assert asyncio.run(once()) == "Hello from the DashScope emulator."
            assert len(transport()._async._by_loop) == 0  # closed with its loop
            gc.collect()
        asyncio.run(asyncio.sleep(0))  # a later loop: nothing of the old ones is scheduled on it
        gc.collect()
    assert "Task exception was never retrieved" not in caplog.text
    assert "Event loop is closed" not in caplog.text
    assert [r.connection for r in emu.requests] == [1, 2, 3]  # one connection per loop, each closed with it


# -- the settings --------------------------------------------------------------------------------------


HEADER = "header_timeout must be a positive number of seconds or None (no limit); got {}."
LINE = "max_sse_line must be a whole number of characters >= 1024; got {}."


@pytest.mark.parametrize(
    ("setting", "value", "core", "adapter"),
    [  # the adapters' fields are typed: pydantic hands the core 0.0 for 0, and 1 for True
        ("header_timeout", 0, HEADER.format(0), HEADER.format(0.0)),
        ("header_timeout", float("nan"), HEADER.format("nan"), HEADER.format("nan")),
        ("max_sse_line", 100, LINE.format(100), LINE.format(100)),
        ("max_sse_line", True, LINE.format(True), LINE.format(1)),
    ],
)
def test_bad_transport_settings_fail_at_construction(setting, value, core, adapter) -> None:
    from qwen_vl_core.settings import ClientOptions

    with pytest.raises(ValueError, match="must be") as info:
        ClientOptions(**{setting: value})
    assert str(info.value) == core
    for cls in (ChatQwenVL, QwenVL):
        with pytest.raises(ValueError, match="must be") as raised:
            cls(**{setting: value})
        assert str(raised.value) == adapter


def test_a_json_error_body_to_a_streamed_call_is_that_error() -> None:
    from qwen_vl_core.transport import non_sse_answer

    body = b'{"error": {"message": "Requests rate limit exceeded.", "code": "limit_requests"}, "request_id": "r1"}'
    headers = {"content-type": "application/json", "retry-after": "3"}
    with pytest.raises(RateLimitError) as compat:
        non_sse_answer(200, body, True, headers)
    assert (str(compat.value), compat.value.retry_after, compat.value.retryable) == (
        "limit_requests: Requests rate limit exceeded. Slow down or raise the quota; the call can be retried after "
        "a pause. (request id r1)",
        3.0,
        True,
    )
    native = b'{"code": "InvalidParameter", "message": "url error", "request_id": "r2"}'
    with pytest.raises(QwenVLError) as bad:
        non_sse_answer(200, native, True, {"content-type": "application/json"})
    assert (type(bad.value).__name__, str(bad.value)) == (
        "InvalidRequestError",
        "InvalidParameter: url error (request id r2)",
    )
    with pytest.raises(APIStatusError) as cut:  # JSON cut at the read bound is "anything else"
        non_sse_answer(200, b'{"choices": [', False, {"content-type": "application/json"})
    assert str(cut.value).startswith("HTTP 200: The server answered a streamed call with 'application/json' instead")
