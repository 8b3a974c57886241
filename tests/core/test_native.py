"""Native DashScope protocol: request bodies (pure) and the parser on every native capture."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qwen_vl_core import (
    AuthenticationError,
    ChatRequest,
    ImagePart,
    IncompleteStreamError,
    InvalidRequestError,
    Message,
    ReasoningDelta,
    StreamAccumulator,
    StreamEnd,
    StreamError,
    TextDelta,
    TextPart,
    ThinkingOptions,
    ToolCall,
    ToolSpec,
    UsageUpdate,
    VideoPart,
    get_spec,
)
from qwen_vl_core.accumulator import ChatResult
from qwen_vl_core.parse_native import NativeStreamParser, events_from_native_response
from qwen_vl_core.request_native import build_native_body
from qwen_vl_core.sse import LineSplitter, ServerSentEvent, SSEDecoder

SAMPLES = Path(__file__).resolve().parents[3] / "shared" / "wire-samples"
needs_samples = pytest.mark.skipif(not SAMPLES.is_dir(), reason="../shared/wire-samples is not present")


def replay(text: str) -> ChatResult:
    splitter, decoder, parser, acc = LineSplitter(), SSEDecoder(), NativeStreamParser("rid", "m"), StreamAccumulator()
    for line in splitter.feed(text) + splitter.flush():
        sse = decoder.feed("" if line.startswith(".....") else line)  # abridgement marker, not wire bytes
        if sse is not None:
            for event in parser.feed_event(sse):
                acc.add(event)
    last = decoder.flush()
    if last is not None and acc.end is None:
        for event in parser.feed_event(last):
            acc.add(event)
    parser.close()
    return acc.result()


def sample(name: str) -> str:
    return (SAMPLES / name).read_text("utf-8")


def summary(result: ChatResult) -> tuple[object, ...]:
    u = result.usage
    usage = (u.input_tokens, u.output_tokens, u.reasoning_tokens, u.image_tokens, u.video_tokens) if u else None
    return (result.finish_reason, [(c.id, c.name, c.args) for c in result.tool_calls], usage)


@needs_samples
@pytest.mark.parametrize(
    ("name", "reasoning", "text", "expected"),
    [
        (
            "aliyun-docs-mirror-qvq-max-native-stream-abridged.sse",
            "好的，我现在",
            "方厘米",
            ("stop", [], (544, 590, None, 520, None)),
        ),
        (
            "cnblogs-native-qwen-vl-plus-image-stream.sse",
            "",
            "这是一个海滩，有沙滩和海浪。",
            ("stop", [], (1283, 85, None, 1247, None)),
        ),
        (
            "cnblogs-native-qwen-vl-max-video-frames-stream.sse",
            "",
            "这段视频展示了一场足球比赛的精彩瞬间。",
            ("stop", [], (1466, 176, None, None, 1440)),
        ),
        (
            "cnblogs-native-qwen-plus-latest-thinking-budget10-stream.sse",
            "嗯，用户问的是“1+1是多少",
            "1+1 等于 **2**。",
            ("stop", [], (16, 53, 10, None, None)),
        ),
        (
            "cnblogs-native-qwen-plus-latest-thinking-stream-2025-06.sse",
            "嗯，用户问的是“1+1是多少？”",
            "在数学中，",
            ("stop", [], (16, 378, 306, None, None)),
        ),
        (
            "cnblogs-native-qwen-plus-tool-result-answer-stream.sse",
            "",
            "目前杭州和上海的天气情况如下：",
            ("stop", [], (283, 53, None, None, None)),
        ),
        ("cnblogs-native-qwen-max-message-stream.sse", "", "1+1 等于 2。", ("stop", [], (8, 40, None, None, None))),
        ("cnblogs-native-qwen-max-text-format-stream.sse", "", "1+1等于2。", ("stop", [], (16, 6, None, None, None))),
        (
            "cnblogs-native-deepseek-r1-thinking-stream-2025-03.sse",
            "嗯，用户问1加1等于多少。",
            "1+1 在基础算术中的答案是 **2**。",
            ("stop", [], (11, 406, None, None, None)),
        ),
        (
            "cnblogs-native-qwen3-max-preview-thinking-code-interpreter-stream.sse",
            "用户问的是123的21次方是多少。",
            "123的21次方是：",
            ("stop", [], (723, 254, 150, None, None)),
        ),
        (
            "cnblogs-native-qwen-max-parallel-toolcalls-stream.sse",
            "",
            "",
            (
                "tool_calls",
                [
                    ("call_29a870e7106f45deb8add3", "get_current_weather", {"location": "浙江省杭州市"}),
                    ("call_026e44bb31a74266949a20", "get_current_weather", {"location": "上海市"}),
                ],
                (250, 37, None, None, None),
            ),
        ),
    ],
)
def test_native_stream_captures(name, reasoning, text, expected) -> None:
    result = replay(sample(name))
    assert result.reasoning.startswith(reasoning)
    assert bool(result.reasoning) is bool(reasoning)
    assert result.text.startswith(text)
    assert bool(result.text) is bool(text)
    assert summary(result) == expected
    assert result.model == "m"


@needs_samples
def test_usage_is_reported_once_from_the_finishing_event() -> None:
    splitter, decoder, parser = LineSplitter(), SSEDecoder(), NativeStreamParser()
    events = []
    for line in splitter.feed(sample("cnblogs-native-qwen-vl-plus-image-stream.sse")) + splitter.flush():
        sse = decoder.feed(line)
        if sse is not None:
            events.extend(parser.feed_event(sse))
    assert [type(e).__name__ for e in events].count("UsageUpdate") == 1
    assert [type(e).__name__ for e in events[-2:]] == ["UsageUpdate", "StreamEnd"]
    assert events[-1] == StreamEnd(
        "stop", None, "13c5644d-339c-928a-a09a-e0414bfaa95c", "13c5644d-339c-928a-a09a-e0414bfaa95c"
    )


@needs_samples
def test_streaming_error_on_http_200() -> None:
    with pytest.raises(InvalidRequestError) as info:
        replay(sample("cnblogs-native-error-invalidparameter-stream.sse"))
    error = info.value
    assert (error.status, error.code, error.request_id) == (
        400,
        "InvalidParameter",
        "7671ecd8-93cc-9ee9-bc89-739f0fd8b809",
    )
    assert error.message == "Role must be user or assistant and Content length must be greater than 0"


@needs_samples
@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        ("cnblogs-native-qwen-vl-plus-image-nonstream.json", "海滩。", ("stop", [], (3613, 3, None, 3577, None))),
        (
            "cnblogs-native-qwen-vl-max-video-frames-nonstream.json",
            "这段视频展示了一场足球比赛的精彩瞬间。",
            ("stop", [], (1466, 180, None, None, 1440)),
        ),
        (
            "cnblogs-native-qwen-max-toolcall-nonstream.json",
            "",
            (
                "stop",
                [("call_cec4c19d27624537b583af", "get_current_weather", {"location": "浙江省杭州市"})],
                (211, 8, None, None, None),
            ),
        ),
        (
            "cnblogs-native-deepseek-v4-pro-thinking-maxtokens20-nonstream.json",
            "",
            ("length", [], (12, 21, 20, None, None)),
        ),
        (
            "cnblogs-native-qwen3.6-plus-thinking-websearch-multimodal-endpoint-nonstream.json",
            "结合当前杭州西湖",
            ("stop", [], (619, 1379, 636, None, None)),
        ),
    ],
)
def test_native_nonstream_captures(name, text, expected) -> None:
    body = json.loads(sample(name))
    acc = StreamAccumulator()
    for event in events_from_native_response(body, None, "m"):
        acc.add(event)
    result = acc.result()
    assert result.text.startswith(text)
    assert bool(result.text) is bool(text)
    assert summary(result) == expected
    assert result.request_id == body["request_id"]
    assert result.is_tool_turn is bool(expected[1])  # the 2024 tool turn ends with "stop"


@needs_samples
def test_native_error_bodies() -> None:
    with pytest.raises(AuthenticationError) as info:
        events_from_native_response(json.loads(sample("cnblogs-native-error-401-invalidapikey-nonstream.json")))
    assert (info.value.code, info.value.request_id) == ("InvalidApiKey", "a1c0561c-1dfe-98a6-a62f-983577b8bc5e")
    with pytest.raises(InvalidRequestError, match="Role must be user or assistant"):
        events_from_native_response(json.loads(sample("cnblogs-native-error-400-invalidparameter-nonstream.json")))


def test_mid_stream_native_error_is_a_stream_error() -> None:
    parser = NativeStreamParser()
    ok = '{"output":{"choices":[{"message":{"content":[],"reasoning_content":"hm"},"finish_reason":"null"}]}}'
    assert parser.feed_event(ServerSentEvent(ok, "result", "1", 200)) == [ReasoningDelta("hm")]
    with pytest.raises(StreamError) as info:
        parser.feed_event(
            ServerSentEvent(
                '{"code":"DataInspectionFailed","message":"Output data may contain '
                'inappropriate content.","request_id":"r"}',
                "error",
                "2",
                400,
            )
        )
    assert (info.value.code, info.value.status, info.value.request_id) == ("DataInspectionFailed", 400, "r")


def test_native_without_finish_is_incomplete() -> None:
    parser = NativeStreamParser()
    parser.feed({"output": {"choices": [{"message": {"content": [{"text": "a"}]}, "finish_reason": "null"}]}})
    with pytest.raises(IncompleteStreamError, match="no finish_reason"):
        parser.close()


def test_native_events_for_text_and_usage() -> None:
    parser = NativeStreamParser("rid", "qvq-max")
    events = parser.feed(
        {
            "output": {
                "choices": [{"message": {"content": [{"text": "x"}], "role": "assistant"}, "finish_reason": "stop"}]
            },
            "usage": {"input_tokens": 2, "output_tokens": 3, "total_tokens": 5},
        }
    )
    assert events[0] == TextDelta("x")
    assert isinstance(events[1], UsageUpdate)
    assert (events[1].usage.input_tokens, events[1].usage.total_tokens) == (2, 5)
    assert events[2] == StreamEnd("stop", "qvq-max", "rid", "rid")


PLUS = get_spec("qwen3-vl-plus")


def test_native_body_shape() -> None:
    request = ChatRequest(
        model="qwen3-vl-plus",
        messages=(
            Message("system", (TextPart("Be brief."),)),
            Message(
                "user",
                (
                    ImagePart("https://x/a.png", max_pixels=1000),
                    TextPart("What?"),
                    VideoPart(frames=("https://x/1.jpg", "https://x/2.jpg"), fps=2.0),
                    VideoPart(url="https://x/v.mp4"),
                ),
            ),
            Message("assistant", (), tool_calls=(ToolCall("call_1", "f", '{"a": 1}'),), reasoning="secret"),
            Message("tool", (TextPart("42"),), tool_call_id="call_1"),
        ),
        tools=(ToolSpec("f", "F.", {"type": "object", "properties": {}}),),
        tool_choice="auto",
        parallel_tool_calls=True,
        thinking=ThinkingOptions(enable=True, budget=500),
        vl_high_resolution_images=True,
    )
    body = build_native_body(request, PLUS, stream=True)
    assert body == {
        "model": "qwen3-vl-plus",
        "input": {
            "messages": [
                {"role": "system", "content": [{"text": "Be brief."}]},
                {
                    "role": "user",
                    "content": [
                        {"image": "https://x/a.png", "max_pixels": 1000},
                        {"text": "What?"},
                        {"video": ["https://x/1.jpg", "https://x/2.jpg"], "fps": 2.0},
                        {"video": "https://x/v.mp4"},
                    ],
                },
                {
                    "role": "assistant",
                    "content": "",
                    "tool_calls": [
                        {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": '{"a": 1}'}}
                    ],
                },
                {"role": "tool", "content": [{"text": "42"}], "tool_call_id": "call_1"},
            ]
        },
        "parameters": {
            "result_format": "message",
            "incremental_output": True,
            "tools": [
                {
                    "type": "function",
                    "function": {"name": "f", "description": "F.", "parameters": {"type": "object", "properties": {}}},
                }
            ],
            "tool_choice": "auto",
            "parallel_tool_calls": True,
            "enable_thinking": True,
            "thinking_budget": 500,
            "vl_high_resolution_images": True,
        },
    }


def test_native_policies_are_the_same() -> None:
    qvq = get_spec("qvq-max")
    body = build_native_body(
        ChatRequest(model="qvq-max", messages=(Message("user", (TextPart("hi"),)),)), qvq, stream=False
    )
    assert body == {
        "model": "qvq-max",
        "input": {"messages": [{"role": "user", "content": [{"text": "hi"}]}]},
        "parameters": {"result_format": "message", "incremental_output": True},
    }
    with pytest.raises(ValueError, match="qvq-max is a thinking-only model"):
        build_native_body(
            ChatRequest(
                model="qvq-max", messages=(Message("user", (TextPart("hi"),)),), thinking=ThinkingOptions(enable=False)
            ),
            qvq,
            stream=True,
        )
