"""Scripting types for the emulator: what the next chat request should get back.

All types are frozen dataclasses holding plain data, so one script can be enqueued on several
emulators and compared in assertions. Rendering them to wire bytes is the protocol modules' job.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

__all__ = [
    "Disconnect",
    "ErrorFrame",
    "ErrorReply",
    "Fault",
    "MalformedLine",
    "NoDone",
    "NoFinish",
    "Reply",
    "ResetBeforeHeaders",
    "Script",
    "ToolCallReply",
]


@dataclass(frozen=True)
class Disconnect:
    """Close the socket after `after_chunks` data events (or after the last one, if fewer), without
    the terminating HTTP chunk.

    The client sees a truncated chunked body (httpx: `RemoteProtocolError`). On a non-streaming
    request the headers and the first half of the body are sent, then the socket is closed.
    """

    after_chunks: int


@dataclass(frozen=True)
class ResetBeforeHeaders:
    """Read the request, then reset the TCP connection (RST) without sending any response."""


@dataclass(frozen=True)
class ErrorFrame:
    """Emit `data: {"error": {...}}` after `after_chunks` data events, then end the stream.

    Models a mid-stream moderation failure (protocol doc §4.1); no `[DONE]` follows. On the native
    route it is an `event:error` event with `:HTTP_STATUS/400` and `{"code", "message", "request_id"}`
    (the code translated like `ErrorReply.code`).
    """

    after_chunks: int
    message: str
    code: str = "data_inspection_failed"
    type: str = "data_inspection_failed"


@dataclass(frozen=True)
class MalformedLine:
    """Emit `line` as one raw event after `after_chunks` data events; the stream then goes on."""

    after_chunks: int
    line: str = 'data: {"choices": ['


@dataclass(frozen=True)
class NoFinish:
    """End the stream with `data: [DONE]` but send no finish-reason chunk and no usage chunk.

    Native: no event has a finish reason other than `"null"`.
    """


@dataclass(frozen=True)
class NoDone:
    """Send everything, finish reason and usage included, except the final `data: [DONE]`.

    Meaningless on the native route (there is no `[DONE]`), where it is ignored.
    """


Fault: TypeAlias = Disconnect | ResetBeforeHeaders | ErrorFrame | MalformedLine | NoFinish | NoDone
"""A transport or framing fault. Only `Disconnect` and `ResetBeforeHeaders` affect non-stream replies."""


@dataclass(frozen=True)
class ToolCallReply:
    """One tool call of a scripted reply.

    `arguments` as a `str` is split into `Reply.chunk_size` pieces; a sequence is the exact piece
    list. `id=None` generates `call_<24 hex>` like DashScope does.
    """

    name: str
    arguments: str | Sequence[str] = ""
    id: str | None = None


@dataclass(frozen=True)
class Reply:
    """A successful chat completion, streamed or not as the request asks (compat: the `stream`
    key; native: the `X-DashScope-SSE: enable` or `Accept: text/event-stream` header).

    A `str` field is split into `chunk_size`-character pieces; a sequence is the exact piece list
    (cheap way to script a 20,000-chunk stream). `finish_reason=None` means `tool_calls` when there
    are tool calls, else `stop`. `usage=None` computes a deterministic usage object from the request
    and the piece counts (the same numbers on every route); a mapping is sent verbatim, in the
    route's own shape (compat `prompt_tokens`..., native `input_tokens`...): natively it is the
    final cumulative usage, and earlier events get proportionally smaller counts. `delay` is slept
    before every streamed event (once before a non-stream body). `model` overrides the echoed
    request model (the native protocol echoes none); `request_id` fixes the `x-request-id`
    header, the `chatcmpl-<request_id>` id and the native `request_id`.
    """

    reasoning: str | Sequence[str] = ""
    text: str | Sequence[str] = ""
    tool_calls: Sequence[ToolCallReply] = ()
    finish_reason: str | None = None
    usage: Mapping[str, Any] | None = None
    chunk_size: int = 8
    delay: float = 0.0
    model: str | None = None
    fault: Fault | None = None
    request_id: str | None = None

    def __post_init__(self) -> None:
        if self.chunk_size < 1:
            raise ValueError("chunk_size must be >= 1")
        if self.delay < 0:
            raise ValueError("delay must be >= 0")

    def pieces(self, value: str | Sequence[str]) -> list[str]:
        """Split a scripted field into wire pieces (a sequence is taken as-is)."""
        if isinstance(value, str):
            size = self.chunk_size
            return [value[i : i + size] for i in range(0, len(value), size)]
        return list(value)

    def argument_pieces(self, call: ToolCallReply) -> list[str]:
        """Argument fragments of one call; never empty, the first fragment travels with the name."""
        return self.pieces(call.arguments) or [""]

    @property
    def resolved_finish_reason(self) -> str:
        if self.finish_reason is not None:
            return self.finish_reason
        return "tool_calls" if self.tool_calls else "stop"


@dataclass(frozen=True)
class ErrorReply:
    """An HTTP error response, in the body shape of the route that serves it.

    Compat: `{"error": {...}, "id", "request_id"}`; `sse_framed=True` wraps the body as
    `data: {...}\\n\\n`, which is what DashScope sends when a streaming request fails up front
    (wire-samples/errors-compat-stream-frames-via-openrouter.sse); None means False.
    Native: `{"code", "message", "request_id"}`, with compat codes translated to DashScope's
    PascalCase ones (`invalid_parameter_error` → `InvalidParameter`, see `_native.NATIVE_CODES`);
    `sse_framed=True` sends it as HTTP 200 with one `event:error` / `:HTTP_STATUS/<status>` event
    (cnblogs-native-error-invalidparameter-stream.sse), and None does so for a streaming request
    with a 4xx status other than 401 and 429 (gateway errors, which come back as plain HTTP).
    `retry_after` adds a `Retry-After` header (seconds). `type` is compat-only.
    """

    status: int
    message: str
    code: str = "invalid_parameter_error"
    type: str = "invalid_request_error"
    sse_framed: bool | None = None
    retry_after: float | None = None
    request_id: str | None = None


Script: TypeAlias = Reply | ErrorReply
"""Anything `DashScopeEmulator.enqueue` accepts."""
