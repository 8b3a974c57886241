"""The only module that does network I/O.

The compat protocol goes through the `openai` SDK client (auth, timeouts, connection pooling) but
reads streams as raw text through its streaming-response interface and parses JSON itself:
building the SDK's typed chunk objects costs several times the raw HTTP floor per chunk. The
native protocol goes through httpx. Both share one retry policy: exponential backoff with
jitter on 429, 500, 502, 503, 504 and connection errors, honouring `Retry-After`, and only before
the first byte of a response, so output already delivered is never silently repeated. Every
failure leaves this module as a `QwenVLError`.
"""

from __future__ import annotations

import asyncio
import functools
import json
import threading
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import Any, Protocol, TypeAlias

import httpx
import openai
from pydantic import SecretStr

from .errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    IncompleteStreamError,
    QwenVLError,
    error_from_body,
)
from .request_native import NATIVE_PATH, NATIVE_STREAM_HEADERS
from .retry import aretrying, parse_retry_after, retrying

__all__ = [
    "TIMEOUT_ERRORS",
    "TRANSPORT_ERRORS",
    "CompatTransport",
    "NativeTransport",
    "RawResponse",
    "Transport",
    "afetch_image",
    "describe_stream_failure",
    "failure_reason",
    "fetch_image",
]

try:  # openai >= 3 ships its own fork of httpx
    import httpx2

    TRANSPORT_ERRORS: tuple[type[Exception], ...] = (httpx.TransportError, httpx2.TransportError)
    TIMEOUT_ERRORS: tuple[type[Exception], ...] = (httpx.TimeoutException, httpx2.TimeoutException)
    _CONNECT_TIMEOUTS: tuple[type[Exception], ...] = (httpx.ConnectTimeout, httpx2.ConnectTimeout)
except ImportError:  # pragma: no cover - depends on the installed openai major version
    TRANSPORT_ERRORS = (httpx.TransportError,)
    TIMEOUT_ERRORS = (httpx.TimeoutException,)
    _CONNECT_TIMEOUTS = (httpx.ConnectTimeout,)

_BUILD_LOCK = threading.Lock()
_LIMITS = httpx.Limits(max_connections=1000, max_keepalive_connections=100)
"""The openai SDK's pool limits, for the native client too: httpx's default of 100 connections
queues the rest, and its pool's queueing makes 500 concurrent streams ~5x slower."""


@dataclass(frozen=True)
class RawResponse:
    request_id: str | None
    body: Mapping[str, Any]


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
    if isinstance(exc, TIMEOUT_ERRORS):
        limit = f"{read_timeout:g} s" if read_timeout is not None else "its limit"
        return IncompleteStreamError(
            f"The stream stalled: nothing arrived for longer than the read timeout ({limit} between "
            "chunks, set by `timeout=`)."
        )
    if isinstance(exc, TRANSPORT_ERRORS):
        return IncompleteStreamError(f"The connection broke in the middle of the stream: {failure_reason(exc)}.")
    return None


def _status_error(status: int, text: str, headers: Any) -> QwenVLError:
    error = error_from_body(status, text, request_id=headers.get("x-request-id"))
    error.retry_after = parse_retry_after(headers.get("retry-after"))
    return error


_Timeouts: TypeAlias = tuple[float, float | None]
"""(connect timeout, read timeout) in seconds, for the error messages."""


def _map_error(exc: Exception, timeouts: _Timeouts | None = None) -> QwenVLError:
    if isinstance(exc, QwenVLError):
        return exc
    if isinstance(exc, openai.APIStatusError):
        return _status_error(exc.response.status_code, exc.response.text, exc.response.headers)
    # The SDK's errors wrap the httpx one; httpx's own wrap httpcore's.
    cause = exc.__cause__ if isinstance(exc, openai.APIError) and exc.__cause__ is not None else exc
    connect, read = timeouts if timeouts is not None else (None, None)
    if isinstance(exc, (openai.APITimeoutError, *TIMEOUT_ERRORS)):
        if isinstance(cause, _CONNECT_TIMEOUTS):
            limit = f" ({connect:g} s)" if connect is not None else ""
            return APITimeoutError(
                f"Could not connect within the connect timeout{limit}. Check the network, proxy and base URL, "
                "or raise `connect_timeout=`."
            )
        limit = f" ({read:g} s)" if read is not None else ""
        return APITimeoutError(
            f"The server did not answer within the read timeout{limit}. Retry later, or raise `timeout=`."
        )
    if isinstance(exc, (openai.APIConnectionError, *TRANSPORT_ERRORS)):
        return APIConnectionError(
            f"Could not reach the API ({failure_reason(cause)}). Check the network, proxy and base URL; the "
            "call can be retried."
        )
    if isinstance(exc, openai.APIError):
        return error_from_body(500, str(exc))
    raise exc


def _json_body(content: bytes, status: int) -> Mapping[str, Any]:
    try:
        value = json.loads(content)
    except (ValueError, RecursionError):
        value = None
    if not isinstance(value, Mapping):
        raise APIStatusError(f"HTTP {status} with a body that is not JSON: {content[:300]!r}", status=status)
    return value


_FETCH_LIMIT = 20 * 1024 * 1024


def _fetched(response: httpx.Response, url: str) -> bytes:
    if response.status_code >= 400:
        raise APIConnectionError(f"Could not fetch the image {url!r} to send it inline: HTTP {response.status_code}")
    if len(response.content) > _FETCH_LIMIT:
        raise APIConnectionError(f"The image {url!r} is over {_FETCH_LIMIT:,} bytes; not inlined.")
    return response.content


def fetch_image(url: str, timeout: float = 30.0) -> bytes:
    """Download an image the caller asked to inline (servers such as Ollama take no image URLs)."""
    try:
        with httpx.Client(timeout=timeout, follow_redirects=True) as client:
            return _fetched(client.get(url), url)
    except TRANSPORT_ERRORS as exc:
        raise APIConnectionError(f"Could not fetch the image {url!r} to send it inline: {exc}") from exc


async def afetch_image(url: str, timeout: float = 30.0) -> bytes:
    try:
        async with httpx.AsyncClient(timeout=timeout, follow_redirects=True) as client:
            return _fetched(await client.get(url), url)
    except TRANSPORT_ERRORS as exc:
        raise APIConnectionError(f"Could not fetch the image {url!r} to send it inline: {exc}") from exc


class Transport(Protocol):
    """What the client needs from a transport; one implementation per wire protocol."""

    def stream_text(self, body: Mapping[str, Any]) -> Any: ...
    def astream_text(self, body: Mapping[str, Any]) -> Any: ...
    def post(self, body: Mapping[str, Any]) -> RawResponse: ...
    async def apost(self, body: Mapping[str, Any]) -> RawResponse: ...
    def close(self) -> None: ...
    async def aclose(self) -> None: ...


def _create_kwargs(body: Mapping[str, Any]) -> dict[str, Any]:
    # The whole body rides in extra_body, which the SDK merges in verbatim: its typed transform of
    # `messages` walks every part of every message (most of the per-request CPU with inline images).
    kwargs: dict[str, Any] = {"model": body["model"], "messages": [], "extra_body": dict(body)}
    if body.get("stream"):
        kwargs["stream"] = True  # the SDK's streaming-response handling needs to know
    return kwargs


class CompatTransport:
    """OpenAI-compatible `/chat/completions` over the openai SDK (its own retries off: ours apply)."""

    def __init__(
        self,
        *,
        base_url: str,
        api_key: SecretStr,
        timeout: float | None,
        connect_timeout: float,
        max_retries: int,
        default_headers: Mapping[str, str] | None = None,
        http_client: Any = None,
        async_http_client: Any = None,
    ) -> None:
        self._options: dict[str, Any] = {
            "base_url": base_url,
            "timeout": openai.Timeout(timeout, connect=connect_timeout),
            "max_retries": 0,
            "default_headers": dict(default_headers or {}),
        }
        self._max_retries = max_retries
        self._timeouts: _Timeouts = (connect_timeout, timeout)
        self._map_error = functools.partial(_map_error, timeouts=self._timeouts)
        self._key = api_key
        self._http_client = http_client
        self._async_http_client = async_http_client
        self._sync: openai.OpenAI | None = None
        self._async: openai.AsyncOpenAI | None = None
        self._async_loop: asyncio.AbstractEventLoop | None = None

    def _client(self) -> openai.OpenAI:
        with _BUILD_LOCK:  # threads making their first call together (LangChain batch) share one client
            if self._sync is None:
                self._sync = openai.OpenAI(
                    api_key=self._key.get_secret_value(), http_client=self._http_client, **self._options
                )
            return self._sync

    def _aclient(self) -> openai.AsyncOpenAI:
        loop = asyncio.get_running_loop()
        if self._async is None or self._async_loop is not loop:
            # An async client's connections belong to one event loop (each asyncio.run() makes a new one).
            self._async = openai.AsyncOpenAI(
                api_key=self._key.get_secret_value(), http_client=self._async_http_client, **self._options
            )
            self._async_loop = loop
        return self._async

    @contextmanager
    def stream_text(self, body: Mapping[str, Any]) -> Iterator[tuple[str | None, Iterator[str]]]:
        """Open a streaming request; yields the request id and the decoded body text, piece by piece."""
        kwargs = _create_kwargs(body)

        def send() -> tuple[Any, Any]:
            manager = self._client().chat.completions.with_streaming_response.create(**kwargs)
            return manager, manager.__enter__()

        manager, response = retrying(send, self._max_retries, self._map_error)
        try:
            yield response.headers.get("x-request-id"), response.iter_text()
        finally:
            manager.__exit__(None, None, None)

    @asynccontextmanager
    async def astream_text(self, body: Mapping[str, Any]) -> AsyncIterator[tuple[str | None, AsyncIterator[str]]]:
        kwargs = _create_kwargs(body)

        async def send() -> tuple[Any, Any]:
            manager = self._aclient().chat.completions.with_streaming_response.create(**kwargs)
            return manager, await manager.__aenter__()

        manager, response = await aretrying(send, self._max_retries, self._map_error)
        try:
            yield response.headers.get("x-request-id"), response.iter_text()
        finally:
            await manager.__aexit__(None, None, None)

    def post(self, body: Mapping[str, Any]) -> RawResponse:
        kwargs = _create_kwargs(body)
        raw = retrying(
            lambda: self._client().chat.completions.with_raw_response.create(**kwargs),
            self._max_retries,
            self._map_error,
        )
        return RawResponse(raw.headers.get("x-request-id"), _json_body(raw.http_response.content, raw.status_code))

    async def apost(self, body: Mapping[str, Any]) -> RawResponse:
        kwargs = _create_kwargs(body)

        async def send() -> Any:
            return await self._aclient().chat.completions.with_raw_response.create(**kwargs)

        raw = await aretrying(send, self._max_retries, self._map_error)
        return RawResponse(raw.headers.get("x-request-id"), _json_body(raw.http_response.content, raw.status_code))

    def close(self) -> None:
        if self._sync is not None:
            self._sync.close()
            self._sync = None

    async def aclose(self) -> None:
        if self._async is not None:
            await self._async.close()
            self._async = None


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
        default_headers: Mapping[str, str] | None = None,
        http_client: httpx.Client | None = None,
        async_http_client: httpx.AsyncClient | None = None,
    ) -> None:
        self._url = base_url.rstrip("/") + NATIVE_PATH
        self._timeout = httpx.Timeout(timeout, connect=connect_timeout)
        self._headers = {
            **dict(default_headers or {}),
            "Authorization": f"Bearer {api_key.get_secret_value()}",
            "Content-Type": "application/json",
        }
        self._max_retries = max_retries
        self._timeouts: _Timeouts = (connect_timeout, timeout)
        self._map_error = functools.partial(_map_error, timeouts=self._timeouts)
        self._sync = http_client
        self._async = async_http_client
        self._own_sync = http_client is None
        self._own_async = async_http_client is None
        self._async_loop: asyncio.AbstractEventLoop | None = None

    def _client(self) -> httpx.Client:
        with _BUILD_LOCK:  # threads making their first call together (LangChain batch) share one client
            if self._sync is None:
                self._sync = httpx.Client(timeout=self._timeout, limits=_LIMITS)
            return self._sync

    def _aclient(self) -> httpx.AsyncClient:
        loop = asyncio.get_running_loop()
        if self._async is None or (self._own_async and self._async_loop is not loop):
            # An async client's connections belong to one event loop (each asyncio.run() makes a new one).
            self._async = httpx.AsyncClient(timeout=self._timeout, limits=_LIMITS)
            self._async_loop = loop
        return self._async

    def _request(
        self, client: httpx.Client | httpx.AsyncClient, body: Mapping[str, Any], stream: bool
    ) -> httpx.Request:
        extra = NATIVE_STREAM_HEADERS if stream else {"Accept": "application/json"}
        content = json.dumps(body, ensure_ascii=False).encode()
        return client.build_request("POST", self._url, content=content, headers={**self._headers, **extra})

    def _send(self, body: Mapping[str, Any], stream: bool) -> httpx.Response:
        def send() -> httpx.Response:
            client = self._client()
            response = client.send(self._request(client, body, stream), stream=stream)
            if response.status_code >= 400:
                response.read()
                response.close()
                raise _status_error(response.status_code, response.text, response.headers)
            return response

        return retrying(send, self._max_retries, self._map_error)

    async def _asend(self, body: Mapping[str, Any], stream: bool) -> httpx.Response:
        async def send() -> httpx.Response:
            client = self._aclient()
            response = await client.send(self._request(client, body, stream), stream=stream)
            if response.status_code >= 400:
                await response.aread()
                await response.aclose()
                raise _status_error(response.status_code, response.text, response.headers)
            return response

        return await aretrying(send, self._max_retries, self._map_error)

    @contextmanager
    def stream_text(self, body: Mapping[str, Any]) -> Iterator[tuple[str | None, Iterator[str]]]:
        response = self._send(body, stream=True)
        try:
            yield response.headers.get("x-request-id"), response.iter_text()
        finally:
            response.close()

    @asynccontextmanager
    async def astream_text(self, body: Mapping[str, Any]) -> AsyncIterator[tuple[str | None, AsyncIterator[str]]]:
        response = await self._asend(body, stream=True)
        try:
            yield response.headers.get("x-request-id"), response.aiter_text()
        finally:
            await response.aclose()

    def post(self, body: Mapping[str, Any]) -> RawResponse:
        response = self._send(body, stream=False)
        return RawResponse(response.headers.get("x-request-id"), _json_body(response.content, response.status_code))

    async def apost(self, body: Mapping[str, Any]) -> RawResponse:
        response = await self._asend(body, stream=False)
        return RawResponse(response.headers.get("x-request-id"), _json_body(response.content, response.status_code))

    def close(self) -> None:
        if self._sync is not None and self._own_sync:
            self._sync.close()
            self._sync = None

    async def aclose(self) -> None:
        if self._async is not None and self._own_async:
            await self._async.aclose()
            self._async = None
