"""`QwenVLClient(protocol="dashscope")` against the emulator's native route, and the key acceptance
check: the same scripted replies give the same `ChatResult` over both protocols (ids aside)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest

from qwen_vl_core import (
    AuthenticationError,
    ChatRequest,
    ImagePart,
    IncompleteStreamError,
    InvalidRequestError,
    Message,
    QwenVLClient,
    RateLimitError,
    ReasoningDelta,
    StreamEnd,
    StreamError,
    TextDelta,
    TextPart,
    ThinkingOptions,
    ToolCallDelta,
    ToolSpec,
    Usage,
    UsageUpdate,
)
from qwen_vl_core.accumulator import ChatResult, ParsedToolCall
from qwen_vl_core.events import StreamEvent
from qwen_vl_core.testing import (
    DashScopeEmulator,
    Disconnect,
    ErrorFrame,
    ErrorReply,
    MalformedLine,
    NoFinish,
    Reply,
    Script,
    ToolCallReply,
)

HI = (Message("user", (TextPart("hi"),)),)  # 2 characters: 1 prompt token
CAT = "https://example.com/cat.png"
PHOTO = (Message("user", (ImagePart(CAT), TextPart("Describe the picture."))),)  # 21 chars + 1 image: 266
TOOL = ToolSpec("get_weather", "Weather in a city.", {"type": "object", "properties": {"city": {"type": "string"}}})
CALLS = (
    ToolCallReply("get_weather", '{"city": "Hangzhou"}', id="call_a"),
    ToolCallReply("get_weather", ['{"city": ', '"Shanghai"}'], id="call_b"),
)
RID = "7671ecd8-93cc-9ee9-bc89-739f0fd8b809"
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
JSON_HEADERS = {"accept": "application/json"}
SSE_HEADERS = {"accept": "text/event-stream", "x-dashscope-sse": "enable", "x-accel-buffering": "no"}


def request(model: str = "qwen3-vl-plus", messages: tuple[Message, ...] = HI, **kw: Any) -> ChatRequest:
    return ChatRequest(model=model, messages=messages, **kw)


@pytest.fixture
def emu() -> Iterator[DashScopeEmulator]:
    with DashScopeEmulator() as emulator:
        yield emulator


def native_client(emu: DashScopeEmulator, **kw: Any) -> QwenVLClient:
    # One event per server event (no coalescing): these tests check the exact event sequence.
    options: dict[str, Any] = {"api_key": emu.api_key, "max_retries": 0, "coalesce_deltas": False, **kw}
    return QwenVLClient(protocol="dashscope", base_url=emu.native_base_url, **options)


@pytest.fixture
def client(emu: DashScopeEmulator) -> Iterator[QwenVLClient]:
    c = native_client(emu)
    yield c
    c.close()


def wire(emu: DashScopeEmulator) -> tuple[dict[str, Any], dict[str, str]]:
    """The last request's body and the protocol headers that matter."""
    last = emu.last_request
    names = ("accept", "x-dashscope-sse", "x-accel-buffering")
    return last.body, {k: v for k, v in last.headers.items() if k in names}


def body(model: str, messages: list[dict[str, Any]], **parameters: Any) -> dict[str, Any]:
    return {"model": model, "input": {"messages": messages}, "parameters": {"result_format": "message", **parameters}}


USER_HI = [{"role": "user", "content": [{"text": "hi"}]}]


# -- requests on the wire ------------------------------------------------------------------------


def test_chat_without_thinking_is_one_json_request(client, emu) -> None:
    emu.enqueue(Reply(text="plain answer", request_id=RID))
    result = client.chat(request())
    assert result == ChatResult(
        reasoning="",
        text="plain answer",
        usage=Usage(1, 2, 3, raw={"total_tokens": 3, "output_tokens": 2, "input_tokens": 1}),
        finish_reason="stop",
        model="qwen3-vl-plus",
        response_id=RID,
        request_id=RID,
    )
    assert wire(emu) == (body("qwen3-vl-plus", USER_HI), JSON_HEADERS)
    assert emu.last_request.path == "/api/v1/services/aigc/multimodal-generation/generation"


def test_thinking_chat_streams_with_incremental_output(client, emu) -> None:
    emu.enqueue(Reply(reasoning="hmm", text="ok", chunk_size=1))
    result = client.chat(request(thinking=ThinkingOptions(enable=True, budget=100)))
    assert (result.reasoning, result.text, result.finish_reason) == ("hmm", "ok", "stop")
    expected = body("qwen3-vl-plus", USER_HI, incremental_output=True, enable_thinking=True, thinking_budget=100)
    assert wire(emu) == (expected, SSE_HEADERS)
    assert "stream" not in emu.last_request.body


@pytest.mark.parametrize("model", ["qwen3-vl-8b-thinking", "qvq-max"])
def test_thinking_only_and_qvq_chat_stream_and_aggregate(client, emu, model) -> None:
    emu.enqueue(Reply(reasoning="Area is w*h.", text="12 cm²", chunk_size=3, request_id=RID))
    result = client.chat(request(model))
    raw = {"total_tokens": 7, "output_tokens": 6, "input_tokens": 1, "output_tokens_details": {"reasoning_tokens": 4}}
    assert result == ChatResult("Area is w*h.", "12 cm²", (), Usage(1, 6, 7, 4, raw=raw), "stop", model, RID, RID)
    assert wire(emu) == (body(model, USER_HI, incremental_output=True), SSE_HEADERS)


def test_stream_event_sequence(client, emu) -> None:
    emu.enqueue(Reply(reasoning=["a", "b"], text=["c"], request_id=RID))
    events = list(client.stream(request(thinking=ThinkingOptions(enable=False))))
    raw = {"total_tokens": 4, "output_tokens": 3, "input_tokens": 1, "output_tokens_details": {"reasoning_tokens": 2}}
    assert events == [
        ReasoningDelta("a"),
        ReasoningDelta("b"),
        TextDelta("c"),
        UsageUpdate(Usage(1, 3, 4, 2, raw=raw)),
        StreamEnd("stop", "qwen3-vl-plus", RID, RID),
    ]
    assert wire(emu) == (body("qwen3-vl-plus", USER_HI, incremental_output=True, enable_thinking=False), SSE_HEADERS)


def test_parallel_tool_calls(client, emu) -> None:
    emu.enqueue(Reply(tool_calls=CALLS, chunk_size=8), Reply(tool_calls=CALLS, chunk_size=8))
    events = list(client.stream(request(tools=(TOOL,), parallel_tool_calls=True)))
    assert [e for e in events if isinstance(e, ToolCallDelta)] == [
        ToolCallDelta(0, "call_a", "get_weather", '{"city":'),
        ToolCallDelta(0, None, None, ' "Hangzh'),
        ToolCallDelta(0, None, None, 'ou"}'),
        ToolCallDelta(1, "call_b", "get_weather", '{"city": '),
        ToolCallDelta(1, None, None, '"Shanghai"}'),
    ]
    assert events[-1] == StreamEnd("tool_calls", "qwen3-vl-plus", events[-1].request_id, events[-1].request_id)
    tools = [
        {
            "type": "function",
            "function": {"name": "get_weather", "description": "Weather in a city.", "parameters": TOOL.parameters},
        }
    ]
    params = {"incremental_output": True, "tools": tools, "parallel_tool_calls": True}
    assert wire(emu) == (body("qwen3-vl-plus", USER_HI, **params), SSE_HEADERS)
    result = client.chat(request(tools=(TOOL,)))
    assert result.tool_calls == (
        ParsedToolCall(0, "call_a", "get_weather", '{"city": "Hangzhou"}', {"city": "Hangzhou"}),
        ParsedToolCall(1, "call_b", "get_weather", '{"city": "Shanghai"}', {"city": "Shanghai"}),
    )
    assert (result.finish_reason, result.is_tool_turn) == ("tool_calls", True)


def test_images(client, emu) -> None:
    emu.enqueue(Reply(text="A cat."))
    result = client.chat(request(messages=PHOTO))
    assert result.usage == Usage(  # the emulator counts a remote image as 1024x1024: 32x32 tokens + 2
        1032,
        1,
        1033,
        image_tokens=1026,
        raw={
            "total_tokens": 1033,
            "input_tokens_details": {"image_tokens": 1026, "text_tokens": 6},
            "output_tokens": 1,
            "input_tokens": 1032,
            "image_tokens": 1026,
        },
    )
    content = [{"image": CAT}, {"text": "Describe the picture."}]
    assert wire(emu) == (body("qwen3-vl-plus", [{"role": "user", "content": content}]), JSON_HEADERS)


def test_twenty_thousand_chunk_reasoning_stream(client, emu) -> None:
    emu.enqueue(Reply(reasoning=["r"] * 20_000, text=["t"] * 2_000))
    counts = {"reasoning": 0, "text": 0, "usage": 0, "end": 0}
    reasoning: list[str] = []
    for event in client.stream(request("qvq-max")):
        counts[event.kind] += 1
        if type(event) is ReasoningDelta:
            reasoning.append(event.text)
        elif type(event) is UsageUpdate:
            usage = event.usage
    assert counts == {"reasoning": 20_000, "text": 2_000, "usage": 1, "end": 1}
    assert "".join(reasoning) == "r" * 20_000
    assert (usage.input_tokens, usage.output_tokens, usage.total_tokens, usage.reasoning_tokens) == (
        1,
        22_000,
        22_001,
        20_000,
    )


async def test_async_chat_and_stream(client, emu) -> None:
    emu.enqueue(Reply(reasoning=["x"] * 20_000, text="done"), Reply(reasoning="y", text="z", request_id=RID))
    kinds: dict[str, int] = {}
    async for event in client.astream(request("qvq-plus")):
        kinds[event.kind] = kinds.get(event.kind, 0) + 1
    assert kinds == {"reasoning": 20_000, "text": 1, "usage": 1, "end": 1}
    result = await client.achat(request("qvq-plus"))
    raw = {"total_tokens": 3, "output_tokens": 2, "input_tokens": 1, "output_tokens_details": {"reasoning_tokens": 1}}
    assert result == ChatResult("y", "z", (), Usage(1, 2, 3, 1, raw=raw), "stop", "qvq-plus", RID, RID)
    emu.enqueue(Reply(text="no thinking"))
    assert (await client.achat(request())).text == "no thinking"
    assert wire(emu)[1] == JSON_HEADERS
    await client.aclose()


# -- errors ------------------------------------------------------------------------------------


def test_wrong_key_is_authentication_error(emu) -> None:
    client = native_client(emu, api_key="wrong")
    with pytest.raises(AuthenticationError) as info:
        client.chat(request())
    error = info.value
    assert (error.status, error.code) == (401, "InvalidApiKey")
    assert error.message.startswith("Invalid API-key provided. ")
    assert UUID.fullmatch(error.request_id or "")
    assert emu.last_request.headers["authorization"] == "Bearer wrong"
    client.close()


def test_rule_error_non_stream_is_400(client, emu) -> None:
    # extra_body reaches the wire verbatim, past the local policies (which add the JSON instruction).
    with pytest.raises(InvalidRequestError) as info:
        client.chat(request(extra_body={"response_format": {"type": "json_object"}}))
    error = info.value
    assert (error.status, error.code, type(error)) == (400, "InvalidParameter", InvalidRequestError)
    assert error.message == (
        "'messages' must contain the word 'json' in some form, to use 'response_format' of type 'json_object'."
    )
    assert UUID.fullmatch(error.request_id or "")


def test_rule_error_on_a_stream_is_an_event_on_http_200(client, emu) -> None:
    # extra_body reaches the wire verbatim, past the local policies, so the server rule fires.
    with pytest.raises(InvalidRequestError) as info:
        list(client.stream(request("qwen3-vl-8b-thinking", extra_body={"enable_thinking": False})))
    error = info.value
    assert (error.status, error.code, error.message) == (
        400,
        "InvalidParameter",
        "The value of the enable_thinking parameter is restricted to True.",
    )
    assert UUID.fullmatch(error.request_id or "")
    assert emu.last_request.body["parameters"]["enable_thinking"] is False


def test_scripted_error_event_carries_code_and_request_id(client, emu) -> None:
    emu.enqueue(
        ErrorReply(400, "Role must be user or assistant and Content length must be greater than 0", request_id=RID)
    )
    with pytest.raises(InvalidRequestError) as info:
        client.chat(request("qvq-max"))
    error = info.value
    assert type(error) is InvalidRequestError  # not a StreamError: nothing had arrived yet
    assert (error.status, error.code, error.request_id) == (400, "InvalidParameter", RID)
    assert error.message == "Role must be user or assistant and Content length must be greater than 0"


@pytest.mark.parametrize("thinking", [False, True])
def test_429_with_retry_after_is_retried(emu, thinking) -> None:
    client = native_client(emu, max_retries=1)
    throttled = ErrorReply(
        429, "Requests rate limit exceeded, please try again later.", code="limit_requests", retry_after=0
    )
    emu.enqueue(throttled, Reply(reasoning="r" if thinking else "", text="ok"))
    result = client.chat(request(thinking=ThinkingOptions(enable=thinking)))
    assert (result.reasoning, result.text) == ("r" if thinking else "", "ok")
    assert len(emu.requests) == 2
    assert emu.requests[0].body == emu.requests[1].body
    client.close()


def test_429_without_retries(client, emu) -> None:
    emu.enqueue(ErrorReply(429, "Requests throttling triggered.", code="Throttling", request_id=RID))
    with pytest.raises(RateLimitError) as info:
        client.chat(request())
    assert (info.value.status, info.value.code, info.value.request_id, info.value.retryable) == (
        429,
        "Throttling",
        RID,
        True,
    )


def test_mid_stream_error_event_keeps_partial(client, emu) -> None:
    fault = ErrorFrame(after_chunks=4, message="Output data may contain inappropriate content.")
    emu.enqueue(Reply(reasoning="abcdef", text="ghij", chunk_size=2, fault=fault, request_id=RID))
    seen: list[StreamEvent] = []
    with pytest.raises(StreamError) as info:
        seen.extend(client.stream(request("qvq-max")))
    error = info.value
    assert (error.status, error.code, error.request_id) == (400, "DataInspectionFailed", RID)
    assert error.message.startswith("Output data may contain inappropriate content.")
    assert (error.partial.reasoning, error.partial.text, error.partial.finish_reason) == ("abcdef", "gh", None)
    assert seen == [ReasoningDelta("ab"), ReasoningDelta("cd"), ReasoningDelta("ef"), TextDelta("gh")]


@pytest.mark.parametrize(
    ("fault", "match"),
    [
        (Disconnect(after_chunks=3), "connection broke"),
        (NoFinish(), "no finish_reason"),
        (MalformedLine(after_chunks=3, line="data:{not json"), "not JSON"),
    ],
)
def test_broken_streams_are_incomplete_with_partial(client, emu, fault, match) -> None:
    emu.enqueue(Reply(reasoning="abcdef", text="gh", chunk_size=2, fault=fault, request_id=RID))
    with pytest.raises(IncompleteStreamError, match=match) as info:
        client.chat(request("qvq-max"))
    assert info.value.partial.reasoning == "abcdef"
    assert info.value.request_id == RID


# -- the same scripts over both protocols --------------------------------------------------------


def neutral(result: ChatResult) -> ChatResult:
    """A result without the per-protocol parts: ids and the raw usage object."""
    usage = replace(result.usage, raw=None) if result.usage is not None else None
    return replace(result, usage=usage, response_id=None, request_id=None)


def neutral_events(events: list[StreamEvent]) -> list[StreamEvent]:
    out: list[StreamEvent] = []
    for event in events:
        if type(event) is UsageUpdate:
            event = UsageUpdate(replace(event.usage, raw=None))
        elif type(event) is StreamEnd:
            event = StreamEnd(event.finish_reason, event.model, None, None)
        out.append(event)
    return out


SCRIPTS = [
    pytest.param(request(), Reply(text="plain answer"), id="text-non-stream"),
    pytest.param(
        request("qvq-max", PHOTO), Reply(reasoning="Area is w*h.", text="12 cm²", chunk_size=3), id="qvq-image"
    ),
    pytest.param(
        request(thinking=ThinkingOptions(enable=True)),
        Reply(reasoning=["Let", " me", " see."], text=["A", " cat", "."]),
        id="hybrid-thinking",
    ),
    pytest.param(request(tools=(TOOL,)), Reply(tool_calls=CALLS, chunk_size=5), id="tools-non-stream"),
    pytest.param(
        request("qwen3-vl-8b-thinking", PHOTO, tools=(TOOL,), parallel_tool_calls=True),
        Reply(reasoning="Two cities.", text="Checking.", tool_calls=CALLS, chunk_size=4),
        id="thinking-text-and-tools",
    ),
    pytest.param(
        request(tools=(TOOL,)),
        Reply(tool_calls=[ToolCallReply("get_weather", '{"city": ', id="call_x")]),
        id="invalid-arguments",
    ),
    pytest.param(request("qvq-max"), Reply(reasoning="cut off", finish_reason="length"), id="reasoning-only-length"),
    pytest.param(request(), Reply(text="cut", finish_reason="length"), id="length-non-stream"),
    pytest.param(request("qvq-plus"), Reply(reasoning=["r"] * 3_000, text=["t"] * 300), id="long-stream"),
]


def both(emu: DashScopeEmulator, script: Script) -> tuple[QwenVLClient, QwenVLClient]:
    emu.enqueue(script, script)
    compat = QwenVLClient(base_url=emu.base_url, api_key=emu.api_key, max_retries=0, coalesce_deltas=False)
    return native_client(emu), compat


@pytest.mark.parametrize(("req", "script"), SCRIPTS)
def test_chat_results_are_the_same_over_both_protocols(emu, req, script) -> None:
    native, compat = both(emu, script)
    ours, theirs = native.chat(req), compat.chat(req)
    assert neutral(ours) == neutral(theirs)
    assert ours.usage is not None
    assert ours.finish_reason is not None
    assert [r.path.split("/")[1] for r in emu.requests] == ["api", "compatible-mode"]
    native.close()
    compat.close()


@pytest.mark.parametrize(("req", "script"), SCRIPTS)
def test_streams_are_the_same_over_both_protocols(emu, req, script) -> None:
    native, compat = both(emu, script)
    ours, theirs = list(native.stream(req)), list(compat.stream(req))
    assert neutral_events(ours) == neutral_events(theirs)
    assert [type(e) for e in ours[-2:]] == [UsageUpdate, StreamEnd]
    native.close()
    compat.close()


@pytest.mark.parametrize(("req", "script"), SCRIPTS[:5])
async def test_async_results_are_the_same_over_both_protocols(emu, req, script) -> None:
    native, compat = both(emu, script)
    ours, theirs = await native.achat(req), await compat.achat(req)
    assert neutral(ours) == neutral(theirs)
    await native.aclose()
    await compat.aclose()
