"""Faults a scripted `Reply` can carry: what goes wrong on the wire, by design.

Each is a frozen dataclass of plain data; the server (`_connection`) and the protocol renderers
act on them. Every fault is documented with what the client sees.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeAlias

__all__ = [
    "Disconnect",
    "EndlessLine",
    "ErrorFrame",
    "Fault",
    "IgnoreStream",
    "MalformedLine",
    "NoDone",
    "NoFinish",
    "NoHeaders",
    "ResetBeforeHeaders",
    "Stall",
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


@dataclass(frozen=True)
class Stall:
    """Stop writing for `seconds` after `after_chunks` data events (or after the last one), keeping the
    connection open, then finish the stream normally.

    What a read timeout must catch: the bytes sent so far are flushed first. On a non-streaming
    request the headers and the first half of the body are sent, then the pause, then the rest.
    """

    after_chunks: int
    seconds: float

    def __post_init__(self) -> None:
        if self.after_chunks < 0 or self.seconds < 0:
            raise ValueError("after_chunks and seconds must be >= 0")


@dataclass(frozen=True)
class NoHeaders:
    """Accept the request, then send nothing, not even the status line, for `seconds`; then answer
    normally. A client with a shorter response-header (read) timeout gives up first."""

    seconds: float

    def __post_init__(self) -> None:
        if self.seconds < 0:
            raise ValueError("seconds must be >= 0")


@dataclass(frozen=True)
class IgnoreStream:
    """Answer a streaming request with the complete non-streaming JSON body (HTTP 200,
    `application/json`, content-length), as a server that ignores `stream` (or the native SSE
    header) does. Non-streaming requests are unaffected."""


@dataclass(frozen=True)
class EndlessLine:
    """After `after_chunks` data events, start one SSE data line that never ends: `bytes_total` bytes
    of it, written in `piece_size` pieces, with no line break; then the chunked body is terminated.

    A client that buffers a line until its end must bound that buffer. On a non-streaming request
    it is ignored.
    """

    bytes_total: int
    after_chunks: int = 0
    piece_size: int = 65_536

    def __post_init__(self) -> None:
        if self.bytes_total < 1 or self.piece_size < 1 or self.after_chunks < 0:
            raise ValueError("bytes_total and piece_size must be >= 1, after_chunks >= 0")


Fault: TypeAlias = (
    Disconnect
    | ResetBeforeHeaders
    | ErrorFrame
    | MalformedLine
    | NoFinish
    | NoDone
    | Stall
    | NoHeaders
    | IgnoreStream
    | EndlessLine
)
"""A transport or framing fault of a `Reply`. Framing faults (`ErrorFrame`, `MalformedLine`,
`NoFinish`, `NoDone`, `EndlessLine`) apply to streams only."""
