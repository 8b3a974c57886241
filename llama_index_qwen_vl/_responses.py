"""Core results and stream events → LlamaIndex `ChatResponse`s, and tool calls back out of them.

Shapes (the llama-index-llms-openai convention, which the agents read):
- a streamed chunk: `delta` is answer text only, `additional_kwargs["thinking_delta"]` this chunk's
  reasoning only, `message.content` the answer so far, `ToolCallBlock`s with the arguments so far
  (partial JSON text);
- the final message (`chat()`, and the last streamed chunk): `ThinkingBlock` first, then the text,
  then `ToolCallBlock`s with the parsed arguments; `additional_kwargs` holds `reasoning_content`,
  token counts and `finish_reason`; `raw` holds ids and the API's usage object verbatim.

Streamed chunks do not repeat the reasoning so far: that would copy the whole reasoning on every
event (quadratic in a 100,000-event stream). It arrives as `thinking_delta`s and, whole, at the end.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from llama_index.core.base.llms.types import (
    ChatMessage,
    ChatResponse,
    MessageRole,
    TextBlock,
    ThinkingBlock,
    ToolCallBlock,
)
from llama_index.core.llms.llm import ToolSelection
from llama_index.core.llms.utils import parse_partial_json

from qwen_vl_core import ChatResult, StreamAccumulator, Usage
from qwen_vl_core.events import ReasoningDelta, StreamEnd, StreamEvent, TextDelta, ToolCallDelta

__all__ = ["StreamResponses", "final_response", "tool_selections", "usage_kwargs"]

_ASSISTANT = MessageRole.ASSISTANT
logger = logging.getLogger("llama_index_qwen_vl")


def usage_kwargs(usage: Usage | None) -> dict[str, Any]:
    """Token counts under the names LlamaIndex token counters read."""
    if usage is None:
        return {}
    out: dict[str, Any] = {
        "prompt_tokens": usage.input_tokens,
        "completion_tokens": usage.output_tokens,
        "total_tokens": usage.total_tokens,
    }
    if usage.reasoning_tokens is not None:
        out["reasoning_tokens"] = usage.reasoning_tokens
    return out


def _tool_call_dict(call_id: str, name: str, arguments: str) -> dict[str, Any]:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


def final_response(result: ChatResult, *, delta: str | None = None) -> ChatResponse:
    """The complete answer: what `chat()` returns and the last chunk of a stream."""
    blocks: list[Any] = []
    usage = result.usage
    if result.reasoning:
        num_tokens = usage.reasoning_tokens if usage is not None else None
        blocks.append(ThinkingBlock(content=result.reasoning, num_tokens=num_tokens))
    blocks.append(TextBlock(text=result.text))
    message_kwargs: dict[str, Any] = {}
    if result.tool_calls:
        for call in result.tool_calls:
            kwargs: dict[str, Any] | str = call.args if call.args is not None else call.arguments
            blocks.append(ToolCallBlock(tool_call_id=call.id, tool_name=call.name, tool_kwargs=kwargs))
        message_kwargs["tool_calls"] = [_tool_call_dict(c.id, c.name, c.arguments) for c in result.tool_calls]
    additional: dict[str, Any] = {}
    if result.reasoning:
        additional["reasoning_content"] = result.reasoning
    additional.update(usage_kwargs(usage))
    additional["finish_reason"] = result.finish_reason
    raw: dict[str, Any] = {
        "id": result.response_id,
        "model": result.model,
        "request_id": result.request_id,
        "finish_reason": result.finish_reason,
        "usage": dict(usage.raw) if usage is not None and usage.raw is not None else None,
    }
    if result.images:  # the request's images, for grounding_from_response (boxes back to the user's pixels)
        raw["qwen_vl_images"] = [dict(i) if i is not None else None for i in result.images]
    return ChatResponse(
        message=ChatMessage(role=_ASSISTANT, blocks=blocks, additional_kwargs=message_kwargs),
        delta=delta,
        raw=raw,
        additional_kwargs=additional,
    )


class StreamResponses:
    """Events in, `ChatResponse`s out: one per reasoning / text / tool-call event, one at the end.

    Tool calls and the final answer are read from the stream's own accumulator (the core merges
    tool-call fragments once); this class only keeps the answer so far for `message.content`.
    The hot path: a reasoning event costs one `ChatResponse`; the answer so far is only extended
    on text events.
    """

    __slots__ = ("_acc", "_images", "_text", "_tools")

    def __init__(self, accumulator: StreamAccumulator, images: Sequence[Mapping[str, Any] | None] = ()) -> None:
        self._acc = accumulator
        self._images = images
        self._text = ""
        self._tools: list[tuple[int, str, str, str]] = []

    def _message(self) -> ChatMessage:
        if not self._tools:
            return ChatMessage(role=_ASSISTANT, blocks=[TextBlock(text=self._text)])
        blocks: list[Any] = [TextBlock(text=self._text)]
        blocks.extend(
            ToolCallBlock(tool_call_id=call_id or None, tool_name=name, tool_kwargs=args)
            for _, call_id, name, args in self._tools
        )
        calls = [_tool_call_dict(call_id, name, args) for _, call_id, name, args in self._tools]
        return ChatMessage(role=_ASSISTANT, blocks=blocks, additional_kwargs={"tool_calls": calls})

    def __call__(self, event: StreamEvent) -> ChatResponse | None:
        kind = type(event)
        if kind is ReasoningDelta:
            return ChatResponse(message=self._message(), delta="", additional_kwargs={"thinking_delta": event.text})  # type: ignore[union-attr]
        if kind is TextDelta:
            text = event.text  # type: ignore[union-attr]
            self._text += text
            return ChatResponse(message=self._message(), delta=text)
        if kind is ToolCallDelta:
            self._tools = self._acc.tool_calls_so_far()
            return ChatResponse(message=self._message(), delta="")
        if kind is StreamEnd:
            return final_response(replace(self._acc.result(), images=tuple(self._images)), delta="")
        return None


def _is_final(response: ChatResponse) -> bool:
    return "finish_reason" in response.additional_kwargs


def _kwargs(name: str, call_id: str, value: Any, *, final: bool, strict: bool) -> dict[str, Any]:
    """Arguments as a dict: partial JSON is tolerated while streaming; in a final message, arguments
    that are not a JSON object are `{}` and a warning (or an error with `strict`)."""
    if isinstance(value, dict):
        return value
    if value is None or (isinstance(value, str) and not value.strip()):
        return {}
    if not final:
        try:
            parsed = parse_partial_json(value)
        except (ValueError, TypeError):
            return {}
        return parsed if isinstance(parsed, dict) else {}
    try:
        parsed = json.loads(value)
        problem = None if isinstance(parsed, dict) else "not a JSON object"
    except ValueError as exc:
        problem = f"not valid JSON ({exc})"
    if problem is None:
        return parsed
    message = f"The model called tool {name!r} (id {call_id!r}) with arguments that are {problem}: {value[:200]!r}"
    if strict:
        raise ValueError(message)
    logger.warning("%s; using {} (set strict_tool_args=True to raise instead).", message)
    return {}


def _legacy_selections(items: list[Any], final: bool, strict: bool) -> list[ToolSelection]:
    out = []
    for item in items:
        if isinstance(item, dict):
            function = item.get("function") or {}
            call_id, name, args = item.get("id") or "", function.get("name") or "", function.get("arguments")
        else:
            call_id, name, args = item.id or "", item.function.name or "", item.function.arguments
        out.append(
            ToolSelection(
                tool_id=call_id, tool_name=name, tool_kwargs=_kwargs(name, call_id, args, final=final, strict=strict)
            )
        )
    return out


def tool_selections(
    response: ChatResponse, *, error_on_no_tool_call: bool = True, strict: bool = False
) -> list[ToolSelection]:
    """Tool calls of a response (or a streamed chunk) as `ToolSelection`s."""
    final = _is_final(response)
    blocks = [b for b in response.message.blocks if isinstance(b, ToolCallBlock)]
    if blocks:
        return [
            ToolSelection(
                tool_id=b.tool_call_id or "",
                tool_name=b.tool_name,
                tool_kwargs=_kwargs(b.tool_name, b.tool_call_id or "", b.tool_kwargs, final=final, strict=strict),
            )
            for b in blocks
        ]
    legacy = list(response.message.additional_kwargs.get("tool_calls") or ())
    selections = _legacy_selections(legacy, final, strict)
    if not selections and error_on_no_tool_call:
        raise ValueError(
            "Expected at least one tool call, but the model answered without one. Its reply: "
            f"{(response.message.content or '')[:500]!r}"
        )
    return selections
