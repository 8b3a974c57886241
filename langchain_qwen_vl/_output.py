"""Neutral results and stream events → LangChain `AIMessage` / `AIMessageChunk`.

Both paths build the same message: `invoke` gives exactly the `+`-sum of the `stream` chunks.
So every field that LangChain merges by concatenation (`response_metadata`, usage) travels only on
the final chunk, reasoning only on reasoning chunks, and the provider's response id is the id.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, cast

from langchain_core.messages import AIMessage, AIMessageChunk
from langchain_core.messages.ai import UsageMetadata
from langchain_core.messages.tool import invalid_tool_call, tool_call, tool_call_chunk
from langchain_core.outputs import ChatGenerationChunk

from qwen_vl_core import (
    ChatResult,
    ReasoningDelta,
    StreamEnd,
    StreamEvent,
    TextDelta,
    ToolCallDelta,
    Usage,
    UsageUpdate,
)

__all__ = ["PROVIDER", "ChunkConverter", "response_metadata", "result_to_message", "usage_metadata"]

PROVIDER = "dashscope"
"""`model_provider` in `response_metadata`; langchain-core's best-effort block parser then puts the
`reasoning_content` first in `content_blocks` (no translator is registered for it)."""


def usage_metadata(usage: Usage) -> UsageMetadata:
    """Core usage → LangChain usage; image / video tokens are extra `input_token_details` keys."""
    meta: dict[str, Any] = {
        "input_tokens": usage.input_tokens,
        "output_tokens": usage.output_tokens,
        "total_tokens": usage.total_tokens,
    }
    inputs: dict[str, int] = {}
    if usage.cached_tokens is not None:
        inputs["cache_read"] = usage.cached_tokens
    if usage.image_tokens is not None:
        inputs["image"] = usage.image_tokens
    if usage.video_tokens is not None:
        inputs["video"] = usage.video_tokens
    if inputs:
        meta["input_token_details"] = inputs
    if usage.reasoning_tokens is not None:
        meta["output_token_details"] = {"reasoning": usage.reasoning_tokens}
    return cast("UsageMetadata", meta)


def response_metadata(
    *,
    model: str,
    finish_reason: str | None,
    request_id: str | None,
    usage: Usage | None,
    images: Sequence[Mapping[str, Any] | None] = (),
) -> dict[str, Any]:
    meta: dict[str, Any] = {"model_name": model, "finish_reason": finish_reason, "model_provider": PROVIDER}
    if request_id:
        meta["request_id"] = request_id
    if usage is not None and usage.raw is not None:
        meta["token_usage"] = dict(usage.raw)
    if images:  # the request's images, for QwenGroundingParser (boxes back to the user's pixels)
        meta["qwen_vl_images"] = [dict(i) if i is not None else None for i in images]
    return meta


def result_to_message(result: ChatResult, requested_model: str) -> AIMessage:
    """A final core result → `AIMessage`; malformed tool arguments become `invalid_tool_calls`, raw."""
    calls = [tool_call(name=c.name, args=c.args, id=c.id) for c in result.tool_calls if c.args is not None]
    invalid = [
        invalid_tool_call(name=c.name, args=c.arguments, id=c.id, error=c.error)
        for c in result.tool_calls
        if c.args is None
    ]
    return AIMessage(
        content=result.text,
        additional_kwargs={"reasoning_content": result.reasoning} if result.reasoning else {},
        tool_calls=calls,
        invalid_tool_calls=invalid,
        usage_metadata=usage_metadata(result.usage) if result.usage is not None else None,
        response_metadata=response_metadata(
            model=result.model or requested_model,
            finish_reason=result.finish_reason,
            request_id=result.request_id,
            usage=result.usage,
            images=result.images,
        ),
        id=result.response_id,
    )


class ChunkConverter:
    """One stream's events → chunks: exactly one `AIMessageChunk` and one `ChatGenerationChunk` per delta.

    Usage is held back and sent on the final chunk with the metadata, so exactly one chunk carries
    `usage_metadata` and `model_name` (what langchain-tests checks).
    """

    __slots__ = ("_images", "_model", "_usage")

    def __init__(self, requested_model: str, images: Sequence[Mapping[str, Any] | None] = ()) -> None:
        self._model = requested_model
        self._usage: Usage | None = None
        self._images = images
        """The stream's image geometries (filled before the first event, read at the end)."""

    def convert(self, event: StreamEvent) -> ChatGenerationChunk | None:
        if type(event) is ReasoningDelta:
            return ChatGenerationChunk(
                message=AIMessageChunk(content="", additional_kwargs={"reasoning_content": event.text})
            )
        if type(event) is TextDelta:
            return ChatGenerationChunk(message=AIMessageChunk(content=event.text))
        if type(event) is ToolCallDelta:
            chunk = tool_call_chunk(name=event.name, args=event.arguments, id=event.id, index=event.index)
            return ChatGenerationChunk(message=AIMessageChunk(content="", tool_call_chunks=[chunk]))
        if type(event) is UsageUpdate:
            self._usage = event.usage
            return None
        if type(event) is not StreamEnd:
            raise TypeError(f"Unexpected stream event {event!r}")
        usage = self._usage
        return ChatGenerationChunk(
            message=AIMessageChunk(
                content="",
                chunk_position="last",
                id=event.response_id,
                usage_metadata=usage_metadata(usage) if usage is not None else None,
                response_metadata=response_metadata(
                    model=event.model or self._model,
                    finish_reason=event.finish_reason,
                    request_id=event.request_id,
                    usage=usage,
                    images=self._images,
                ),
            )
        )
