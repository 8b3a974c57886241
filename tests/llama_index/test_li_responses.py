"""`_responses`: core events / results → `ChatResponse`s, and tool calls back out (pure, no server)."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest
from llama_index.core.base.llms.types import (
    ChatMessage,
    ChatResponse,
    MessageRole,
    TextBlock,
    ThinkingBlock,
    ToolCallBlock,
)
from llama_index.core.llms.llm import ToolSelection

from llama_index_qwen_vl._responses import StreamResponses, final_response, tool_selections, usage_kwargs
from qwen_vl_core import ChatResult, ParsedToolCall, StreamAccumulator, Usage
from qwen_vl_core.events import ReasoningDelta, StreamEnd, StreamEvent, TextDelta, ToolCallDelta, UsageUpdate

RAW_USAGE = {
    "prompt_tokens": 10,
    "completion_tokens": 7,
    "total_tokens": 17,
    "completion_tokens_details": {"reasoning_tokens": 4},
}
USAGE = Usage(10, 7, 17, reasoning_tokens=4, raw=RAW_USAGE)
END = StreamEnd("stop", model="qwen3-vl-plus", response_id="chatcmpl-1", request_id="req-1")
RAW = {"id": "chatcmpl-1", "model": "qwen3-vl-plus", "request_id": "req-1", "finish_reason": "stop", "usage": RAW_USAGE}


def _assistant(*blocks: object, **kwargs: object) -> ChatMessage:
    return ChatMessage(role=MessageRole.ASSISTANT, blocks=list(blocks), additional_kwargs=dict(kwargs))


def test_usage_kwargs() -> None:
    assert usage_kwargs(USAGE) == {
        "prompt_tokens": 10,
        "completion_tokens": 7,
        "total_tokens": 17,
        "reasoning_tokens": 4,
    }
    assert usage_kwargs(Usage(1, 2, 3)) == {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3}
    assert usage_kwargs(None) == {}


def _converter() -> Callable[[StreamEvent], ChatResponse | None]:
    """Events as the client hands them over: folded into the stream's accumulator, then converted."""
    accumulator = StreamAccumulator()
    to_response = StreamResponses(accumulator)

    def convert(event: StreamEvent) -> ChatResponse | None:
        accumulator.add(event)
        return to_response(event)

    return convert


def test_stream_of_reasoning_then_text() -> None:
    to_response = _converter()
    events = [
        ReasoningDelta("Look"),
        ReasoningDelta("ing."),
        TextDelta("A "),
        TextDelta("cat."),
        UsageUpdate(USAGE),
        END,
    ]
    responses = [to_response(e) for e in events]
    assert responses == [
        ChatResponse(message=_assistant(TextBlock(text="")), delta="", additional_kwargs={"thinking_delta": "Look"}),
        ChatResponse(message=_assistant(TextBlock(text="")), delta="", additional_kwargs={"thinking_delta": "ing."}),
        ChatResponse(message=_assistant(TextBlock(text="A ")), delta="A "),
        ChatResponse(message=_assistant(TextBlock(text="A cat.")), delta="cat."),
        None,
        ChatResponse(
            message=_assistant(ThinkingBlock(content="Looking.", num_tokens=4), TextBlock(text="A cat.")),
            delta="",
            raw=RAW,
            additional_kwargs={
                "reasoning_content": "Looking.",
                "prompt_tokens": 10,
                "completion_tokens": 7,
                "total_tokens": 17,
                "reasoning_tokens": 4,
                "finish_reason": "stop",
            },
        ),
    ]


def test_stream_of_split_tool_calls_keeps_partial_text_and_ends_with_parsed_args() -> None:
    to_response = _converter()
    events = [
        ToolCallDelta(0, "call_a", "zoom", '{"fac'),
        ToolCallDelta(1, "call_b", "crop", ""),
        ToolCallDelta(0, None, None, 'tor": 2, "note": "a b"}'),
        ToolCallDelta(1, None, None, "{}"),
        UsageUpdate(USAGE),
        StreamEnd("tool_calls", model="qwen3-vl-plus", response_id="chatcmpl-1", request_id="req-1"),
    ]
    responses = [to_response(e) for e in events]
    assert responses[2] == ChatResponse(
        message=_assistant(
            TextBlock(text=""),
            ToolCallBlock(tool_call_id="call_a", tool_name="zoom", tool_kwargs='{"factor": 2, "note": "a b"}'),
            ToolCallBlock(tool_call_id="call_b", tool_name="crop", tool_kwargs=""),
            tool_calls=[
                {
                    "id": "call_a",
                    "type": "function",
                    "function": {"name": "zoom", "arguments": '{"factor": 2, "note": "a b"}'},
                },
                {"id": "call_b", "type": "function", "function": {"name": "crop", "arguments": ""}},
            ],
        ),
        delta="",
    )
    final = responses[-1]
    assert final is not None
    assert final.message.blocks == [
        TextBlock(text=""),
        ToolCallBlock(tool_call_id="call_a", tool_name="zoom", tool_kwargs={"factor": 2, "note": "a b"}),
        ToolCallBlock(tool_call_id="call_b", tool_name="crop", tool_kwargs={}),
    ]
    assert final.message.additional_kwargs == {
        "tool_calls": [
            {
                "id": "call_a",
                "type": "function",
                "function": {"name": "zoom", "arguments": '{"factor": 2, "note": "a b"}'},
            },
            {"id": "call_b", "type": "function", "function": {"name": "crop", "arguments": "{}"}},
        ]
    }
    assert final.additional_kwargs["finish_reason"] == "tool_calls"


def test_partial_tool_arguments_parse_leniently_while_streaming() -> None:
    to_response = _converter()
    chunk = to_response(ToolCallDelta(0, "call_a", "zoom", '{"factor": 2, "note": "a b'))
    assert chunk is not None
    # llama-index-core's parse_partial_json (what the OpenAI peer uses) nulls an unfinished string.
    assert tool_selections(chunk, error_on_no_tool_call=False) == [
        ToolSelection(tool_id="call_a", tool_name="zoom", tool_kwargs={"factor": 2, "note": None})
    ]
    garbage = to_response(ToolCallDelta(0, None, None, '"}]]'))  # a mismatched bracket
    assert garbage is not None
    assert tool_selections(garbage, error_on_no_tool_call=False) == [
        ToolSelection(tool_id="call_a", tool_name="zoom", tool_kwargs={})
    ]


def test_final_response_from_a_plain_result() -> None:
    response = final_response(ChatResult(reasoning="", text="Hi.", usage=None, finish_reason="stop"))
    assert response == ChatResponse(
        message=_assistant(TextBlock(text="Hi.")),
        delta=None,
        raw={"id": None, "model": None, "request_id": None, "finish_reason": "stop", "usage": None},
        additional_kwargs={"finish_reason": "stop"},
    )


def test_invalid_final_arguments_are_kept_raw_and_read_as_empty_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    call = ParsedToolCall(0, "call_a", "zoom", '{"factor": 2', None, "arguments are not valid JSON")
    response = final_response(ChatResult(reasoning="", text="", tool_calls=(call,), finish_reason="tool_calls"))
    with caplog.at_level(logging.WARNING, logger="llama_index_qwen_vl"):
        assert tool_selections(response) == [ToolSelection(tool_id="call_a", tool_name="zoom", tool_kwargs={})]
    assert [r.getMessage() for r in caplog.records] == [
        "The model called tool 'zoom' (id 'call_a') with arguments that are not valid JSON (Expecting ',' "
        "delimiter: line 1 column 13 (char 12)): '{\"factor\": 2'; using {} (set strict_tool_args=True to raise "
        "instead)."
    ]


def test_invalid_final_arguments_are_kept_raw_and_raise_when_strict() -> None:
    call = ParsedToolCall(0, "call_a", "zoom", '{"factor": 2', None, "arguments are not valid JSON")
    response = final_response(ChatResult(reasoning="", text="", tool_calls=(call,), finish_reason="tool_calls"))
    assert response.message.blocks[1] == ToolCallBlock(
        tool_call_id="call_a", tool_name="zoom", tool_kwargs='{"factor": 2'
    )
    with pytest.raises(
        ValueError,
        match=r"^The model called tool 'zoom' \(id 'call_a'\) with arguments that are "
        r"not valid JSON \(Expecting",
    ):
        tool_selections(response, strict=True)


def test_non_object_final_arguments_raise_when_strict() -> None:
    call = ParsedToolCall(0, "call_a", "zoom", "[1]", None, "not an object")
    response = final_response(ChatResult(reasoning="", text="", tool_calls=(call,), finish_reason="tool_calls"))
    with pytest.raises(ValueError, match=r"with arguments that are not a JSON object: '\[1\]'$"):
        tool_selections(response, strict=True)


def test_no_tool_call_error_quotes_the_models_text() -> None:
    response = ChatResponse(message=_assistant(ThinkingBlock(content="hmm"), TextBlock(text="It is 42.")))
    with pytest.raises(
        ValueError,
        match=r"^Expected at least one tool call, but the model answered without one\. "
        r"Its reply: 'It is 42\.'$",
    ):
        tool_selections(response)
    assert tool_selections(response, error_on_no_tool_call=False) == []


def test_tool_selections_from_legacy_additional_kwargs() -> None:
    message = _assistant(
        TextBlock(text=""),
        tool_calls=[
            {"id": "c1", "type": "function", "function": {"name": "zoom", "arguments": '{"f": 1}'}},
            {"id": "c2", "type": "function", "function": {"name": "crop", "arguments": None}},
        ],
    )
    assert tool_selections(ChatResponse(message=message)) == [
        ToolSelection(tool_id="c1", tool_name="zoom", tool_kwargs={"f": 1}),
        ToolSelection(tool_id="c2", tool_name="crop", tool_kwargs={}),
    ]
