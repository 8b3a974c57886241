"""`QwenVLClient` against the emulator: sync and async, long streams, errors with partial results."""

from __future__ import annotations

import gc

import pytest

from qwen_vl_core import (
    AuthenticationError,
    ChatRequest,
    ContextOverflowError,
    ImagePart,
    IncompleteStreamError,
    InvalidRequestError,
    Message,
    MissingAPIKeyError,
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
    UsageUpdate,
)
from qwen_vl_core.testing import (
    DashScopeEmulator,
    Disconnect,
    ErrorFrame,
    ErrorReply,
    NoFinish,
    Reply,
    ToolCallReply,
)

HI = (Message("user", (TextPart("hi"),)),)


def request(model: str = "qwen3-vl-plus", **kw: object) -> ChatRequest:
    return ChatRequest(model=model, messages=HI, **kw)  # type: ignore[arg-type]


@pytest.fixture
def client(dashscope_emulator: DashScopeEmulator):
    # One event per server event (no coalescing): these tests check the exact event sequence.
    c = QwenVLClient(
        base_url=dashscope_emulator.base_url, api_key=dashscope_emulator.api_key, max_retries=0, coalesce_deltas=False
    )
    yield c
    c.close()


def test_chat_on_qvq_streams_and_aggregates(client, dashscope_emulator) -> None:
    dashscope_emulator.enqueue(Reply(reasoning="Area is w*h.", text="12 cm²", chunk_size=3))
    result = client.chat(request("qvq-max"))
    assert (result.reasoning, result.text, result.finish_reason, result.model) == (
        "Area is w*h.",
        "12 cm²",
        "stop",
        "qvq-max",
    )
    assert result.usage is not None
    assert (result.usage.reasoning_tokens, result.usage.output_tokens) == (4, 6)
    body = dashscope_emulator.last_request.body
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}
    # like DashScope, the emulator uses one UUID for the x-request-id header and the chatcmpl- id
    assert result.request_id == result.response_id.removeprefix("chatcmpl-")


def test_chat_without_thinking_is_not_streamed(client, dashscope_emulator) -> None:
    dashscope_emulator.enqueue(Reply(text="plain answer"))
    result = client.chat(request())
    assert (result.reasoning, result.text, result.finish_reason) == ("", "plain answer", "stop")
    assert dashscope_emulator.last_request.body == {
        "model": "qwen3-vl-plus",
        "messages": [{"role": "user", "content": "hi"}],
    }


def test_thinking_chat_is_streamed_on_the_wire(client, dashscope_emulator) -> None:
    dashscope_emulator.enqueue(Reply(reasoning="hmm", text="ok"))
    result = client.chat(request(thinking=ThinkingOptions(enable=True, budget=100)))
    assert (result.reasoning, result.text) == ("hmm", "ok")
    body = dashscope_emulator.last_request.body
    assert (body["stream"], body["enable_thinking"], body["thinking_budget"]) == (True, True, 100)


def test_stream_event_sequence(client, dashscope_emulator) -> None:
    dashscope_emulator.enqueue(Reply(reasoning=["a", "b"], text=["c"]))
    events = list(client.stream(request("qwen3-vl-32b-thinking")))
    assert events[:3] == [ReasoningDelta("a"), ReasoningDelta("b"), TextDelta("c")]
    assert isinstance(events[3], UsageUpdate)
    end = events[4]
    assert isinstance(end, StreamEnd)
    assert (end.finish_reason, end.model) == ("stop", "qwen3-vl-32b-thinking")
    assert len(events) == 5


def test_tool_calls_stream_and_aggregate(client, dashscope_emulator) -> None:
    tool = ToolSpec("add", "Add.", {"type": "object", "properties": {"a": {"type": "integer"}}})
    calls = [ToolCallReply("add", '{"a": 1}', id="call_1"), ToolCallReply("add", '{"a": 2}', id="call_2")]
    dashscope_emulator.enqueue(Reply(tool_calls=calls, chunk_size=3), Reply(tool_calls=calls, chunk_size=3))
    events = list(client.stream(request(tools=(tool,), parallel_tool_calls=True)))
    deltas = [e for e in events if isinstance(e, ToolCallDelta)]
    assert "".join(d.arguments for d in deltas if d.index == 0) == '{"a": 1}'
    assert [(d.index, d.id, d.name) for d in deltas if d.id] == [(0, "call_1", "add"), (1, "call_2", "add")]
    result = client.chat(request(tools=(tool,)))
    assert [(c.id, c.name, c.args) for c in result.tool_calls] == [
        ("call_1", "add", {"a": 1}),
        ("call_2", "add", {"a": 2}),
    ]
    assert result.finish_reason == "tool_calls"


def test_twenty_thousand_chunk_reasoning_stream(client, dashscope_emulator) -> None:
    dashscope_emulator.enqueue(Reply(reasoning=["r"] * 20_000, text=["t"] * 2_000))
    counts = {"reasoning": 0, "text": 0, "usage": 0, "end": 0}
    for event in client.stream(request("qvq-max")):
        counts[event.kind] += 1
        if isinstance(event, UsageUpdate):
            usage = event.usage
    assert counts == {"reasoning": 20_000, "text": 2_000, "usage": 1, "end": 1}
    assert (usage.reasoning_tokens, usage.output_tokens) == (20_000, 22_000)


async def test_async_chat_and_stream(client, dashscope_emulator) -> None:
    dashscope_emulator.enqueue(Reply(reasoning=["x"] * 20_000, text="done"), Reply(reasoning="y", text="z"))
    reasoning = []
    async for event in client.astream(request("qvq-plus")):
        if isinstance(event, ReasoningDelta):
            reasoning.append(event.text)
    assert len(reasoning) == 20_000
    result = await client.achat(request("qvq-plus"))
    assert (result.reasoning, result.text) == ("y", "z")
    dashscope_emulator.enqueue(Reply(text="no thinking"))
    assert (await client.achat(request())).text == "no thinking"
    await client.aclose()


def test_missing_key_is_raised_at_first_request_not_construction(monkeypatch) -> None:
    monkeypatch.delenv("DASHSCOPE_API_KEY", raising=False)
    monkeypatch.delenv("DASHSCOPE_BASE_URL", raising=False)
    client = QwenVLClient(region="cn")
    with pytest.raises(MissingAPIKeyError) as info:
        client.chat(request())
    assert str(info.value) == (
        "No DashScope API key: set the DASHSCOPE_API_KEY environment variable (or pass api_key=) to a Model "
        "Studio key for region Beijing (cn), https://dashscope.aliyuncs.com/compatible-mode/v1. Keys are "
        "region-specific. For a self-hosted OpenAI-compatible server, pass base_url= (and api_key= if it "
        "needs one)."
    )


def test_env_key_is_never_sent_to_other_hosts(monkeypatch, dashscope_emulator) -> None:
    monkeypatch.setenv("DASHSCOPE_API_KEY", "sk-secret-canary")
    dashscope_emulator_no_auth = DashScopeEmulator(api_key=None)
    with dashscope_emulator_no_auth as emu:
        client = QwenVLClient(base_url=emu.base_url)
        emu.enqueue(Reply(text="ok"))
        assert client.chat(request()).text == "ok"
        assert "sk-secret-canary" not in emu.last_request.headers.get("authorization", "")
        client.close()


def test_wrong_key_is_authentication_error(dashscope_emulator) -> None:
    client = QwenVLClient(base_url=dashscope_emulator.base_url, api_key="wrong", max_retries=0)
    with pytest.raises(AuthenticationError) as info:
        client.chat(request())
    assert info.value.status == 401
    assert info.value.code == "invalid_api_key"
    assert info.value.message.startswith("Incorrect API key provided.")
    assert "keys are region-specific" in info.value.message
    client.close()


def test_sse_framed_4xx_is_parsed(client, dashscope_emulator) -> None:
    dashscope_emulator.enqueue(
        ErrorReply(
            400,
            "<400> InternalError.Algo.InvalidParameter: Range of input length should be [1, 129024]",
            sse_framed=True,
            request_id="rid-9",
        )
    )
    with pytest.raises(ContextOverflowError) as info:
        list(client.stream(request()))
    assert (info.value.status, info.value.code, info.value.request_id) == (400, "invalid_parameter_error", "rid-9")


def test_rate_limit_is_retryable_error(client, dashscope_emulator) -> None:
    dashscope_emulator.enqueue(
        ErrorReply(
            429,
            "Requests rate limit exceeded, please try again later.",
            code="Throttling.RateQuota",
            type="Throttling.RateQuota",
        )
    )
    with pytest.raises(RateLimitError) as info:
        client.chat(request())
    assert info.value.retryable is True
    assert info.value.status == 429


def test_emulator_rules_surface_as_invalid_request(client, dashscope_emulator) -> None:
    # The library never sends a file:// URL; force one through extra_body to check the error mapping.
    raw = [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "file:///tmp/x.png"}}]}]
    with pytest.raises(InvalidRequestError, match="Failed to download multimodal content"):
        client.chat(request(extra_body={"messages": raw}))


def test_local_file_url_is_sent_inline(client, dashscope_emulator, tmp_path) -> None:
    with pytest.raises(ValueError, match="does not exist"):
        client.chat(ChatRequest(model="qwen3-vl-plus", messages=(Message("user", (ImagePart("file:///nope.png"),)),)))
    assert dashscope_emulator.requests == []


def test_mid_stream_error_frame_keeps_partial(client, dashscope_emulator) -> None:
    dashscope_emulator.enqueue(
        Reply(
            reasoning="abcdef",
            text="ghij",
            chunk_size=2,
            fault=ErrorFrame(after_chunks=4, message="Output data may contain inappropriate content."),
        )
    )
    seen: list[object] = []
    with pytest.raises(StreamError) as info:
        seen.extend(client.stream(request("qvq-max")))
    assert info.value.code == "data_inspection_failed"
    assert info.value.partial.reasoning == "abcdef"
    assert info.value.partial.finish_reason is None
    assert "".join(e.text for e in seen if isinstance(e, ReasoningDelta)) == "abcdef"


def test_disconnect_mid_stream_is_incomplete_with_partial(client, dashscope_emulator) -> None:
    dashscope_emulator.enqueue(Reply(reasoning="abcdefgh", chunk_size=2, text="x", fault=Disconnect(after_chunks=3)))
    with pytest.raises(IncompleteStreamError) as info:
        client.chat(request("qvq-max"))
    assert info.value.partial.reasoning == "abcd"
    assert info.value.request_id is not None


def test_stream_without_finish_reason_is_incomplete(client, dashscope_emulator) -> None:
    dashscope_emulator.enqueue(Reply(reasoning="ab", text="cd", chunk_size=1, fault=NoFinish()))
    with pytest.raises(IncompleteStreamError, match="no finish_reason") as info:
        client.chat(request("qvq-max"))
    assert (info.value.partial.reasoning, info.value.partial.text) == ("ab", "cd")


# The first loop's pooled connection can only be collected after that loop is closed; Python reports
# it as a ResourceWarning (ignored outside development mode). The point here is that the call works.
@pytest.mark.filterwarnings("ignore::ResourceWarning", "ignore::pytest.PytestUnraisableExceptionWarning")
def test_async_client_survives_a_new_event_loop(dashscope_emulator) -> None:
    import asyncio

    client = QwenVLClient(base_url=dashscope_emulator.base_url, api_key=dashscope_emulator.api_key)
    dashscope_emulator.enqueue(Reply(text="one"), Reply(text="two"))
    assert asyncio.run(client.achat(request())).text == "one"
    assert asyncio.run(client.achat(request())).text == "two"  # a second asyncio.run: a new loop
    del client
    gc.collect()  # collect the first loop's connection here, under this test's filter


def test_warm_up_builds_the_transport_without_a_request(monkeypatch) -> None:
    from qwen_vl_core import MissingAPIKeyError, QwenVLClient

    with DashScopeEmulator() as emu:
        client = QwenVLClient(base_url=emu.base_url, api_key=emu.api_key)
        client.warm_up()
        assert (client._transport is not None, emu.requests, emu.connections_opened) == (True, [], 0)
        client.close()
    monkeypatch.delenv("DASHSCOPE_API_KEY", raising=False)
    with pytest.raises(MissingAPIKeyError):
        QwenVLClient(region="intl").warm_up()  # a missing key is told now, not at the first call
