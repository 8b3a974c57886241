"""Scripting types for the emulator: what the next chat request should get back.

All types are frozen dataclasses holding plain data, so one script can be enqueued on several
emulators and compared in assertions. Rendering them to wire bytes is the protocol modules' job.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

from qwen_vl_core.testing._faults import (
    Disconnect,
    EndlessLine,
    ErrorFrame,
    Fault,
    IgnoreStream,
    MalformedLine,
    NoDone,
    NoFinish,
    NoHeaders,
    ResetBeforeHeaders,
    Stall,
)

__all__ = [
    "Disconnect",
    "EchoAuthorization",
    "EndlessLine",
    "ErrorFrame",
    "ErrorReply",
    "Fault",
    "HtmlPage",
    "IgnoreStream",
    "MalformedLine",
    "NoDone",
    "NoFinish",
    "NoHeaders",
    "Reply",
    "ResetBeforeHeaders",
    "Script",
    "Stall",
    "ToolCallReply",
]


@dataclass(frozen=True)
class ToolCallReply:
    """One tool call of a scripted reply.

    `arguments` as a `str` is split into `Reply.chunk_size` pieces; a sequence is the exact piece
    list. `id=None` generates `call_<24 hex>` like DashScope does. `omit_index=True` leaves the
    `index` key out of this call's fragments on the OpenAI-compatible and vLLM routes (streamed
    deltas and the non-streaming message), as some OpenAI-compatible servers do; native DashScope
    events keep it.
    """

    name: str
    arguments: str | Sequence[str] = ""
    id: str | None = None
    omit_index: bool = False


@dataclass(frozen=True)
class Reply:
    """A successful chat completion, streamed or not as the request asks (compat: the `stream`
    key; native: the `X-DashScope-SSE: enable` or `Accept: text/event-stream` header).

    A `str` field is split into `chunk_size`-character pieces; a sequence is the exact piece list
    (cheap way to script a 20,000-chunk stream). `finish_reason=None` means `tool_calls` when there
    are tool calls, else `stop`. `usage=None` computes a deterministic usage object from the request
    and the piece counts (the same numbers on every route); a mapping is sent verbatim, in the
    route's own shape (compat `prompt_tokens`..., native `input_tokens`...): natively it is the
    final cumulative usage, and earlier events get proportionally smaller counts.

    Pacing: with `delay=0` (flood mode) the stream is written as fast as the socket takes it, many
    events per write; with `delay > 0` (paced mode) each event is its own write (and HTTP chunk),
    `delay` seconds after the previous one (the first one too); a non-stream body waits `delay` once.
    `model` overrides the echoed request model (the native protocol echoes none); `request_id`
    fixes the `x-request-id` header, the `chatcmpl-<request_id>` id and the native `request_id`.
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
    `retry_after` adds a `Retry-After` header: a number is written as seconds (`2`, `1.5`), a
    string verbatim (`"nan"`, `"inf"`, `"-5"`, an HTTP date), to test clients against odd values.
    A native streaming 429 or 500 with `sse_framed=True` is an HTTP-200 stream whose first and only
    event is `event:error` with `:HTTP_STATUS/429` (or 500), with the header alongside. `type` is
    compat-only.
    """

    status: int
    message: str
    code: str = "invalid_parameter_error"
    type: str = "invalid_request_error"
    sse_framed: bool | None = None
    retry_after: float | str | None = None
    request_id: str | None = None


_HTML = (
    "<!DOCTYPE html>\n<html><head><title>Sign in to the network</title></head>\n"
    "<body><h1>Authentication required</h1><p>Log in to continue browsing.</p></body></html>\n"
)


@dataclass(frozen=True)
class HtmlPage:
    """An HTML page instead of an API answer (a captive portal, a proxy's error page): `status`
    (200 by default), `text/html; charset=utf-8`, a content-length body, whatever the request asked
    for, streaming included."""

    body: str = _HTML
    status: int = 200


@dataclass(frozen=True)
class EchoAuthorization:
    """An authentication failure whose message quotes the request's `Authorization` header, as a
    careless gateway might: compat `{"error": {"message": "Incorrect API key provided: <header>", ...}}`,
    native `{"code": "InvalidApiKey", "message": "Invalid API-key provided: <header>", ...}`, vLLM
    `{"error": "Unauthorized: <header>"}`; `status` 401 by default. For testing that clients never
    repeat a key in their own errors."""

    status: int = 401


Script: TypeAlias = Reply | ErrorReply | HtmlPage | EchoAuthorization
"""Anything `DashScopeEmulator.enqueue` accepts."""

SCRIPT_TYPES = (Reply, ErrorReply, HtmlPage, EchoAuthorization)
