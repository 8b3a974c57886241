"""OpenAI-compatible `/chat/completions` over the openai SDK (auth, timeouts, connection pooling).

Streams are read as raw text through the SDK's streaming-response interface and parsed by the
core: building the SDK's typed chunk objects costs several times the raw HTTP floor per chunk.
The SDK's own retries are off; `retry.py`'s apply. This is the only module that imports the SDK,
and nothing imports it until a compat transport is built (`import openai` is most of the cost of
importing the library otherwise).
"""

from __future__ import annotations

import functools
import threading
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import openai
from pydantic import SecretStr

from .errors import QwenVLError, error_from_body
from .fetch import FETCH_LIMIT, afetch_with, fetch_with, timeout_tuple
from .loop_clients import LoopClients
from .retry import aretrying, retrying
from .transport import (
    OpenedStream,
    RawResponse,
    Timeouts,
    adrain,
    aread_at_most,
    connection_error,
    drain,
    header_limit,
    header_timeout_error,
    is_event_stream,
    json_body,
    non_sse_answer,
    read_at_most,
    read_timeouts,
    status_error,
    timeout_error,
    timeout_errors,
    transport_errors,
)

__all__ = ["CompatTransport"]

_BUILD_LOCK = threading.Lock()


def _map_error(exc: Exception, timeouts: Timeouts) -> QwenVLError:
    if isinstance(exc, QwenVLError):
        return exc
    if isinstance(exc, openai.APIStatusError):
        return status_error(exc.response.status_code, exc.response.text, exc.response.headers)
    # The SDK's errors wrap the httpx one; httpx's own wrap httpcore's.
    cause = exc.__cause__ if isinstance(exc, openai.APIError) and exc.__cause__ is not None else exc
    if isinstance(exc, (openai.APITimeoutError, *timeout_errors())):
        return timeout_error(cause, timeouts)
    if isinstance(exc, (openai.APIConnectionError, *transport_errors())):
        return connection_error(cause)
    if isinstance(exc, openai.APIError):
        return error_from_body(500, str(exc))
    raise exc


def _create_kwargs(body: Mapping[str, Any]) -> dict[str, Any]:
    # The whole body rides in extra_body, which the SDK merges in verbatim: its typed transform of
    # `messages` walks every part of every message (most of the per-request CPU with inline images).
    kwargs: dict[str, Any] = {"model": body["model"], "messages": [], "extra_body": dict(body)}
    if body.get("stream"):
        kwargs["stream"] = True  # the SDK's streaming-response handling needs to know
    return kwargs


class _Empty:
    """An async iterator with nothing in it."""

    def __aiter__(self) -> _Empty:
        return self

    async def __anext__(self) -> str:
        raise StopAsyncIteration


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
        header_timeout: float | None = None,
        default_headers: Mapping[str, str] | None = None,
        http_client: Any = None,
        async_http_client: Any = None,
    ) -> None:
        self._read_timeout = timeout
        self._header_limit = header_limit(header_timeout, timeout)
        self._stream_timeout = openai.Timeout(timeout, connect=connect_timeout, read=self._header_limit)
        self._options: dict[str, Any] = {
            "base_url": base_url,
            "timeout": openai.Timeout(timeout, connect=connect_timeout),
            "max_retries": 0,
            "default_headers": dict(default_headers or {}),
        }
        self._fetch_timeout = timeout_tuple(connect_timeout, timeout)
        self._max_retries = max_retries
        self._map_error = functools.partial(_map_error, timeouts=(connect_timeout, timeout))
        self._key = api_key
        self._http_client = http_client
        self._async_http_client = async_http_client
        self._sync: openai.OpenAI | None = None
        self._async: LoopClients[openai.AsyncOpenAI] = LoopClients(self._new_async, self._close_async)

    def _client(self) -> openai.OpenAI:
        with _BUILD_LOCK:  # threads making their first call together (LangChain batch) share one client
            if self._sync is None:
                self._sync = openai.OpenAI(
                    api_key=self._key.get_secret_value(), http_client=self._http_client, **self._options
                )
            return self._sync

    def _new_async(self) -> openai.AsyncOpenAI:
        return openai.AsyncOpenAI(
            api_key=self._key.get_secret_value(), http_client=self._async_http_client, **self._options
        )

    async def _close_async(self, client: openai.AsyncOpenAI) -> None:
        if self._async_http_client is None:  # a client the caller passed in stays the caller's to close
            await client.close()

    # -- sync ------------------------------------------------------------------------------------

    def _headers_timed_out(self, exc: Exception) -> bool:
        return isinstance(exc, openai.APITimeoutError) and isinstance(exc.__cause__, read_timeouts())

    def _body_timeout(self, response: Any) -> None:
        """The headers are in: the body's reads get the read timeout (read when the body starts)."""
        extensions = response.http_response.request.extensions
        extensions["timeout"] = {**extensions.get("timeout", {}), "read": self._read_timeout}

    @contextmanager
    def stream_text(self, body: Mapping[str, Any]) -> Iterator[OpenedStream]:
        """Open a streaming request; yields the request id and the decoded body text, piece by piece."""
        kwargs = _create_kwargs(body)

        def send() -> tuple[Any, Any, Mapping[str, Any] | None]:
            manager = self._client().chat.completions.with_streaming_response.create(
                **kwargs, timeout=self._stream_timeout
            )
            try:
                response = manager.__enter__()
            except Exception as exc:
                if self._headers_timed_out(exc):
                    raise header_timeout_error(self._header_limit) from exc
                raise
            self._body_timeout(response)
            if is_event_stream(response.headers):
                return manager, response, None
            try:
                data, complete = read_at_most(response.http_response.iter_bytes())
                return manager, response, non_sse_answer(response.status_code, data, complete, response.headers)
            finally:
                manager.__exit__(None, None, None)

        manager, response, whole = retrying(send, self._max_retries, self._map_error)
        try:
            pieces = response.iter_text() if whole is None else iter(())
            yield OpenedStream(response.headers.get("x-request-id"), pieces, whole)
            drain(response.http_response, pieces)
        finally:
            manager.__exit__(None, None, None)

    def post(self, body: Mapping[str, Any]) -> RawResponse:
        kwargs = _create_kwargs(body)
        raw = retrying(
            lambda: self._client().chat.completions.with_raw_response.create(**kwargs),
            self._max_retries,
            self._map_error,
        )
        return RawResponse(raw.headers.get("x-request-id"), json_body(raw.http_response.content, raw.status_code))

    def fetch(self, url: str, limit: int = FETCH_LIMIT) -> bytes:
        http = getattr(self._client(), "_client", None)  # the SDK's pooled HTTP client
        if http is None or not hasattr(http, "stream"):  # pragma: no cover - depends on the SDK version
            raise TypeError("this openai SDK does not expose its HTTP client; cannot fetch images")
        return fetch_with(http, url, self._fetch_timeout, limit)

    def close(self) -> None:
        if self._sync is not None:
            self._sync.close()
            self._sync = None

    # -- async -----------------------------------------------------------------------------------

    async def _aclient(self) -> openai.AsyncOpenAI:
        return await self._async.get()

    @asynccontextmanager
    async def astream_text(self, body: Mapping[str, Any]) -> AsyncIterator[OpenedStream]:
        kwargs = _create_kwargs(body)

        async def send() -> tuple[Any, Any, Mapping[str, Any] | None]:
            client = await self._aclient()
            manager = client.chat.completions.with_streaming_response.create(**kwargs, timeout=self._stream_timeout)
            try:
                response = await manager.__aenter__()
            except Exception as exc:
                if self._headers_timed_out(exc):
                    raise header_timeout_error(self._header_limit) from exc
                raise
            self._body_timeout(response)
            if is_event_stream(response.headers):
                return manager, response, None
            try:
                data, complete = await aread_at_most(response.http_response.aiter_bytes())
                return manager, response, non_sse_answer(response.status_code, data, complete, response.headers)
            finally:
                await manager.__aexit__(None, None, None)

        manager, response, whole = await aretrying(send, self._max_retries, self._map_error)
        try:
            pieces = response.iter_text() if whole is None else _Empty()
            yield OpenedStream(response.headers.get("x-request-id"), pieces, whole)
            await adrain(pieces)
        finally:
            await manager.__aexit__(None, None, None)

    async def apost(self, body: Mapping[str, Any]) -> RawResponse:
        kwargs = _create_kwargs(body)

        async def send() -> Any:
            return await (await self._aclient()).chat.completions.with_raw_response.create(**kwargs)

        raw = await aretrying(send, self._max_retries, self._map_error)
        return RawResponse(raw.headers.get("x-request-id"), json_body(raw.http_response.content, raw.status_code))

    async def afetch(self, url: str, limit: int = FETCH_LIMIT) -> bytes:
        http = getattr(await self._aclient(), "_client", None)
        if http is None or not hasattr(http, "stream"):  # pragma: no cover - depends on the SDK version
            raise TypeError("this openai SDK does not expose its HTTP client; cannot fetch images")
        return await afetch_with(http, url, self._fetch_timeout, limit)

    async def aclose(self) -> None:
        await self._async.aclose()
