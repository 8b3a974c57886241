"""Just enough HTTP/1.1 for the emulator: parse one request, frame one response.

Hand-written instead of `http.server` so that streams, keep-alive and faults (reset before the
headers, a cut in the middle of a chunked body) are fully under the emulator's control.
"""

from __future__ import annotations

import asyncio
import http
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from qwen_vl_core.testing._rules import RequestView, Violation
from qwen_vl_core.testing._script import Fault, Script

__all__ = [
    "HEAD_LIMIT",
    "Endpoint",
    "HttpError",
    "RawRequest",
    "Response",
    "chunk",
    "read_request",
    "response_head",
]

HEAD_LIMIT = 1 << 20
"""StreamReader limit: the longest request head accepted."""


class HttpError(Exception):
    """The peer sent something that is not HTTP/1.1 we understand; the connection is dropped."""


@dataclass(frozen=True)
class RawRequest:
    """One parsed request; header names lower-cased, repeated headers joined with `, `."""

    method: str
    target: str
    version: str
    headers: dict[str, str]
    body: bytes

    @property
    def path(self) -> str:
        return self.target.partition("?")[0]

    @property
    def keep_alive(self) -> bool:
        connection = self.headers.get("connection", "").lower()
        if self.version == "HTTP/1.0":
            return connection == "keep-alive"
        return connection != "close"


@dataclass
class Response:
    """What to send back. `events` (SSE event bytes) switches to a chunked streaming body."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes = b""
    events: Iterator[bytes] | None = None
    delay: float = 0.0
    fault: Fault | None = None


@dataclass(frozen=True)
class Endpoint:
    """One protocol's route: the server does auth, parsing and queueing; these render the bytes."""

    view: Callable[[Mapping[str, Any], Mapping[str, str]], RequestView]
    """The protocol's reading of a JSON-object body and the request headers (which may switch streaming)."""
    check: Callable[[RequestView], Violation | None]
    """Rule check: the broken rule, or None when the request is accepted."""
    reject: Callable[[Violation, RequestView], Response]
    """The error response for a broken rule."""
    render: Callable[[Script, RequestView], Response]
    """The response for a scripted reply."""
    unauthorized: Callable[[], Response]
    bad_body: Callable[[Mapping[str, str]], Response]
    """The response (given the request headers) when the body is not a JSON object."""


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    parts: list[bytes] = []
    while True:
        size_line = await reader.readuntil(b"\r\n")
        try:
            size = int(size_line.split(b";", 1)[0].strip(), 16)
        except ValueError as exc:
            raise HttpError("bad chunk size") from exc
        if size == 0:
            while await reader.readuntil(b"\r\n") != b"\r\n":  # trailers
                pass
            return b"".join(parts)
        parts.append(await reader.readexactly(size))
        await reader.readexactly(2)


async def read_request(reader: asyncio.StreamReader, writer: asyncio.StreamWriter | None = None) -> RawRequest | None:
    """Read one request; None when the peer closed the connection between requests."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if not exc.partial.strip():
            return None
        raise HttpError("connection closed inside the request head") from exc
    except asyncio.LimitOverrunError as exc:
        raise HttpError("request head too large") from exc
    lines = head.decode("latin-1").split("\r\n")
    try:
        method, target, version = lines[0].split(" ", 2)
    except ValueError as exc:
        raise HttpError(f"bad request line {lines[0]!r}") from exc
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep:
            raise HttpError(f"bad header line {line!r}")
        key = name.strip().lower()
        headers[key] = f"{headers[key]}, {value.strip()}" if key in headers else value.strip()
    if headers.get("expect", "").lower() == "100-continue" and writer is not None:
        writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")  # curl waits for this before large bodies
    if "chunked" in headers.get("transfer-encoding", "").lower():
        body = await _read_chunked(reader)
    else:
        try:
            length = int(headers.get("content-length", "0"))
        except ValueError as exc:
            raise HttpError("bad content-length") from exc
        body = await reader.readexactly(length) if length > 0 else b""
    return RawRequest(method, target, version, headers, body)


def response_head(status: int, headers: list[tuple[str, str]]) -> bytes:
    """Status line and headers, lower-case names as the DashScope gateway sends them."""
    try:
        phrase = http.HTTPStatus(status).phrase
    except ValueError:
        phrase = "Unknown"
    lines = [f"HTTP/1.1 {status} {phrase}", *(f"{name}: {value}" for name, value in headers)]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def chunk(data: bytes) -> bytes:
    """One `Transfer-Encoding: chunked` frame (empty data gives the terminating frame)."""
    return b"%x\r\n%s\r\n" % (len(data), data)
