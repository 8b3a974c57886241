"""Native DashScope SSE events (and whole responses) → neutral events.

Wire facts honoured here (see `../shared/wire-samples/cnblogs-native-*`): `finish_reason` is the
string `"null"` until the end; `content` is `[]` while reasoning and `[{"text": ...}]` while
answering (a plain string on the text-generation endpoint); `reasoning_content` is absent in
answer and tool-call events; `usage` is repeated, cumulatively, on every event, so it is reported
once, from the finishing event; an `event:error` event (on an HTTP 200 stream) carries the real
status in a `:HTTP_STATUS/4xx` comment. As in `parse_compat`, an event of an unexpected shape is an
`IncompleteStreamError`, never a crash.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from .errors import APIStatusError, IncompleteStreamError, error_from_payload
from .events import ReasoningDelta, StreamEnd, StreamEvent, TextDelta, Usage, UsageUpdate
from .parse_common import SHAPE_ERRORS, ToolIndexes, malformed, tool_call_deltas
from .sse import ServerSentEvent

__all__ = ["NativeStreamParser", "events_from_native_response", "usage_from_native"]


def _int(mapping: Any, key: str) -> int | None:
    if isinstance(mapping, Mapping):
        value = mapping.get(key)
        if isinstance(value, int):
            return value
    return None


def usage_from_native(usage: Mapping[str, Any]) -> Usage:
    inputs, outputs = usage.get("input_tokens_details"), usage.get("output_tokens_details")
    input_tokens = int(usage.get("input_tokens") or 0)
    output_tokens = int(usage.get("output_tokens") or 0)
    return Usage(
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        total_tokens=int(usage.get("total_tokens") or input_tokens + output_tokens),
        reasoning_tokens=_int(outputs, "reasoning_tokens"),
        image_tokens=_int(inputs, "image_tokens") or _int(usage, "image_tokens"),
        video_tokens=_int(inputs, "video_tokens") or _int(usage, "video_tokens"),
        cached_tokens=_int(usage.get("prompt_tokens_details"), "cached_tokens"),
        raw=usage,
    )


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(item["text"] for item in content if isinstance(item, Mapping) and "text" in item)
    return ""


def _message_events(message: Mapping[str, Any], out: list[StreamEvent], tools: ToolIndexes | None = None) -> None:
    reasoning = message.get("reasoning_content")
    if reasoning:
        if type(reasoning) is not str:
            raise TypeError(f"reasoning_content is a {type(reasoning).__name__}")
        out.append(ReasoningDelta(reasoning))
    text = _content_text(message.get("content"))
    if text:
        out.append(TextDelta(text))
    calls = message.get("tool_calls")
    if calls:
        tool_call_deltas(calls, out, tools)


class NativeStreamParser:
    """Stateful parser for one native stream: `feed_event(sse)` per event, `close()` at end of body."""

    __slots__ = ("_tools", "_usage", "finish_reason", "model", "received", "request_id")

    def __init__(self, request_id: str | None = None, model: str | None = None) -> None:
        self._tools: ToolIndexes | None = ToolIndexes()
        self.request_id = request_id
        self.model = model  # the native stream does not name the model; the caller passes the requested one
        self.finish_reason: str | None = None
        self.received = False
        self._usage: Mapping[str, Any] | None = None

    @property
    def response_id(self) -> str | None:
        """The native protocol identifies a response by its request id."""
        return self.request_id

    def feed_event(self, sse: ServerSentEvent) -> list[StreamEvent]:
        try:
            payload = json.loads(sse.data)
        except (ValueError, RecursionError) as exc:
            raise IncompleteStreamError(
                f"The stream carried a line that is not JSON: {sse.data[:200]!r}", request_id=self.request_id
            ) from exc
        if not isinstance(payload, dict):
            raise IncompleteStreamError(f"Unexpected stream payload: {sse.data[:200]!r}", request_id=self.request_id)
        try:
            if sse.event == "error" or (sse.status is not None and sse.status >= 400):
                raise error_from_payload(
                    payload, status=sse.status, request_id=self.request_id, mid_stream=self.received
                )
            return self.feed(payload)
        except SHAPE_ERRORS as exc:
            raise malformed("an event", sse.data, exc, self.request_id) from exc

    def feed(self, payload: Mapping[str, Any]) -> list[StreamEvent]:
        out: list[StreamEvent] = []
        if self.request_id is None:
            request_id = payload.get("request_id")
            self.request_id = request_id if type(request_id) is str else None
        usage = payload.get("usage")
        if usage:
            self._usage = usage
        output = payload.get("output") or {}
        choices = output.get("choices")
        finish: Any = None
        if choices:
            choice = choices[0]
            message = choice.get("message")
            if message:
                _message_events(message, out, self._tools)
            finish = choice.get("finish_reason")
        elif "text" in output:  # legacy result_format "text"
            text = output["text"]
            if text:
                if type(text) is not str:
                    raise TypeError(f"text is a {type(text).__name__}")
                out.append(TextDelta(text))
            finish = output.get("finish_reason")
        self.received = True
        if finish and finish != "null":
            if type(finish) is not str:
                raise TypeError(f"finish_reason is a {type(finish).__name__}")
            self.finish_reason = finish
            out.extend(self._end())
        return out

    def _end(self) -> list[StreamEvent]:
        events: list[StreamEvent] = []
        if self._usage:
            events.append(UsageUpdate(usage_from_native(self._usage)))
        events.append(StreamEnd(self.finish_reason or "stop", self.model, self.request_id, self.request_id))
        return events

    def close(self) -> list[StreamEvent]:
        """End of body: the finishing event already ended the stream, or it is incomplete."""
        if self.finish_reason is None:
            raise IncompleteStreamError(
                "The stream ended before the model finished (no finish_reason was received).",
                request_id=self.request_id,
            )
        return []


def events_from_native_response(
    body: Mapping[str, Any], request_id: str | None = None, model: str | None = None
) -> list[StreamEvent]:
    """A non-streaming native response as the same events a stream would have produced."""
    if "code" in body and "output" not in body:
        raise error_from_payload(body, request_id=request_id)
    parser = NativeStreamParser(request_id, model)
    parser._tools = None  # a whole response: each item is a whole call, a missing index is its position
    try:
        events = parser.feed(body)
        if parser.finish_reason is None:
            parser.finish_reason = "stop"
            events.extend(parser._end())
    except SHAPE_ERRORS as exc:
        raise APIStatusError(
            f"The response has an unexpected shape ({type(exc).__name__}: {exc}): {str(body)[:200]}",
            request_id=parser.request_id,
        ) from exc
    return events
