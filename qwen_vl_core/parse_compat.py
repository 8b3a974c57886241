"""OpenAI-compatible chunks (and whole responses) → neutral events.

Wire facts honoured here (see `../shared/wire-samples`): the first chunk may carry
`content: null, reasoning_content: ""`; answer chunks carry `reasoning_content: null` or omit it;
tool-call continuation fragments carry `id: ""` and no name; one chunk may hold fragments of two
parallel calls; usage arrives in a last chunk with `choices: []`; a chunk with an `error` key is an
error frame.

Whatever the bytes, a parser raises only library errors: a chunk that is valid JSON of an
unexpected shape (a number where a text belongs, a string where an object belongs) is an
`IncompleteStreamError` too, never an `AttributeError` from deep inside.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from .errors import APIStatusError, IncompleteStreamError, error_from_payload
from .events import (
    ReasoningDelta,
    StreamEnd,
    StreamEvent,
    TextDelta,
    Usage,
    UsageUpdate,
)
from .parse_common import SHAPE_ERRORS, ToolIndexes, malformed, string_field, tool_call_deltas
from .sse import ServerSentEvent

__all__ = ["CompatStreamParser", "events_from_compat_response", "usage_from_compat"]


def _detail(usage: Mapping[str, Any], group: str, key: str) -> int | None:
    details = usage.get(group)
    if isinstance(details, Mapping):
        value = details.get(key)
        if isinstance(value, int):
            return value
    return None


def usage_from_compat(usage: Mapping[str, Any]) -> Usage:
    prompt = int(usage.get("prompt_tokens") or 0)
    completion = int(usage.get("completion_tokens") or 0)
    return Usage(
        input_tokens=prompt,
        output_tokens=completion,
        total_tokens=int(usage.get("total_tokens") or prompt + completion),
        reasoning_tokens=_detail(usage, "completion_tokens_details", "reasoning_tokens"),
        image_tokens=_detail(usage, "prompt_tokens_details", "image_tokens"),
        video_tokens=_detail(usage, "prompt_tokens_details", "video_tokens"),
        cached_tokens=_detail(usage, "prompt_tokens_details", "cached_tokens"),
        raw=usage,
    )


class CompatStreamParser:
    """Stateful parser for one compat stream: `feed(chunk)` per `data:` JSON, then `end()`."""

    __slots__ = ("_tools", "finish_reason", "model", "received", "request_id", "response_id")

    def __init__(self, request_id: str | None = None) -> None:
        self._tools = ToolIndexes()
        self.request_id = request_id
        self.model: str | None = None
        self.response_id: str | None = None
        self.finish_reason: str | None = None
        self.received = False

    def feed_event(self, sse: ServerSentEvent) -> list[StreamEvent]:
        return self.feed_data(sse.data)

    def close(self) -> list[StreamEvent]:
        """End of body without `[DONE]`: fine if a finish reason arrived, else incomplete."""
        return [self.end()]

    def feed_data(self, data: str) -> list[StreamEvent]:
        """Parse one SSE `data` field; the `[DONE]` sentinel ends the stream."""
        if data == "[DONE]":
            return [self.end()]
        try:
            chunk = json.loads(data)
        except (ValueError, RecursionError) as exc:
            raise IncompleteStreamError(
                f"The stream carried a line that is not JSON: {data[:200]!r}",
                request_id=self.request_id,
            ) from exc
        if not isinstance(chunk, dict):
            raise IncompleteStreamError(f"Unexpected stream payload: {data[:200]!r}", request_id=self.request_id)
        try:
            return self.feed(chunk)
        except SHAPE_ERRORS as exc:
            raise malformed("a chunk", data, exc, self.request_id) from exc

    def feed(self, chunk: Mapping[str, Any]) -> list[StreamEvent]:
        out: list[StreamEvent] = []
        if self.model is None:
            if "error" in chunk:
                raise error_from_payload(chunk, request_id=self.request_id, mid_stream=self.received)
            self.model = string_field(chunk.get("model"))
            self.response_id = string_field(chunk.get("id"))
        choices = chunk.get("choices")
        if choices:
            choice = choices[0]
            delta = choice.get("delta")
            if delta:
                # vLLM (newer) and Ollama name the field `reasoning`; some servers send both, one null.
                reasoning = delta.get("reasoning_content") or delta.get("reasoning")
                if reasoning:
                    if type(reasoning) is not str:
                        raise TypeError(f"reasoning is a {type(reasoning).__name__}")
                    out.append(ReasoningDelta(reasoning))
                text = delta.get("content")
                if text:
                    if type(text) is not str:
                        raise TypeError(f"content is a {type(text).__name__}")
                    out.append(TextDelta(text))
                calls = delta.get("tool_calls")
                if calls:
                    tool_call_deltas(calls, out, self._tools)
            finish = choice.get("finish_reason")
            if finish:
                self.finish_reason = string_field(finish)
        elif "error" in chunk:
            raise error_from_payload(chunk, request_id=self.request_id, mid_stream=True)
        usage = chunk.get("usage")
        if usage:
            out.append(UsageUpdate(usage_from_compat(usage)))
        self.received = True
        return out

    def end(self) -> StreamEnd:
        """Close the stream; without a finish reason the output is incomplete."""
        if self.finish_reason is None:
            raise IncompleteStreamError(
                "The stream ended before the model finished (no finish_reason was received).",
                request_id=self.request_id,
            )
        return StreamEnd(self.finish_reason, self.model, self.response_id, self.request_id)


def events_from_compat_response(body: Mapping[str, Any], request_id: str | None = None) -> list[StreamEvent]:
    """A non-streaming response as the same events a stream would have produced."""
    if "error" in body:
        raise error_from_payload(body, request_id=request_id)
    try:
        return _response_events(body, request_id)
    except SHAPE_ERRORS as exc:
        raise APIStatusError(
            f"The response has an unexpected shape ({type(exc).__name__}: {exc}): {str(body)[:200]}",
            request_id=request_id,
        ) from exc


def _response_events(body: Mapping[str, Any], request_id: str | None) -> list[StreamEvent]:
    out: list[StreamEvent] = []
    choices = body.get("choices") or []
    finish = "stop"
    if choices:
        choice = choices[0]
        message = choice.get("message") or {}
        reasoning = string_field(message.get("reasoning_content") or message.get("reasoning"))
        if reasoning:
            out.append(ReasoningDelta(reasoning))
        content = message.get("content")
        if isinstance(content, list):  # some gateways return content parts
            content = "".join(p.get("text", "") for p in content if isinstance(p, Mapping))
        content = string_field(content)
        if content:
            out.append(TextDelta(content))
        calls = message.get("tool_calls")
        if calls:
            tool_call_deltas(calls, out)
        finish = string_field(choice.get("finish_reason")) or finish
    usage = body.get("usage")
    if usage:
        out.append(UsageUpdate(usage_from_compat(usage)))
    out.append(StreamEnd(finish, string_field(body.get("model")), string_field(body.get("id")), request_id))
    return out
