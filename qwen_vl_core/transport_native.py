"""Native DashScope `multimodal-generation` over httpx, sync and async.

Retries (`retry.py`) cover the HTTP status and connection errors before the response, and one
case only the native protocol has: DashScope answers some failures of a streamed call with HTTP 200
and a first event `event:error` / `:HTTP_STATUS/429` (or 5xx). The first piece of the body is read
inside the retried step: such an event is retried like the same HTTP status (`Retry-After`
honoured), since nothing has been delivered yet. A failure while reading that first piece is not
retried: it is handed to the client as the first thing the body raises, so a stall or a broken
connection there is reported exactly as it is anywhere else in the stream.
"""

from __future__ import annotations

import functools
import json
import threading
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from pydantic import SecretStr

from .errors import APIStatusError, QwenVLError, error_from_payload
from .fetch import FETCH_LIMIT, afetch_with, fetch_with, timeout_tuple
from .loop_clients import LoopClients
from .request_native import NATIVE_PATH, NATIVE_STREAM_HEADERS
from .retry import RETRY_STATUSES, aretrying, parse_retry_after, retrying
from .sse import LineSplitter
from .transport import (
    BODY_LIMIT,
    LIMITS,
    OpenedStream,
    RawResponse,
    Timeouts,
    adrain,
    aread_at_most,
    drain,
    header_limit,
    header_timeout_error,
    is_event_stream,
    json_body,
    map_http_error,
    non_sse_answer,
    read_at_most,
    read_timeouts,
    status_error,
)

__all__ = ["NativeTransport", "first_event_error"]

_BUILD_LOCK = threading.Lock()
_PEEK_CHARS = 64 * 1024
_PEEK_PIECES = 64
"""How much of the body is looked at for the first event's kind (it is in the first read)."""


def _map_error(exc: Exception, timeouts: Timeouts) -> QwenVLError:
    if isinstance(exc, QwenVLError):
        return exc
    mapped = map_http_error(exc, timeouts)
    if mapped is None:
        raise exc
    return mapped


def first_event_error(text: str, headers: Any) -> QwenVLError | bool:
    """The first event of a native stream: a retryable error (429, 5xx) as the error to retry,
    False for anything else, True while `text` does not yet hold the first `data:` line."""
    start = text.find("data:")
    if start < 0:
        return True
    ends = [i for i in (text.find("\n", start), text.find("\r", start)) if i >= 0]
    if not ends:
        return True
    event = status = None
    for line in LineSplitter().feed(text[: min(ends) + 1]):
        if line.startswith("data:"):
            if event != "error" and (status is None or status < 400):
                return False
            try:
                payload = json.loads(line[5:])
            except (ValueError, RecursionError):
                return False
            if not isinstance(payload, Mapping) or status not in RETRY_STATUSES:
                return False
            error = error_from_payload(payload, status=status, request_id=headers.get("x-request-id"))
            if not error.retryable:
                return False
            error.retry_after = parse_retry_after(headers.get("retry-after"))
            return error
        if line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith(":HTTP_STATUS/"):
            code = line[13:].strip()
            status = int(code) if code.isdecimal() and len(code) <= 3 else None
    return True


@dataclass
class _Opened:
    response: httpx.Response
    rest: Any
    """The body's own text iterator (what `drain` continues)."""
    pieces: Any
    """What the client reads after `head`: the rest (raising first what reading `head` raised)."""
    head: list[str]
    """The pieces already looked at."""
    whole: Mapping[str, Any] | None = None


class _Peek:
    """The first pieces of a native stream, read until the first event's kind is known."""

    __slots__ = ("_headers", "_seen", "head")

    def __init__(self, headers: Any) -> None:
        self._headers = headers
        self._seen = ""
        self.head: list[str] = []

    def add(self, piece: str) -> QwenVLError | bool:
        """A retryable error event, or whether to read on (the first `data:` line is not complete yet)."""
        self.head.append(piece)
        self._seen += piece
        if len(self._seen) > _PEEK_CHARS or len(self.head) >= _PEEK_PIECES:
            verdict = first_event_error(self._seen, self._headers)
            return verdict if isinstance(verdict, QwenVLError) else False
        if "\n" not in piece and "\r" not in piece:
            return True
        return first_event_error(self._seen, self._headers)


class _Raising:
    """The rest of a body whose first read failed: that failure first, as the body's own."""

    __slots__ = ("_deferred", "_rest")

    def __init__(self, deferred: Exception, rest: Any) -> None:
        self._deferred: Exception | None = deferred
        self._rest = rest

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        if self._deferred is not None:
            deferred, self._deferred = self._deferred, None
            raise deferred
        return next(self._rest)  # type: ignore[no-any-return]

    def __aiter__(self) -> AsyncIterator[str]:
        return self

    async def __anext__(self) -> str:
        if self._deferred is not None:
            deferred, self._deferred = self._deferred, None
            raise deferred
        return await self._rest.__anext__()  # type: ignore[no-any-return]


class _AsyncEmpty:
    def __aiter__(self) -> AsyncIterator[str]:
        return self

    async def __anext__(self) -> str:
        raise StopAsyncIteration


def _raw(response: httpx.Response, data: bytes, complete: bool) -> RawResponse:
    """A non-streamed response read (at most `BODY_LIMIT` bytes): the error it carries, or its JSON."""
    if response.status_code >= 400:
        raise status_error(response.status_code, data.decode("utf-8", "replace"), response.headers)
    if not complete:
        raise APIStatusError(
            f"The response is larger than {BODY_LIMIT:,} bytes; not read.", status=response.status_code
        )
    return RawResponse(response.headers.get("x-request-id"), json_body(data, response.status_code))


class NativeTransport:
    """Native DashScope `multimodal-generation` over httpx, sync and async."""

    def __init__(
        self,
        *,
        base_url: str,
        api_key: SecretStr,
        timeout: float | None,
        connect_timeout: float,
        max_retries: int,
        header_timeout: float | None = None,
        default_headers: Mapping[str, str] | None = None,
        http_client: httpx.Client | None = None,
        async_http_client: httpx.AsyncClient | None = None,
    ) -> None:
        self._url = base_url.rstrip("/") + NATIVE_PATH
        self._timeout = httpx.Timeout(timeout, connect=connect_timeout)
        self._read_timeout = timeout
        self._header_limit = header_limit(header_timeout, timeout)
        self._stream_timeout = httpx.Timeout(timeout, connect=connect_timeout, read=self._header_limit)
        self._fetch_timeout = timeout_tuple(connect_timeout, timeout)
        self._headers = {
            **dict(default_headers or {}),
            "Authorization": f"Bearer {api_key.get_secret_value()}",
            "Content-Type": "application/json",
        }
        self._max_retries = max_retries
        self._map_error = functools.partial(_map_error, timeouts=(connect_timeout, timeout))
        self._sync = http_client
        self._own_sync = http_client is None
        self._given_async = async_http_client
        self._async: LoopClients[httpx.AsyncClient] = LoopClients(
            lambda: httpx.AsyncClient(timeout=self._timeout, limits=LIMITS), lambda client: client.aclose()
        )

    def _client(self) -> httpx.Client:
        with _BUILD_LOCK:  # threads making their first call together (LangChain batch) share one client
            if self._sync is None:
                self._sync = httpx.Client(timeout=self._timeout, limits=LIMITS)
            return self._sync

    async def _aclient(self) -> httpx.AsyncClient:
        if self._given_async is not None:
            return self._given_async
        return await self._async.get()

    def _request(
        self, client: httpx.Client | httpx.AsyncClient, body: Mapping[str, Any], stream: bool
    ) -> httpx.Request:
        extra = NATIVE_STREAM_HEADERS if stream else {"Accept": "application/json"}
        content = json.dumps(body, ensure_ascii=False).encode()
        headers = {**self._headers, **extra}
        if stream:  # the headers get their own limit; the body reads get the read timeout (`_body_timeout`)
            return client.build_request(
                "POST", self._url, content=content, headers=headers, timeout=self._stream_timeout
            )
        return client.build_request("POST", self._url, content=content, headers=headers)

    def _body_timeout(self, request: httpx.Request) -> None:
        """The headers are in: the body's reads get the read timeout (read when the body starts)."""
        request.extensions["timeout"] = {**request.extensions.get("timeout", {}), "read": self._read_timeout}

    # -- sync ------------------------------------------------------------------------------------

    def post(self, body: Mapping[str, Any]) -> RawResponse:
        def send() -> RawResponse:
            client = self._client()
            response = client.send(self._request(client, body, False), stream=True)
            try:
                data, complete = read_at_most(response.iter_bytes())
            finally:
                response.close()
            return _raw(response, data, complete)

        return retrying(send, self._max_retries, self._map_error)

    def _open(self, body: Mapping[str, Any]) -> _Opened:
        def send() -> _Opened:
            client = self._client()
            request = self._request(client, body, True)
            try:
                response = client.send(request, stream=True)
            except read_timeouts() as exc:
                raise header_timeout_error(self._header_limit) from exc
            self._body_timeout(request)
            if response.status_code >= 400:
                text, _ = read_at_most(response.iter_bytes())
                response.close()
                raise status_error(response.status_code, text.decode("utf-8", "replace"), response.headers)
            if not is_event_stream(response.headers):
                try:
                    data, complete = read_at_most(response.iter_bytes())
                    whole = non_sse_answer(response.status_code, data, complete, response.headers)
                finally:
                    response.close()
                return _Opened(response, iter(()), iter(()), [], whole)
            rest = response.iter_text()
            peek = _Peek(response.headers)
            try:
                for piece in rest:
                    verdict = peek.add(piece)
                    if isinstance(verdict, QwenVLError):
                        drain(response, rest)
                        response.close()
                        raise verdict
                    if not verdict:
                        break
            except QwenVLError:
                raise
            except Exception as exc:  # reported by the body, as the same failure later would be
                return _Opened(response, rest, _Raising(exc, rest), peek.head)
            return _Opened(response, rest, rest, peek.head)

        return retrying(send, self._max_retries, self._map_error)

    @contextmanager
    def stream_text(self, body: Mapping[str, Any]) -> Iterator[OpenedStream]:
        opened = self._open(body)
        response = opened.response
        try:
            yield OpenedStream(response.headers.get("x-request-id"), opened.pieces, opened.whole, opened.head)
            drain(response, opened.rest)
        finally:
            response.close()

    def fetch(self, url: str, limit: int = FETCH_LIMIT) -> bytes:
        return fetch_with(self._client(), url, self._fetch_timeout, limit)

    def close(self) -> None:
        if self._sync is not None and self._own_sync:
            self._sync.close()
            self._sync = None

    # -- async -----------------------------------------------------------------------------------

    async def apost(self, body: Mapping[str, Any]) -> RawResponse:
        async def send() -> RawResponse:
            client = await self._aclient()
            response = await client.send(self._request(client, body, False), stream=True)
            try:
                data, complete = await aread_at_most(response.aiter_bytes())
            finally:
                await response.aclose()
            return _raw(response, data, complete)

        return await aretrying(send, self._max_retries, self._map_error)

    async def _aopen(self, body: Mapping[str, Any]) -> _Opened:
        async def send() -> _Opened:
            client = await self._aclient()
            request = self._request(client, body, True)
            try:
                response = await client.send(request, stream=True)
            except read_timeouts() as exc:
                raise header_timeout_error(self._header_limit) from exc
            self._body_timeout(request)
            if response.status_code >= 400:
                text, _ = await aread_at_most(response.aiter_bytes())
                await response.aclose()
                raise status_error(response.status_code, text.decode("utf-8", "replace"), response.headers)
            if not is_event_stream(response.headers):
                try:
                    data, complete = await aread_at_most(response.aiter_bytes())
                    whole = non_sse_answer(response.status_code, data, complete, response.headers)
                finally:
                    await response.aclose()
                return _Opened(response, _AsyncEmpty(), _AsyncEmpty(), [], whole)
            rest = response.aiter_text()
            peek = _Peek(response.headers)
            try:
                async for piece in rest:
                    verdict = peek.add(piece)
                    if isinstance(verdict, QwenVLError):
                        await adrain(rest)
                        await response.aclose()
                        raise verdict
                    if not verdict:
                        break
            except QwenVLError:
                raise
            except Exception as exc:
                return _Opened(response, rest, _Raising(exc, rest), peek.head)
            return _Opened(response, rest, rest, peek.head)

        return await aretrying(send, self._max_retries, self._map_error)

    @asynccontextmanager
    async def astream_text(self, body: Mapping[str, Any]) -> AsyncIterator[OpenedStream]:
        opened = await self._aopen(body)
        response = opened.response
        try:
            yield OpenedStream(response.headers.get("x-request-id"), opened.pieces, opened.whole, opened.head)
            await adrain(opened.rest)
        finally:
            await response.aclose()

    async def afetch(self, url: str, limit: int = FETCH_LIMIT) -> bytes:
        return await afetch_with(await self._aclient(), url, self._fetch_timeout, limit)

    async def aclose(self) -> None:
        await self._async.aclose()
