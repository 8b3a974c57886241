"""The SSE decoder, the compat parser and the accumulator, on captures and generated streams."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qwen_vl_core import (
    IncompleteStreamError,
    InvalidRequestError,
    ReasoningDelta,
    StreamAccumulator,
    StreamEnd,
    StreamError,
    TextDelta,
    ToolCallDelta,
    Usage,
    UsageUpdate,
)
from qwen_vl_core.parse_compat import CompatStreamParser, events_from_compat_response
from qwen_vl_core.sse import LineSplitter, SSEDecoder

SAMPLES = Path(__file__).resolve().parents[3] / "shared" / "wire-samples"
needs_samples = pytest.mark.skipif(not SAMPLES.is_dir(), reason="../shared/wire-samples is not present")


def replay(text: str, pieces: list[int] | None = None) -> tuple[list[object], StreamAccumulator]:
    """Drive splitter → decoder → parser → accumulator like the client does."""
    splitter, decoder, parser, acc = LineSplitter(), SSEDecoder(), CompatStreamParser("rid"), StreamAccumulator()
    events: list[object] = []
    chunks = [text] if not pieces else _cut(text, pieces)

    def take(data: str) -> None:
        for event in parser.feed_data(data):
            acc.add(event)
            events.append(event)

    for chunk in chunks:
        for line in splitter.feed(chunk):
            if line.startswith("....."):  # abridgement marker in vendor copies, not wire bytes
                line = ""
            sse = decoder.feed(line)
            if sse is not None:
                take(sse.data)
    for line in splitter.flush():
        sse = decoder.feed(line)
        if sse is not None:
            take(sse.data)
    last = decoder.flush()
    if last is not None:
        take(last.data)
    return events, acc


def _cut(text: str, cuts: list[int]) -> list[str]:
    points = sorted({c % (len(text) + 1) for c in cuts})
    return [text[a:b] for a, b in zip([0, *points], [*points, len(text)], strict=True)]


@needs_samples
def test_qvq_max_official_stream() -> None:
    events, acc = replay((SAMPLES / "aliyun-docs-mirror-qvq-max-compat-stream-abridged.sse").read_text("utf-8"))
    result = acc.result()
    assert result.reasoning == "好的，我现在要解决"
    assert result.text == "方厘米"
    assert result.finish_reason == "stop"
    assert result.model == "qvq-max"
    assert result.response_id == "chatcmpl-ab4f3963-2c2a-9291-bda2-65d5b325f435"  # spliced capture: the head id
    assert result.usage == Usage(
        input_tokens=544,
        output_tokens=590,
        total_tokens=1134,
        image_tokens=520,
        raw={
            "prompt_tokens": 544,
            "completion_tokens": 590,
            "total_tokens": 1134,
            "completion_tokens_details": {"text_tokens": 590},
            "prompt_tokens_details": {"text_tokens": 24, "image_tokens": 520},
        },
    )
    # the first chunk (content null, reasoning_content "") produces no event at all
    assert events[0] == ReasoningDelta("好的")
    assert [type(e).__name__ for e in events[-2:]] == ["UsageUpdate", "StreamEnd"]


@needs_samples
def test_qwen36_thinking_tail_with_null_reasoning_on_answer_chunks() -> None:
    _, acc = replay((SAMPLES / "devlog-compat-qwen3.6-plus-thinking-stream-tail-excerpt.sse").read_text("utf-8"))
    result = acc.result()
    assert result.reasoning == "让身体重新找到节奏，好吗？"
    assert result.text.startswith("我在这里，先陪你慢慢把呼吸找回来。")
    assert result.finish_reason == "stop"
    assert (result.usage.input_tokens, result.usage.output_tokens, result.usage.reasoning_tokens) == (1033, 214, 160)
    assert result.request_id == "rid"


@needs_samples
def test_qwen36_head_without_end_is_incomplete() -> None:
    events, acc = replay((SAMPLES / "devlog-compat-qwen3.6-plus-thinking-stream-head-excerpt.sse").read_text("utf-8"))
    assert all(isinstance(e, ReasoningDelta) for e in events)
    assert acc.partial().reasoning.startswith("Here's a thinking process:")
    with pytest.raises(IncompleteStreamError, match="no finish_reason was received"):
        CompatStreamParser().end()


@needs_samples
def test_tool_call_continuations_with_empty_ids() -> None:
    lines = (SAMPLES / "devcomment-compat-qwen3.5-plus-toolcall-delta-excerpt.chunks.jsonl").read_text().splitlines()
    parser = CompatStreamParser()
    events = [e for line in lines for e in parser.feed(json.loads(line))]
    assert events == [ToolCallDelta(0, None, None, '{"params": '), ToolCallDelta(0, None, None, '{"subuser')]


@needs_samples
def test_liteflow_qwen_flash_reasoning_chunks() -> None:
    lines = (SAMPLES / "liteflow-ai-docs-compat-qwen-flash-thinking-stream-log-excerpt.chunks.jsonl").read_text("utf-8")
    parser = CompatStreamParser()
    events = [e for line in lines.splitlines() if line for e in parser.feed(json.loads(line))]
    assert events == [
        ReasoningDelta("嗯"),
        ReasoningDelta("，"),
        ReasoningDelta("用户"),
        ReasoningDelta("让我介绍一下LiteFlow"),
    ]


@needs_samples
def test_error_frames_via_openrouter() -> None:
    text = (SAMPLES / "errors-compat-stream-frames-via-openrouter.sse").read_text()
    with pytest.raises(InvalidRequestError) as info:
        replay(text)
    assert info.value.code == "invalid_parameter_error"
    assert info.value.message == "Range of top_logprobs should be [0, 5]"
    assert info.value.request_id == "rid"


@needs_samples
def test_nonstream_video_response() -> None:
    first = json.loads((SAMPLES / "blog-compat-qwen-vl-max-latest-video-nonstream.jsonl").read_text().splitlines()[0])
    acc = StreamAccumulator()
    for event in events_from_compat_response(first, "rid"):
        acc.add(event)
    result = acc.result()
    assert result.text == first["choices"][0]["message"]["content"]
    assert result.finish_reason == "stop"
    assert result.usage is not None
    assert result.usage.input_tokens == first["usage"]["prompt_tokens"]


def test_mid_stream_error_frame_is_a_stream_error() -> None:
    parser = CompatStreamParser("rid")
    parser.feed({"choices": [{"delta": {"content": "Hi"}, "index": 0}], "model": "m", "id": "chatcmpl-1"})
    with pytest.raises(StreamError) as info:
        parser.feed_data(
            '{"error":{"message":"Output data may contain inappropriate content.",'
            '"type":"data_inspection_failed","param":null,"code":"data_inspection_failed"}}'
        )
    assert (info.value.code, info.value.message, info.value.retryable) == (
        "data_inspection_failed",
        "Output data may contain inappropriate content. Model Studio's content inspection refused the input or "
        "output; rephrase or change the image (the same request gets the same answer).",
        False,
    )


def test_malformed_line_raises_library_error() -> None:
    with pytest.raises(IncompleteStreamError, match="not JSON"):
        CompatStreamParser().feed_data('{"choices": [')


def test_u2028_inside_json_does_not_split_a_line() -> None:
    chunk = {"choices": [{"delta": {"content": "a\u2028b\x85c"}, "index": 0, "finish_reason": "stop"}]}
    text = f"data: {json.dumps(chunk, ensure_ascii=False)}\n\ndata: [DONE]\n\n"
    events, _ = replay(text, [7, 19, 20])
    assert events == [TextDelta("a\u2028b\x85c"), StreamEnd("stop", None, None, "rid")]


def test_crlf_and_cr_line_endings() -> None:
    text = 'data: {"choices":[{"delta":{"content":"x"},"finish_reason":"stop"}]}\r\n\r\ndata: [DONE]\r\r'
    for cut in ([], [len(text) // 2], [text.index("\r") + 1]):
        events, _ = replay(text, cut)
        assert events == [TextDelta("x"), StreamEnd("stop", None, None, "rid")]


def test_parallel_calls_in_one_chunk_merge_by_index_and_keep_ids() -> None:
    chunks = [
        {
            "choices": [
                {
                    "delta": {
                        "tool_calls": [
                            {
                                "index": 0,
                                "id": "call_a",
                                "type": "function",
                                "function": {"name": "f", "arguments": '{"x": '},
                            }
                        ]
                    }
                }
            ]
        },
        {
            "choices": [
                {
                    "delta": {
                        "tool_calls": [
                            {"index": 0, "id": "", "type": "function", "function": {"arguments": "1}"}},
                            {
                                "index": 1,
                                "id": "call_b",
                                "type": "function",
                                "function": {"name": "g", "arguments": ""},
                            },
                        ]
                    }
                }
            ]
        },
        {
            "choices": [
                {
                    "delta": {"tool_calls": [{"index": 1, "id": "", "function": {"arguments": "{oops"}}]},
                    "finish_reason": "stop",
                }
            ]
        },
    ]
    parser, acc = CompatStreamParser(), StreamAccumulator()
    for chunk in chunks:
        for event in parser.feed(chunk):
            acc.add(event)
    acc.add(parser.end())
    result = acc.result()
    assert result.is_tool_turn  # even though finish_reason is "stop", as older recordings do
    first, second = result.tool_calls
    assert (first.id, first.name, first.arguments, first.args, first.error) == (
        "call_a",
        "f",
        '{"x": 1}',
        {"x": 1},
        None,
    )
    assert (second.id, second.name, second.arguments, second.args) == ("call_b", "g", "{oops", None)
    assert second.error is not None
    assert second.error.startswith("arguments are not valid JSON")


def test_usage_only_once_and_end_carries_ids() -> None:
    parser = CompatStreamParser("req-1")
    events = parser.feed(
        {
            "choices": [],
            "usage": {
                "prompt_tokens": 3,
                "completion_tokens": 4,
                "total_tokens": 7,
                "completion_tokens_details": {"reasoning_tokens": 2},
                "prompt_tokens_details": {"cached_tokens": 1, "video_tokens": 9},
            },
            "model": "qwen3-vl-plus",
            "id": "chatcmpl-9",
        }
    )
    assert events == [
        UsageUpdate(Usage(3, 4, 7, reasoning_tokens=2, video_tokens=9, cached_tokens=1, raw=events[0].usage.raw))
    ]  # type: ignore[union-attr]
    parser.finish_reason = "stop"
    assert parser.feed_data("[DONE]") == [StreamEnd("stop", "qwen3-vl-plus", "chatcmpl-9", "req-1")]


def _render(reasoning: list[str], text: list[str], args: list[str]) -> str:
    def chunk(delta: dict[str, object], finish: str | None = None) -> str:
        body = {
            "choices": [{"delta": delta, "finish_reason": finish, "index": 0, "logprobs": None}],
            "object": "chat.completion.chunk",
            "usage": None,
            "model": "m",
            "id": "chatcmpl-x",
        }
        return f"data: {json.dumps(body, ensure_ascii=False)}\n\n"

    out = [chunk({"content": None, "role": "assistant", "reasoning_content": ""})]
    out += [chunk({"content": None, "reasoning_content": r}) for r in reasoning]
    out += [chunk({"content": t, "reasoning_content": None}) for t in text]
    for i, piece in enumerate(args):
        call = {"index": 0, "id": "call_1" if i == 0 else "", "type": "function", "function": {"arguments": piece}}
        if i == 0:
            call["function"] = {"name": "f", "arguments": piece}  # type: ignore[assignment]
        out.append(chunk({"content": None, "tool_calls": [call]}))
    out.append(chunk({}, "tool_calls" if args else "stop"))
    usage = {"choices": [], "usage": {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3}, "model": "m"}
    out.append(f"data: {json.dumps(usage)}\n\ndata: [DONE]\n\n")
    return "".join(out)


def _split(text: str, cuts: list[int]) -> list[str]:
    return [p for p in _cut(text, cuts) if p] if text else []


texts = st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=40)


@settings(max_examples=150, deadline=None)
@given(
    reasoning=texts,
    answer=texts,
    arguments=st.sampled_from(["", '{"a": 1}', '{"q": "\\u2028 x"}', "{bad"]),
    cuts=st.lists(st.integers(min_value=0, max_value=10_000), max_size=12),
    content_cuts=st.lists(st.integers(min_value=0, max_value=50), max_size=6),
)
def test_any_rechunking_gives_the_same_result(reasoning, answer, arguments, cuts, content_cuts) -> None:
    wire = _render(_split(reasoning, content_cuts), _split(answer, content_cuts), _split(arguments, content_cuts))
    _, whole = replay(wire)
    _, pieces = replay(wire, cuts)
    expected = whole.result()
    assert pieces.result() == expected
    assert (expected.reasoning, expected.text) == (reasoning, answer)
    assert [c.arguments for c in expected.tool_calls] == ([arguments] if arguments else [])


@needs_samples
def test_vllm_nonstream_instruct_response() -> None:
    body = json.loads((SAMPLES / "vllm-ascend-docs-qwen3-vl-8b-instruct-nonstream.json").read_text())
    acc = StreamAccumulator()
    for event in events_from_compat_response(body, None):
        acc.add(event)
    result = acc.result()
    assert (result.reasoning, result.text, result.tool_calls, result.finish_reason) == (
        "",
        "The text in the illustration is: **TONGYI Qwen**",
        (),
        "stop",
    )
    assert (result.usage.input_tokens, result.usage.output_tokens, result.usage.total_tokens) == (107, 16, 123)
    assert result.model == "Qwen/Qwen3-VL-8B-Instruct"


@needs_samples
def test_logged_compat_error_bodies() -> None:
    from qwen_vl_core.errors import error_from_body

    lines = (SAMPLES / "errors-compat-captured-in-logs.jsonl").read_text().splitlines()
    errors = [error_from_body(400, line) for line in lines]
    assert [(type(e).__name__, e.code, e.request_id) for e in errors] == [
        ("InvalidRequestError", "invalid_parameter_error", "c99fa8f2-1154-9420-a8ce-57717ca32ee6"),
        ("InvalidRequestError", "invalid_parameter_error", "b41c1495-d9a4-4878-8ec5-48bb55fc921b"),
        ("InvalidRequestError", "invalid_parameter_error", "e8f6616b-f52b-4a64-be71-4c9d44841840"),
        ("ContextOverflowError", "invalid_parameter_error", "262914be-bc46-9270-9a8c-9940431806a3"),
    ]
    assert errors[1].message == (
        "<400> InternalError.Algo.InvalidParameter: 'messages' must contain the word 'json' in some form, to use "
        "'response_format' of type 'json_object'."
    )
