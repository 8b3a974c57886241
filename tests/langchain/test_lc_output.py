"""`_output`: core results and events → LangChain messages and chunks, tested as pure functions."""

from __future__ import annotations

from langchain_core.messages import AIMessage, AIMessageChunk
from langchain_core.outputs import ChatGenerationChunk

from langchain_qwen_vl._output import ChunkConverter, result_to_message, usage_metadata
from qwen_vl_core import (
    ChatResult,
    ParsedToolCall,
    ReasoningDelta,
    StreamEnd,
    TextDelta,
    ToolCallDelta,
    Usage,
    UsageUpdate,
)

RAW = {
    "prompt_tokens": 544,
    "completion_tokens": 590,
    "total_tokens": 1134,
    "prompt_tokens_details": {"text_tokens": 24, "image_tokens": 520},
    "completion_tokens_details": {"text_tokens": 590},
}
QVQ_USAGE = Usage(544, 590, 1134, image_tokens=520, raw=RAW)


def test_usage_of_the_real_qvq_capture_has_image_tokens_and_no_reasoning_key() -> None:
    assert usage_metadata(QVQ_USAGE) == {
        "input_tokens": 544,
        "output_tokens": 590,
        "total_tokens": 1134,
        "input_token_details": {"image": 520},
    }


def test_usage_with_every_detail() -> None:
    usage = Usage(10, 20, 30, reasoning_tokens=15, image_tokens=4, video_tokens=3, cached_tokens=2)
    assert usage_metadata(usage) == {
        "input_tokens": 10,
        "output_tokens": 20,
        "total_tokens": 30,
        "input_token_details": {"cache_read": 2, "image": 4, "video": 3},
        "output_token_details": {"reasoning": 15},
    }


def test_one_chunk_per_delta_and_everything_else_on_the_last() -> None:
    convert = ChunkConverter("qvq-max").convert
    events = [
        ReasoningDelta("Look"),
        TextDelta("12"),
        ToolCallDelta(0, "call_1", "area", '{"w":'),
        ToolCallDelta(0, None, None, " 3}"),
        UsageUpdate(QVQ_USAGE),
        StreamEnd("stop", "qvq-max", "chatcmpl-r1", "r1"),
    ]
    chunks = [convert(e) for e in events]
    assert chunks == [
        ChatGenerationChunk(message=AIMessageChunk(content="", additional_kwargs={"reasoning_content": "Look"})),
        ChatGenerationChunk(message=AIMessageChunk(content="12")),
        ChatGenerationChunk(
            message=AIMessageChunk(
                content="",
                tool_call_chunks=[
                    {"name": "area", "args": '{"w":', "id": "call_1", "index": 0, "type": "tool_call_chunk"}
                ],
            )
        ),
        ChatGenerationChunk(
            message=AIMessageChunk(
                content="",
                tool_call_chunks=[{"name": None, "args": " 3}", "id": None, "index": 0, "type": "tool_call_chunk"}],
            )
        ),
        None,
        ChatGenerationChunk(
            message=AIMessageChunk(
                content="",
                chunk_position="last",
                id="chatcmpl-r1",
                usage_metadata=usage_metadata(QVQ_USAGE),
                response_metadata={
                    "model_name": "qvq-max",
                    "finish_reason": "stop",
                    "model_provider": "dashscope",
                    "request_id": "r1",
                    "token_usage": RAW,
                },
            )
        ),
    ]


def test_stream_end_without_usage_or_model_falls_back_to_the_requested_model() -> None:
    chunk = ChunkConverter("qwen3-vl-plus").convert(StreamEnd("length"))
    assert chunk == ChatGenerationChunk(
        message=AIMessageChunk(
            content="",
            chunk_position="last",
            response_metadata={"model_name": "qwen3-vl-plus", "finish_reason": "length", "model_provider": "dashscope"},
        )
    )


def test_result_to_message_splits_valid_and_invalid_tool_calls_without_repair() -> None:
    result = ChatResult(
        reasoning="",
        text="",
        tool_calls=(
            ParsedToolCall(0, "call_1", "area", '{"w": 3}', {"w": 3}),
            ParsedToolCall(1, "call_2", "area", '{"w": 3', None, "arguments are not valid JSON (boom)"),
        ),
        usage=None,
        finish_reason="tool_calls",
        model="qwen3-vl-plus",
        response_id="chatcmpl-x",
        request_id="x",
    )
    assert result_to_message(result, "qwen3-vl-plus") == AIMessage(
        content="",
        tool_calls=[{"name": "area", "args": {"w": 3}, "id": "call_1", "type": "tool_call"}],
        invalid_tool_calls=[
            {
                "name": "area",
                "args": '{"w": 3',
                "id": "call_2",
                "error": "arguments are not valid JSON (boom)",
                "type": "invalid_tool_call",
            }
        ],
        response_metadata={
            "model_name": "qwen3-vl-plus",
            "finish_reason": "tool_calls",
            "model_provider": "dashscope",
            "request_id": "x",
        },
        id="chatcmpl-x",
    )


def test_reasoning_key_only_when_there_is_reasoning() -> None:
    empty = result_to_message(ChatResult(reasoning="", text="hi", finish_reason="stop"), "m")
    full = result_to_message(ChatResult(reasoning="r", text="hi", finish_reason="stop"), "m")
    assert empty.additional_kwargs == {}
    assert empty.content_blocks == [{"type": "text", "text": "hi"}]
    assert full.additional_kwargs == {"reasoning_content": "r"}
    assert full.content_blocks == [{"type": "reasoning", "reasoning": "r"}, {"type": "text", "text": "hi"}]
