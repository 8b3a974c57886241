"""What both transports share: the contract with the client, error mapping, and the end of a stream.

The client opens a stream with `transport.stream_text(body)` (a context manager; `astream_text`
for async) and gets an `OpenedStream`: the request id and the body text piece by piece, as it
arrives. Leaving the block normally (the stream ended: `[DONE]`, the native final event, or the
end of the body) reads what is left of the body, bounded (`DRAIN_CHARS`, `DRAIN_SECONDS`), so the
connection goes back to the pool instead of being dropped; leaving it with an exception, or
stopping early, closes the connection. Every failure leaves the transports as a `QwenVLError`.

The openai SDK is imported only by `transport_compat`, when a compat transport is first built;
this module and `transport_native` need httpx alone. Exceptions of the SDK's httpx fork (`httpx2`)
are recognised once that fork has been imported (before that none can exist).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sys
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeAlias

import httpx

from .errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    IncompleteStreamError,
    QwenVLError,
    error_from_body,
    error_from_payload,
)
from .retry import HeaderTimeoutError, parse_retry_after

__all__ = [
    "DRAIN_CHARS",
    "DRAIN_SECONDS",
    "LIMITS",
    "OpenedStream",
    "RawResponse",
    "Timeouts",
    "Transport",
    "adrain",
    "aread_at_most",
    "connect_timeouts",
    "connection_error",
    "describe_stream_failure",
    "drain",
    "failure_reason",
    "header_limit",
    "header_timeout_error",
    "is_event_stream",
    "json_body",
    "map_http_error",
    "non_sse_answer",
    "read_at_most",
    "read_timeouts",
    "status_error",
    "timeout_error",
    "timeout_errors",
    "transport_errors",
]

logger = logging.getLogger("qwen_vl_core")

LIMITS = httpx.Limits(max_connections=1000, max_keepalive_connections=100)
"""The openai SDK's pool limits, for the native client too: httpx's default of 100 connections
queues the rest, and its pool's queueing makes 500 concurrent streams ~5x slower."""

DRAIN_CHARS = 8 * 1024
"""After the end of a stream, at most this much of the rest of the body is read to keep the
connection (normally only the SSE blank line and the chunked terminator, a few bytes)."""
DRAIN_SECONDS = 0.25
"""... and for at most this long; past either bound the connection is closed instead."""
BODY_LIMIT = 4 * 1024 * 1024
"""The most of an error body, or of a non-SSE answer to a streamed call, that is read."""


@dataclass(frozen=True)
class RawResponse:
    request_id: str | None
    body: Mapping[str, Any]
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass
class OpenedStream:
    """A streamed response whose headers have arrived."""

    request_id: str | None
    pieces: Any
    """The body text, piece by piece (an iterator, or an async iterator for `astream_text`), after `head`."""
    whole: Mapping[str, Any] | None = None
    """A complete non-streamed JSON answer from a server that ignored `stream` (then `pieces` is empty)."""
    head: list[str] = field(default_factory=list)
    """Pieces the transport already read (to look at the first event), to be taken before `pieces`."""


Timeouts: TypeAlias = tuple[float, float | None]
"""(connect timeout, read timeout) in seconds, for the error messages."""


def _with_fork(name: str, own: tuple[type[Exception], ...]) -> tuple[type[Exception], ...]:
    fork = sys.modules.get("httpx2")
    if fork is None:
        return own
    return (*own, getattr(fork, name))


def transport_errors() -> tuple[type[Exception], ...]:
    """httpx's transport errors, and the SDK fork's once it is loaded."""
    return _with_fork("TransportError", (httpx.TransportError,))


def timeout_errors() -> tuple[type[Exception], ...]:
    return _with_fork("TimeoutException", (httpx.TimeoutException,))


def connect_timeouts() -> tuple[type[Exception], ...]:
    return _with_fork("ConnectTimeout", (httpx.ConnectTimeout,))


def read_timeouts() -> tuple[type[Exception], ...]:
    return _with_fork("ReadTimeout", (httpx.ReadTimeout,))


def header_limit(header_timeout: float | None, read_timeout: float | None) -> float | None:
    """How long a streamed call waits for the response headers: the shorter of the two limits."""
    if header_timeout is None:
        return read_timeout
    return header_timeout if read_timeout is None else min(header_timeout, read_timeout)


def header_timeout_error(limit: float | None) -> HeaderTimeoutError:
    seconds = f"{limit:g} s" if limit is not None else "the limit"
    return HeaderTimeoutError(
        f"The server sent no response headers within {seconds} (the header timeout of a streamed call, "
        "`header_timeout=`); such a request is sent again at most once. Retry later, or raise `header_timeout=`."
    )


def failure_reason(exc: BaseException) -> str:
    """The first non-empty message down the cause chain (async transports often raise `ReadError('')`)."""
    current: BaseException | None = exc
    for _ in range(8):
        if current is None:
            break
        text = str(current)
        if text:
            return text
        current = current.__cause__ or current.__context__
    return type(exc).__name__


def describe_stream_failure(exc: BaseException, read_timeout: float | None) -> QwenVLError | None:
    """A timeout or broken connection in the middle of a stream as a library error; None for others."""
    if isinstance(exc, timeout_errors()):
        limit = f"{read_timeout:g} s" if read_timeout is not None else "its limit"
        return IncompleteStreamError(
            f"The stream stalled: nothing arrived for longer than the read timeout ({limit} between "
            "chunks, set by `timeout=`)."
        )
    if isinstance(exc, transport_errors()):
        return IncompleteStreamError(f"The connection broke in the middle of the stream: {failure_reason(exc)}.")
    return None


def status_error(status: int, text: str, headers: Any) -> QwenVLError:
    error = error_from_body(status, text, request_id=headers.get("x-request-id"))
    error.retry_after = parse_retry_after(headers.get("retry-after"))
    return error


def timeout_error(cause: BaseException, timeouts: Timeouts | None) -> APITimeoutError:
    """A timeout before the response as a library error naming the timeout that ran out."""
    connect, read = timeouts if timeouts is not None else (None, None)
    if isinstance(cause, connect_timeouts()):
        limit = f" ({connect:g} s)" if connect is not None else ""
        return APITimeoutError(
            f"Could not connect within the connect timeout{limit}. Check the network, proxy and base URL, "
            "or raise `connect_timeout=`."
        )
    limit = f" ({read:g} s)" if read is not None else ""
    return APITimeoutError(
        f"The server did not answer within the read timeout{limit}. Retry later, or raise `timeout=`."
    )


def connection_error(cause: BaseException) -> APIConnectionError:
    return APIConnectionError(
        f"Could not reach the API ({failure_reason(cause)}). Check the network, proxy and base URL; the "
        "call can be retried."
    )


def map_http_error(exc: Exception, timeouts: Timeouts | None) -> QwenVLError | None:
    """An httpx (or httpx2) timeout or transport error as a library error; None for anything else."""
    if isinstance(exc, timeout_errors()):
        return timeout_error(exc, timeouts)
    if isinstance(exc, transport_errors()):
        return connection_error(exc)
    return None


def json_body(content: bytes, status: int) -> Mapping[str, Any]:
    try:
        value = json.loads(content)
    except (ValueError, RecursionError):
        value = None
    if not isinstance(value, Mapping):
        raise APIStatusError(f"HTTP {status} with a body that is not JSON: {content[:300]!r}", status=status)
    return value


def read_at_most(chunks: Iterator[bytes], limit: int = BODY_LIMIT) -> tuple[bytes, bool]:
    """Up to `limit` bytes of a body, and whether that was all of it."""
    parts: list[bytes] = []
    size = 0
    for part in chunks:
        parts.append(part)
        size += len(part)
        if size > limit:
            return b"".join(parts)[:limit], False
    return b"".join(parts), True


async def aread_at_most(chunks: AsyncIterator[bytes], limit: int = BODY_LIMIT) -> tuple[bytes, bool]:
    parts: list[bytes] = []
    size = 0
    async for part in chunks:
        parts.append(part)
        size += len(part)
        if size > limit:
            return b"".join(parts)[:limit], False
    return b"".join(parts), True


def is_event_stream(headers: Any) -> bool:
    """Whether a response is server-sent events (no content type at all is given the benefit of the doubt)."""
    content_type = headers.get("content-type")
    return not content_type or content_type.strip().lower().startswith("text/event-stream")


def non_sse_answer(status: int, body: bytes, complete: bool, headers: Any) -> Mapping[str, Any]:
    """A streamed call answered with something else than server-sent events (HTTP 200).

    A JSON answer is returned (a server that ignores `stream`), a JSON error body raised as its
    error; anything else (an HTML page from a captive portal or a proxy) is an error quoting the
    content type and the first bytes, not retryable.
    """
    content_type = headers.get("content-type", "")
    value: Any = None
    if complete:
        try:
            value = json.loads(body)
        except (ValueError, RecursionError):
            value = None
    request_id = headers.get("x-request-id")
    if isinstance(value, Mapping):
        if "error" in value or ("code" in value and "output" not in value and "choices" not in value):
            error = error_from_payload(value, request_id=request_id)
            error.retry_after = parse_retry_after(headers.get("retry-after"))
            raise error
        logger.debug("A streamed call was answered with one JSON response (%s); it is the result.", content_type)
        return value
    snippet = body[:200].decode("utf-8", "replace")
    raise APIStatusError(
        f"The server answered a streamed call with {content_type!r} instead of server-sent events "
        f"(text/event-stream): {snippet!r}. A proxy or captive portal may be in the way; check the network "
        "and the base URL.",
        status=status,
        request_id=request_id,
    )


class Transport(Protocol):
    """What the client needs from a transport; one implementation per wire protocol."""

    def stream_text(self, body: Mapping[str, Any]) -> Any: ...
    def astream_text(self, body: Mapping[str, Any]) -> Any: ...
    def post(self, body: Mapping[str, Any]) -> RawResponse: ...
    async def apost(self, body: Mapping[str, Any]) -> RawResponse: ...
    def fetch(self, url: str, limit: int = ...) -> bytes: ...
    async def afetch(self, url: str, limit: int = ...) -> bytes: ...
    def close(self) -> None: ...
    async def aclose(self) -> None: ...


# -- the end of a stream: keep the connection ------------------------------------------------------


def drain(response: Any, pieces: Iterator[str]) -> bool:
    """Read the rest of a finished stream's body, bounded, so its connection can be pooled.

    Each network read is given at most what is left of `DRAIN_SECONDS` (the connection's own read
    timeout is fixed when the body starts, so the read is bounded through the network stream the
    response exposes). Without one (a custom transport), nothing is read. True when the body ended.
    """
    stream: Any = response.extensions.get("network_stream") if hasattr(response, "extensions") else None
    read = getattr(stream, "read", None)
    if read is None:
        return False
    deadline = time.monotonic() + DRAIN_SECONDS

    def bounded(max_bytes: int, timeout: float | None = None) -> bytes:
        left = max(deadline - time.monotonic(), 0.001)
        return read(max_bytes, left if timeout is None else min(timeout, left))  # type: ignore[no-any-return]

    try:
        stream.read = bounded
    except AttributeError:  # a stream class with slots: do not risk an unbounded read
        return False
    ended = False
    try:
        seen = 0
        for text in pieces:
            seen += len(text)
            if seen > DRAIN_CHARS or time.monotonic() > deadline:
                break
        else:
            ended = True
    except Exception:  # a timeout or a broken connection: it is closed, nothing is lost
        pass
    finally:
        del stream.read
    if not ended:
        _close(pieces)
    return ended


def _close(pieces: Any) -> None:
    close = getattr(pieces, "close", None)
    if close is not None:
        with contextlib.suppress(Exception):
            close()


async def adrain(pieces: AsyncIterator[str]) -> bool:
    """The async twin of `drain`, bounded by cancelling the reads after `DRAIN_SECONDS`."""

    async def rest() -> bool:
        seen = 0
        async for text in pieces:
            seen += len(text)
            if seen > DRAIN_CHARS:
                return False
        return True

    try:
        ended = await asyncio.wait_for(rest(), DRAIN_SECONDS)
    except Exception:  # the timeout, or a broken connection: it is closed, nothing is lost
        ended = False
    if not ended:
        aclose = getattr(pieces, "aclose", None)
        if aclose is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(aclose(), DRAIN_SECONDS)
    return ended
