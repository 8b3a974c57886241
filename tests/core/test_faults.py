"""Fault injection against the emulator: every fault, both protocols, sync and async, exact outcomes.

Each case runs through `run()`, which drives one call (`stream`, or `chat` where the fault hits a
non-streaming call) with the sync or the async client and returns what the caller saw: the events
delivered, the result, or the library error. Retry delays are spied on (and skipped) where the
test is about the number of attempts, and really slept where it is about honouring `Retry-After`.
"""

from __future__ import annotations

import asyncio
import json
import re
import resource
import socket
import sys
import threading
import time
import tracemalloc
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

import pytest

from qwen_vl_core import (
    APIConnectionError,
    APITimeoutError,
    AuthenticationError,
    ChatRequest,
    ChatResult,
    ContextOverflowError,
    IncompleteStreamError,
    InvalidRequestError,
    Message,
    NotFoundError,
    PermissionDeniedError,
    QwenVLClient,
    QwenVLError,
    RateLimitError,
    ReasoningDelta,
    ServerError,
    StreamAccumulator,
    StreamEnd,
    StreamError,
    TextPart,
)
from qwen_vl_core import retry as retry_module
from qwen_vl_core.errors import error_from_body
from qwen_vl_core.events import StreamEvent
from qwen_vl_core.testing import (
    DashScopeEmulator,
    Disconnect,
    ErrorFrame,
    ErrorReply,
    MalformedLine,
    NoDone,
    NoFinish,
    Reply,
    ResetBeforeHeaders,
)

Mode = Literal["sync", "async"]
Call = Literal["stream", "chat"]

RID = "0f9d8c7b-6a5e-4d3c-2b1a-0123456789ab"
MODEL = "qvq-max"  # thinking-only and streaming-only: `chat` streams on the wire too
PROTOCOLS = pytest.mark.parametrize("protocol", ["openai", "dashscope"])
MODES = pytest.mark.parametrize("mode", ["sync", "async"])
CALLS = pytest.mark.parametrize("call", ["stream", "chat"])
PARTIAL_NOTE = (
    " What arrived is in the error's `partial`; a response that has started is never retried "
    "automatically, so retry the call to get a complete answer."
)


def request(prompt: str = "hi", model: str = MODEL) -> ChatRequest:
    return ChatRequest(model=model, messages=(Message("user", (TextPart(prompt),)),))


@pytest.fixture
def emu() -> Iterator[DashScopeEmulator]:
    with DashScopeEmulator() as emulator:
        yield emulator


def client_for(emu: DashScopeEmulator, protocol: str, **options: Any) -> QwenVLClient:
    url = emu.base_url if protocol == "openai" else emu.native_base_url
    return QwenVLClient(protocol=protocol, base_url=url, api_key=emu.api_key, **options)  # type: ignore[arg-type]


@dataclass
class Outcome:
    events: list[StreamEvent]
    """Every event the caller received (a `chat` call receives none)."""
    result: ChatResult | None
    error: QwenVLError | None
    seconds: float


def run(client: QwenVLClient, req: ChatRequest, mode: Mode, call: Call = "stream") -> Outcome:
    """One call with the sync or the async API; the client is closed afterwards."""
    if mode == "sync":
        return _run_sync(client, req, call)
    return asyncio.run(_run_async(client, req, call))


def _run_sync(client: QwenVLClient, req: ChatRequest, call: Call) -> Outcome:
    events: list[StreamEvent] = []
    result = error = None
    start = time.perf_counter()
    try:
        if call == "chat":
            result = client.chat(req)
        else:
            acc = StreamAccumulator()
            for event in client.stream(req):
                events.append(event)
                acc.add(event)
            result = acc.result()
    except QwenVLError as exc:
        error = exc
    finally:
        client.close()
    return Outcome(events, result, error, time.perf_counter() - start)


async def _run_async(client: QwenVLClient, req: ChatRequest, call: Call) -> Outcome:
    events: list[StreamEvent] = []
    result = error = None
    start = time.perf_counter()
    try:
        if call == "chat":
            result = await client.achat(req)
        else:
            acc = StreamAccumulator()
            async for event in client.astream(req):
                events.append(event)
                acc.add(event)
            result = acc.result()
    except QwenVLError as exc:
        error = exc
    finally:
        await client.aclose()
    return Outcome(events, result, error, time.perf_counter() - start)


@pytest.fixture
def delays(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, float | None, float]]:
    """Spy on the retry policy: record (attempt, Retry-After, computed delay) and do not sleep."""
    recorded: list[tuple[int, float | None, float]] = []
    real = retry_module.retry_delay

    def spy(attempt: int, retry_after: float | None) -> float:
        recorded.append((attempt, retry_after, real(attempt, retry_after)))
        return 0.0

    monkeypatch.setattr(retry_module, "retry_delay", spy)
    return recorded


def ids(protocol: str, request_id: str | None = RID, *, started: bool = True) -> dict[str, str | None]:
    """The identity fields of a partial result: compat knows them from the first chunk, native from the headers."""
    if protocol == "openai":
        if not started:
            return {"model": None, "response_id": None, "request_id": request_id}
        return {"model": MODEL, "response_id": f"chatcmpl-{request_id}", "request_id": request_id}
    return {"model": MODEL, "response_id": request_id, "request_id": request_id}


def partial(protocol: str, reasoning: str = "", text: str = "", *, started: bool = True) -> ChatResult:
    return ChatResult(reasoning, text, (), None, None, **ids(protocol, started=started))


# The compat stream's first data event is the role chunk, so `after_chunks=3` cuts after two reasoning
# pieces there and after three natively (each native event carries a piece).
CUT = {"openai": "abcd", "dashscope": "abcdef"}
CUT_EVENTS = {"openai": ["ab", "cd"], "dashscope": ["ab", "cd", "ef"]}


# -- 429 -----------------------------------------------------------------------------------------

THROTTLED = "Requests rate limit exceeded, please try again later."
THROTTLED_HINT = f"{THROTTLED} Slow down or raise the quota; the call can be retried after a pause."


@PROTOCOLS
@MODES
def test_429_with_retry_after_is_retried_after_that_delay(emu, protocol, mode) -> None:
    emu.enqueue(
        ErrorReply(429, THROTTLED, code="limit_requests", type="limit_requests", retry_after=0.3),
        Reply(reasoning="think", text="ok", request_id=RID),
    )
    outcome = run(client_for(emu, protocol, max_retries=1), request(), mode)
    assert outcome.error is None
    assert (outcome.result.reasoning, outcome.result.text, outcome.result.request_id) == ("think", "ok", RID)
    assert outcome.seconds >= 0.3  # the Retry-After delay was slept
    assert len(emu.requests) == 2
    assert emu.requests[0].body == emu.requests[1].body


@PROTOCOLS
@MODES
def test_429_without_retry_after_backs_off(emu, protocol, mode) -> None:
    emu.enqueue(ErrorReply(429, THROTTLED, code="limit_requests", type="limit_requests"), Reply(text="ok"))
    outcome = run(client_for(emu, protocol, max_retries=1), request(), mode)
    assert (outcome.error, outcome.result.text) == (None, "ok")
    assert outcome.seconds >= 0.25  # the first backoff is 0.5 s with jitter down to half
    assert len(emu.requests) == 2


@PROTOCOLS
@MODES
@pytest.mark.parametrize("retry_after", [0.3, None])
def test_429_without_retries_is_a_rate_limit_error(emu, protocol, mode, retry_after) -> None:
    emu.enqueue(
        ErrorReply(
            429, THROTTLED, code="limit_requests", type="limit_requests", retry_after=retry_after, request_id=RID
        )
    )
    error = run(client_for(emu, protocol, max_retries=0), request(), mode).error
    code = "limit_requests" if protocol == "openai" else "Throttling.RateQuota"
    assert type(error) is RateLimitError
    assert (error.status, error.code, error.request_id, error.retryable, error.retry_after) == (
        429,
        code,
        RID,
        True,
        retry_after,
    )
    assert str(error) == f"HTTP 429 {code}: {THROTTLED_HINT} (request id {RID})"
    assert error.partial is None
    assert len(emu.requests) == 1


@PROTOCOLS
@MODES
def test_429_for_a_used_up_quota_is_not_retried(emu, protocol, mode, delays) -> None:
    emu.enqueue(
        ErrorReply(429, "Allocated quota exceeded, please increase your quota limit.", code="insufficient_quota")
    )
    error = run(client_for(emu, protocol, max_retries=2), request(), mode).error
    assert type(error) is RateLimitError
    assert (error.code, error.retryable) == (
        "insufficient_quota" if protocol == "openai" else "Throttling.AllocationQuota",
        False,
    )
    assert error.message == (
        "Allocated quota exceeded, please increase your quota limit. The quota is used up; raise it in the "
        "Model Studio console (retrying will not help)."
    )
    assert (len(emu.requests), delays) == (1, [])


# -- 5xx and connection errors before the response starts --------------------------------------

UNAVAILABLE = "Model is unavailable, please try again later."


@PROTOCOLS
@MODES
def test_a_burst_of_503s_then_success(emu, protocol, mode, delays) -> None:
    burst = [ErrorReply(503, UNAVAILABLE, code="ModelUnavailable", type="ModelUnavailable")] * 3
    emu.enqueue(*burst, Reply(reasoning="r", text="recovered", request_id=RID))
    outcome = run(client_for(emu, protocol, max_retries=3), request(), mode)
    assert outcome.error is None
    assert (outcome.result.reasoning, outcome.result.text, outcome.result.finish_reason) == ("r", "recovered", "stop")
    assert len(emu.requests) == 4  # exactly N + 1
    assert [(attempt, after) for attempt, after, _ in delays] == [(0, None), (1, None), (2, None)]
    # Exponential backoff with jitter: attempt n waits between half and all of 0.5 * 2**n seconds.
    for attempt, _, delay in delays:
        assert 0.25 * 2**attempt <= delay <= 0.5 * 2**attempt


@PROTOCOLS
@MODES
def test_a_burst_longer_than_max_retries_raises_the_last_error(emu, protocol, mode, delays) -> None:
    emu.enqueue(*[ErrorReply(503, UNAVAILABLE, code="ModelUnavailable", request_id=RID)] * 3, Reply(text="late"))
    error = run(client_for(emu, protocol, max_retries=2), request(), mode).error
    assert type(error) is ServerError
    assert str(error) == f"HTTP 503 ModelUnavailable: {UNAVAILABLE} (request id {RID})"
    assert (len(emu.requests), len(delays), emu.pending) == (3, 2, 1)


@PROTOCOLS
@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_each_retryable_status_is_retried(emu, protocol, status, delays) -> None:
    emu.enqueue(ErrorReply(status, "An internal error has occured, please try again later.", code="InternalError"))
    emu.enqueue(Reply(text="ok"))
    outcome = run(client_for(emu, protocol, max_retries=1), request(), "sync")
    assert (outcome.error, outcome.result.text, len(emu.requests), len(delays)) == (None, "ok", 2, 1)


@PROTOCOLS
@MODES
def test_connection_reset_before_headers_is_retried(emu, protocol, mode, delays) -> None:
    emu.enqueue(Reply(fault=ResetBeforeHeaders()), Reply(text="ok"))
    outcome = run(client_for(emu, protocol, max_retries=1), request(), mode)
    assert (outcome.error, outcome.result.text) == (None, "ok")
    assert len(emu.requests) == 2
    assert [(attempt, after) for attempt, after, _ in delays] == [(0, None)]


@PROTOCOLS
@MODES
def test_connection_reset_before_headers_without_retries(emu, protocol, mode) -> None:
    emu.enqueue(Reply(fault=ResetBeforeHeaders()))
    error = run(client_for(emu, protocol, max_retries=0), request(), mode).error
    assert type(error) is APIConnectionError
    assert re.fullmatch(
        r"Could not reach the API \(\[Errno \d+\] Connection reset by peer\)\. Check the network, proxy and "
        r"base URL; the call can be retried\.",
        str(error),
    ), str(error)
    assert (error.status, error.retryable, error.partial) == (None, True, None)
    assert len(emu.requests) == 1


@PROTOCOLS
@MODES
def test_a_non_streaming_body_cut_short_is_retried(emu, protocol, mode, delays) -> None:
    # Thinking off: one JSON body, read whole before anything reaches the caller, so a retry is safe.
    emu.enqueue(Reply(text="cut short", fault=Disconnect(0)), Reply(text="whole"))
    outcome = run(client_for(emu, protocol, max_retries=1), request(model="qwen3-vl-plus"), mode, "chat")
    assert (outcome.error, outcome.result.text, len(emu.requests), len(delays)) == (None, "whole", 2, 1)


@PROTOCOLS
@MODES
def test_a_non_streaming_body_cut_short_without_retries(emu, protocol, mode) -> None:
    emu.enqueue(Reply(text="cut short", fault=Disconnect(0)))
    error = run(client_for(emu, protocol, max_retries=0), request(model="qwen3-vl-plus"), mode, "chat").error
    assert type(error) is APIConnectionError
    assert re.fullmatch(
        r"Could not reach the API \(peer closed connection without sending complete message body \(received \d+ "
        r"bytes, expected \d+\)\)\. Check the network, proxy and base URL; the call can be retried\.",
        str(error),
    ), str(error)
    assert len(emu.requests) == 1


# -- 4xx other than 429: never retried ------------------------------------------------------------

FOUR_XX = [
    pytest.param(
        ErrorReply(400, "<400> InternalError.Algo.InvalidParameter: Range of max_tokens should be [1, 32768]"),
        InvalidRequestError,
        {"openai": "invalid_parameter_error", "dashscope": "InvalidParameter"},
        "<400> InternalError.Algo.InvalidParameter: Range of max_tokens should be [1, 32768]",
        id="400",
    ),
    pytest.param(
        ErrorReply(401, "Incorrect API key provided. ", code="invalid_api_key"),
        AuthenticationError,
        {"openai": "invalid_api_key", "dashscope": "InvalidApiKey"},
        "Incorrect API key provided.  Check DASHSCOPE_API_KEY; keys are region-specific (a Beijing key fails "
        "in Singapore or Virginia), so the region or base URL must match the key.",
        id="401",
    ),
    pytest.param(
        ErrorReply(
            403,
            "Access to model denied. Please make sure you are eligible for using the model.",
            code="Model.AccessDenied",
        ),
        PermissionDeniedError,
        {"openai": "Model.AccessDenied", "dashscope": "Model.AccessDenied"},
        "Access to model denied. Please make sure you are eligible for using the model. The account cannot "
        "use this model: check billing and model access in Model Studio.",
        id="403",
    ),
    pytest.param(
        ErrorReply(404, "The model does not exist or you do not have access to it.", code="model_not_found"),
        NotFoundError,
        {"openai": "model_not_found", "dashscope": "ModelNotFound"},
        "The model does not exist or you do not have access to it. The model name is wrong or not offered "
        "in this region; `qwen-vl models` lists the names.",
        id="404",
    ),
]


@PROTOCOLS
@MODES
@pytest.mark.parametrize(("script", "cls", "codes", "message"), FOUR_XX)
def test_other_4xx_are_never_retried(emu, protocol, mode, script, cls, codes, message, delays) -> None:
    emu.enqueue(script, Reply(text="must not be reached"))
    error = run(client_for(emu, protocol, max_retries=2), request(), mode).error
    assert type(error) is cls
    assert (error.status, error.code, error.message, error.retryable) == (
        script.status,
        codes[protocol],
        message,
        False,
    )
    assert error.__cause__ is not error  # an error of ours is re-raised as is, not made its own cause
    assert (len(emu.requests), delays, emu.pending) == (1, [], 1)


# -- every error says what happened and what to do -----------------------------------------------


def compat_body(message: str, code: str, param: str | None = None) -> str:
    error = {"code": code, "param": param, "message": message, "type": code}
    return json.dumps({"error": error, "request_id": "r"})


MESSAGES = [
    pytest.param(
        401,
        compat_body("Incorrect API key provided. ", "invalid_api_key"),
        AuthenticationError,
        "Incorrect API key provided.  Check DASHSCOPE_API_KEY; keys are region-specific (a Beijing key fails in "
        "Singapore or Virginia), so the region or base URL must match the key.",
        id="wrong-region-key",
    ),
    pytest.param(
        429,
        '{"code":"Throttling.AllocationQuota","message":"Allocated quota exceeded, please increase your quota limit."}',
        RateLimitError,
        "Allocated quota exceeded, please increase your quota limit. The quota is used up; raise it in the Model "
        "Studio console (retrying will not help).",
        id="quota",
    ),
    pytest.param(
        429,
        '{"code":"PrepaidBillOverdue","message":"The prepaid bill is overdue."}',
        RateLimitError,
        "The prepaid bill is overdue. The account has an overdue bill or has not bought this model; settle it in "
        "the Alibaba Cloud billing console (retrying will not help).",
        id="billing",
    ),
    pytest.param(
        400,
        compat_body("Input data may contain inappropriate content.", "data_inspection_failed"),
        InvalidRequestError,
        "Input data may contain inappropriate content. Model Studio's content inspection refused the input or "
        "output; rephrase or change the image (the same request gets the same answer).",
        id="content-inspection",
    ),
    pytest.param(
        400,
        'data: {"error":{"code":"invalid_parameter_error","param":null,"message":"<400> InternalError.Algo.'
        'InvalidParameter: Range of input length should be [1, 129024]","type":"invalid_request_error"}}\n\n',
        ContextOverflowError,
        "<400> InternalError.Algo.InvalidParameter: Range of input length should be [1, 129024]. The prompt (text "
        "plus image and video tokens) is larger than the model's maximum input; send fewer or smaller images.",
        id="context-overflow",
    ),
    pytest.param(
        400,
        compat_body(
            "<400> InternalError.Algo.InvalidParameter: Range of max_tokens should be [1, 8192]",
            "invalid_parameter_error",
        ),
        InvalidRequestError,
        "<400> InternalError.Algo.InvalidParameter: Range of max_tokens should be [1, 8192]",
        id="bad-parameter-named-in-message",
    ),
    pytest.param(
        400,
        compat_body("Invalid value: must be between 0 and 2.", "invalid_parameter_error", param="temperature"),
        InvalidRequestError,
        "Invalid value: must be between 0 and 2. (parameter `temperature`)",
        id="bad-parameter-named-by-param",
    ),
    pytest.param(
        403,
        '{"code":"Arrearage","message":"Access denied, please make sure your account is in good standing."}',
        PermissionDeniedError,
        "Access denied, please make sure your account is in good standing. The account cannot use this model: "
        "check billing and model access in Model Studio.",
        id="arrears",
    ),
    pytest.param(
        404,
        compat_body("The model `qwen3-vl-max` does not exist or you do not have access to it.", "model_not_found"),
        NotFoundError,
        "The model `qwen3-vl-max` does not exist or you do not have access to it. The model name is wrong or not "
        "offered in this region; `qwen-vl models` lists the names.",
        id="unknown-model",
    ),
]


@pytest.mark.parametrize(("status", "body", "cls", "message"), MESSAGES)
def test_error_messages_say_what_happened_and_what_to_do(status, body, cls, message) -> None:
    error = error_from_body(status, body)
    assert type(error) is cls
    assert error.message == message


@PROTOCOLS
def test_a_context_overflow_from_the_api(emu, protocol) -> None:
    too_long = "<400> InternalError.Algo.InvalidParameter: Range of input length should be [1, 129024]"
    emu.enqueue(ErrorReply(400, too_long, request_id=RID))
    error = run(client_for(emu, protocol, max_retries=2), request(), "sync").error
    assert type(error) is ContextOverflowError
    assert str(error) == (
        f"HTTP 400 {'invalid_parameter_error' if protocol == 'openai' else 'InvalidParameter'}: {too_long}. The "
        "prompt (text plus image and video tokens) is larger than the model's maximum input; send fewer or "
        f"smaller images. (request id {RID})"
    )
    assert len(emu.requests) == 1


# -- faults after the response started: raised with the partial result, never retried ------------


@PROTOCOLS
@MODES
@CALLS
def test_disconnect_mid_stream(emu, protocol, mode, call) -> None:
    emu.enqueue(Reply(reasoning="abcdefgh", text="xyz", chunk_size=2, fault=Disconnect(3), request_id=RID))
    outcome = run(client_for(emu, protocol, max_retries=2, coalesce_deltas=False), request(), mode, call)
    error = outcome.error
    assert type(error) is IncompleteStreamError
    assert error.message == (
        "The connection broke in the middle of the stream: peer closed connection without sending complete "
        "message body (incomplete chunked read)." + PARTIAL_NOTE
    )
    assert (error.request_id, error.retryable) == (RID, True)
    assert error.partial == partial(protocol, CUT[protocol])
    if call == "stream":
        assert outcome.events == [ReasoningDelta(piece) for piece in CUT_EVENTS[protocol]]
    assert len(emu.requests) == 1  # output had started: no silent retry


@PROTOCOLS
@MODES
@CALLS
def test_malformed_json_line(emu, protocol, mode, call) -> None:
    emu.enqueue(Reply(reasoning="abcdefgh", text="xyz", chunk_size=2, fault=MalformedLine(3), request_id=RID))
    outcome = run(client_for(emu, protocol, max_retries=2, coalesce_deltas=False), request(), mode, call)
    error = outcome.error
    assert type(error) is IncompleteStreamError
    assert error.message == """The stream carried a line that is not JSON: '{"choices": ['.""" + PARTIAL_NOTE
    assert error.request_id == RID
    assert error.partial == partial(protocol, CUT[protocol])
    if call == "stream":
        assert outcome.events == [ReasoningDelta(piece) for piece in CUT_EVENTS[protocol]]
    assert len(emu.requests) == 1


@PROTOCOLS
@MODES
@CALLS
def test_a_stream_without_done_is_complete(emu, protocol, mode, call) -> None:
    # The finish reason arrived; only compat's `[DONE]` is missing (native streams have none).
    emu.enqueue(Reply(reasoning="abcd", text="xy", chunk_size=2, fault=NoDone(), request_id=RID))
    outcome = run(client_for(emu, protocol), request(), mode, call)
    assert outcome.error is None
    assert (outcome.result.reasoning, outcome.result.text, outcome.result.finish_reason) == ("abcd", "xy", "stop")


@PROTOCOLS
@MODES
@CALLS
def test_a_stream_without_a_finish_reason_is_incomplete(emu, protocol, mode, call) -> None:
    emu.enqueue(Reply(reasoning="abcd", text="xy", chunk_size=2, fault=NoFinish(), request_id=RID))
    outcome = run(client_for(emu, protocol, max_retries=2), request(), mode, call)
    error = outcome.error
    assert type(error) is IncompleteStreamError
    assert error.message == (
        "The stream ended before the model finished (no finish_reason was received)." + PARTIAL_NOTE
    )
    assert error.partial == partial(protocol, "abcd", "xy")
    assert len(emu.requests) == 1


INSPECTION = (
    "Output data may contain inappropriate content. Model Studio's content inspection refused the input or "
    "output; rephrase or change the image (the same request gets the same answer)."
)


@PROTOCOLS
@MODES
@CALLS
def test_error_frame_mid_stream(emu, protocol, mode, call) -> None:
    fault = ErrorFrame(3, "Output data may contain inappropriate content.")
    emu.enqueue(Reply(reasoning="abcdefgh", text="xyz", chunk_size=2, fault=fault, request_id=RID))
    outcome = run(client_for(emu, protocol, max_retries=2, coalesce_deltas=False), request(), mode, call)
    error = outcome.error
    assert type(error) is StreamError
    status, code = (None, "data_inspection_failed") if protocol == "openai" else (400, "DataInspectionFailed")
    assert (error.status, error.code, error.message, error.request_id) == (status, code, INSPECTION, RID)
    assert error.partial == partial(protocol, CUT[protocol])
    if call == "stream":  # the events before the error frame were delivered
        assert outcome.events == [ReasoningDelta(piece) for piece in CUT_EVENTS[protocol]]
    assert len(emu.requests) == 1


# -- timeouts: between chunks, not for the whole stream -----------------------------------------


def stalled_message(seconds: float) -> str:
    return (
        f"The stream stalled: nothing arrived for longer than the read timeout ({seconds:g} s between chunks, "
        "set by `timeout=`)." + PARTIAL_NOTE
    )


@PROTOCOLS
@MODES
@CALLS
def test_gap_longer_than_the_read_timeout(emu, protocol, mode, call) -> None:
    emu.enqueue(Reply(reasoning="abcd", text="x", chunk_size=2, delay=1.0, request_id=RID))
    outcome = run(client_for(emu, protocol, timeout=0.2, max_retries=2), request(), mode, call)
    error = outcome.error
    assert type(error) is IncompleteStreamError
    assert error.message == stalled_message(0.2)
    assert error.request_id == RID
    # The headers came at once, then every event waits 1 s: nothing arrived before the stall.
    assert error.partial == partial(protocol, started=False)
    assert outcome.seconds >= 0.2
    assert (outcome.events, len(emu.requests)) == ([], 1)


@PROTOCOLS
@MODES
def test_no_answer_within_the_read_timeout_before_the_response(emu, protocol, mode) -> None:
    # A non-streaming call (thinking off): the emulator sleeps before the whole response.
    emu.enqueue(Reply(text="late", delay=1.0))
    outcome = run(client_for(emu, protocol, timeout=0.2, max_retries=0), request(model="qwen3-vl-plus"), mode, "chat")
    error = outcome.error
    assert type(error) is APITimeoutError
    assert str(error) == "The server did not answer within the read timeout (0.2 s). Retry later, or raise `timeout=`."
    assert (error.retryable, error.partial, len(emu.requests)) == (True, None, 1)
    assert outcome.seconds >= 0.2


@PROTOCOLS
@MODES
def test_a_read_timeout_before_the_response_is_retried(emu, protocol, mode, delays) -> None:
    emu.enqueue(Reply(text="late", delay=1.0), Reply(text="on time"))
    outcome = run(client_for(emu, protocol, timeout=0.2, max_retries=1), request(model="qwen3-vl-plus"), mode, "chat")
    assert (outcome.error, outcome.result.text, len(emu.requests)) == (None, "on time", 2)


@pytest.fixture
def unanswered_port() -> Iterator[int]:
    """A port whose accept queue is full: the kernel drops further SYNs, so connecting hangs."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    for _ in range(4):
        filler = socket.socket()
        filler.setblocking(False)
        filler.connect_ex(("127.0.0.1", port))
        fillers.append(filler)
    yield port
    for filler in fillers:
        filler.close()
    listener.close()


@pytest.mark.skipif(sys.platform != "linux", reason="relies on Linux dropping SYNs to a full accept queue")
@PROTOCOLS
@MODES
def test_connect_timeout(unanswered_port, protocol, mode) -> None:
    path = "/compatible-mode/v1" if protocol == "openai" else "/api/v1"
    client = QwenVLClient(
        protocol=protocol,  # type: ignore[arg-type]
        base_url=f"http://127.0.0.1:{unanswered_port}{path}",
        api_key="k",
        connect_timeout=0.3,
        timeout=30,
        max_retries=0,
    )
    outcome = run(client, request(), mode)
    error = outcome.error
    assert type(error) is APITimeoutError
    assert str(error) == (
        "Could not connect within the connect timeout (0.3 s). Check the network, proxy and base URL, or raise "
        "`connect_timeout=`."
    )
    assert 0.3 <= outcome.seconds < 30  # the connect timeout, not the read timeout, ended it


@PROTOCOLS
@MODES
def test_a_stream_longer_than_the_read_timeout_with_short_gaps_succeeds(emu, protocol, mode) -> None:
    # Every event waits 0.05 s, a tenth of the read timeout; 15+ events make the stream last over 0.75 s.
    emu.enqueue(Reply(reasoning=["r"] * 12, text="done", chunk_size=2, delay=0.05))
    outcome = run(client_for(emu, protocol, timeout=0.5), request(), mode)
    assert outcome.error is None
    assert (outcome.result.reasoning, outcome.result.text) == ("r" * 12, "done")
    assert outcome.seconds > 0.5  # longer than the timeout as a whole, so it is a between-chunks timeout


class StallingServer:
    """Serves one streaming response that sends a few events and then stalls (until the client leaves).

    The emulator's `delay` paces every event alike, so it cannot stall after some output; this
    raw server shows that a stall keeps what arrived before it.
    """

    def __init__(self, head: bytes, events: list[bytes]) -> None:
        self._payload = head + b"".join(b"%x\r\n%s\r\n" % (len(e), e) for e in events)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        self._listener.settimeout(10)
        try:
            conn, _ = self._listener.accept()
            with conn:
                data = b""
                while b"\r\n\r\n" not in data:
                    data += conn.recv(65536) or b"\r\n\r\n"  # a client that left ends the wait
                head, _, body = data.partition(b"\r\n\r\n")
                found = re.search(rb"content-length: *(\d+)", head, re.IGNORECASE)
                while found and len(body) < int(found.group(1)):
                    more = conn.recv(65536)
                    if not more:
                        return
                    body += more
                conn.sendall(self._payload)
                self._done.wait(10)
        except OSError:
            return  # the client gave up first: nothing to serve

    def close(self) -> None:
        self._done.set()
        self._thread.join(10)
        self._listener.close()


def stalling_server(protocol: str) -> StallingServer:
    if protocol == "openai":
        head = b"content-type: text/event-stream\r\n"
        events = [
            b'data: {"choices":[{"delta":{"reasoning_content":"%s"},"index":0}],'
            b'"model":"qvq-max","id":"chatcmpl-%s"}\n\n' % (piece, RID.encode())
            for piece in (b"ab", b"cd")
        ]
    else:
        head = b"content-type: text/event-stream;charset=UTF-8\r\n"
        events = [
            b'id:%d\nevent:result\n:HTTP_STATUS/200\ndata:{"output":{"choices":[{"message":{"content":[],'
            b'"reasoning_content":"%s","role":"assistant"},"finish_reason":"null"}]},"request_id":"%s"}\n\n'
            % (number, piece, RID.encode())
            for number, piece in ((1, b"ab"), (2, b"cd"))
        ]
    status = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\nx-request-id: " + RID.encode() + b"\r\n"
    return StallingServer(status + head + b"\r\n", events)


@PROTOCOLS
@MODES
def test_a_stall_after_some_output_keeps_it(protocol, mode) -> None:
    server = stalling_server(protocol)
    try:
        path = "/compatible-mode/v1" if protocol == "openai" else "/api/v1"
        client = QwenVLClient(
            protocol=protocol,  # type: ignore[arg-type]
            base_url=f"http://127.0.0.1:{server.port}{path}",
            api_key="k",
            timeout=0.3,
            max_retries=2,
            coalesce_deltas=False,  # the two events come in one write; this test is about each of them
        )
        outcome = run(client, request(), mode)
    finally:
        server.close()
    error = outcome.error
    assert type(error) is IncompleteStreamError
    assert error.message == stalled_message(0.3)
    assert error.partial == partial(protocol, "abcd")
    assert outcome.events == [ReasoningDelta("ab"), ReasoningDelta("cd")]


# -- volume -------------------------------------------------------------------------------------

CHUNKS = 200_000
TRACED = 25_000


@PROTOCOLS
@MODES
def test_200k_chunk_stream_keeps_memory_flat(emu, protocol, mode) -> None:
    """A 200,000-reasoning-chunk stream through `client.stream` / `astream`, events not kept.

    The client keeps only the text (for `partial`): 200,000 four-character pieces are 0.8 MB, held
    as ~200 joined blocks, not one string per chunk.

    Objects: `sys.getallocatedblocks()` (every live allocation, free to read) is sampled every
    10,000 events; keeping one object per chunk (an event, or each piece as its own ~60-byte
    string, as the accumulator did before) would add 200,000 live blocks. The bound is 2,000.

    Bytes: `tracemalloc` peak over the last 25,000 chunks (tracing all 200,000 would take 10-20 s:
    tracing makes each allocation several times slower). Those chunks carry 100 KB of text and
    7 MB of wire bytes; holding their events would take 2.5 MB, their pieces as strings 1.4 MB.
    Measured: 0.5-0.7 MB (the text, 64 KiB network reads, the emulator's write batches). The bound
    is 1.5 MB.
    """
    emu.enqueue(Reply(reasoning=["abcd"] * CHUNKS, text="done", request_id=RID))
    client = client_for(emu, protocol, max_retries=0, coalesce_deltas=False)  # one event per chunk: the worst case
    samples: list[int] = []
    count = 0
    last: StreamEvent | None = None

    def see(event: StreamEvent) -> None:
        nonlocal count, last
        count += 1
        last = event
        if count % 10_000 == 0:
            samples.append(sys.getallocatedblocks())
        if count == CHUNKS - TRACED:
            tracemalloc.start()

    try:
        if mode == "sync":
            try:
                for event in client.stream(request()):
                    see(event)
            finally:
                client.close()
        else:

            async def consume() -> None:
                try:
                    async for event in client.astream(request()):
                        see(event)
                finally:
                    await client.aclose()

            asyncio.run(consume())
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # 200,000 reasoning events, one text event, the usage update and the end.
    assert count == CHUNKS + 3
    assert last is not None
    assert type(last) is StreamEnd
    assert (last.finish_reason, last.request_id) == ("stop", RID)
    assert len(samples) == 20
    assert max(samples) - samples[0] < 2_000, samples
    assert peak < 1_500_000, f"peak {peak / 1e6:.2f} MB over the last {TRACED:,} chunks"


@pytest.fixture
def many_files() -> Iterator[None]:
    """500 streams hold ~1,000 sockets (both ends) in this process: lift a low soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 4096 if hard == resource.RLIM_INFINITY else min(4096, hard)
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    yield
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


STREAMS = 500


@PROTOCOLS
async def test_500_concurrent_async_streams_on_one_client(emu, protocol, many_files) -> None:
    replies = [
        Reply(reasoning=f"thinking {n}", text=f"reply {n:03d}", chunk_size=3, request_id=f"rid-{n:03d}")
        for n in range(STREAMS)
    ]
    emu.enqueue(*replies)
    client = client_for(emu, protocol, max_retries=0)

    async def one(prompt: str) -> tuple[list[StreamEvent], ChatResult]:
        events: list[StreamEvent] = []
        acc = StreamAccumulator()
        async for event in client.astream(request(prompt)):
            events.append(event)
            acc.add(event)
        return events, acc.result()

    prompts = [f"prompt-{n:03d}" for n in range(STREAMS)]
    try:
        outcomes = await asyncio.gather(*(one(prompt) for prompt in prompts))
    finally:
        await client.aclose()
    # The emulator pops replies in arrival order: the k-th recorded request got the k-th reply.
    recorded = emu.requests
    assert (len(recorded), emu.pending) == (STREAMS, 0)
    served = {}
    for reply, req in zip(replies, recorded, strict=True):
        (prompt,) = set(re.findall(rb"prompt-\d{3}", req.raw))
        served[prompt.decode()] = reply
    assert sorted(served) == prompts  # every request carried its own prompt, once
    for prompt, (events, result) in zip(prompts, outcomes, strict=True):
        reply = served[prompt]
        assert (result.reasoning, result.text, result.request_id) == (reply.reasoning, reply.text, reply.request_id)
        assert type(events[-1]) is StreamEnd
