"""The only module that does network I/O.

The compat protocol goes through the `openai` SDK client (auth, retries before the first byte,
timeouts, connection pooling) but reads streams as raw lines through its streaming-response
interface and parses JSON itself: building the SDK's typed chunk objects costs several times the
raw HTTP floor per chunk. Every transport failure leaves here as a `QwenVLError`.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import Any, Protocol

import httpx
import openai
from pydantic import SecretStr

from .errors import APIConnectionError, APIStatusError, APITimeoutError, QwenVLError, error_from_body
from .request_native import NATIVE_PATH, NATIVE_STREAM_HEADERS

__all__ = ["TIMEOUT_ERRORS", "TRANSPORT_ERRORS", "CompatTransport", "RawResponse"]

try:  # openai >= 3 ships its own fork of httpx
    import httpx2

    TRANSPORT_ERRORS: tuple[type[Exception], ...] = (httpx.TransportError, httpx2.TransportError)
    TIMEOUT_ERRORS: tuple[type[Exception], ...] = (httpx.TimeoutException, httpx2.TimeoutException)
except ImportError:  # pragma: no cover - depends on the installed openai major version
    TRANSPORT_ERRORS = (httpx.TransportError,)
    TIMEOUT_ERRORS = (httpx.TimeoutException,)

_SDK_KWARGS = ("model", "messages", "stream")


@dataclass(frozen=True)
class RawResponse:
    request_id: str | None
    body: Mapping[str, Any]


def _create_kwargs(body: Mapping[str, Any]) -> dict[str, Any]:
    # Everything but the three core keys rides in extra_body, so the SDK sends it verbatim.
    kwargs = {k: body[k] for k in _SDK_KWARGS if k in body}
    kwargs["extra_body"] = {k: v for k, v in body.items() if k not in _SDK_KWARGS}
    return kwargs


def _map_sdk_error(exc: Exception) -> QwenVLError:
    if isinstance(exc, openai.APIStatusError):
        response = exc.response
        return error_from_body(response.status_code, response.text, request_id=response.headers.get("x-request-id"))
    if isinstance(exc, (openai.APITimeoutError, *TIMEOUT_ERRORS)):
        return APITimeoutError(f"The request timed out: {exc}")
    if isinstance(exc, (openai.APIConnectionError, *TRANSPORT_ERRORS)):
        cause = exc.__cause__ or exc
        return APIConnectionError(f"Could not reach the API: {cause}")
    if isinstance(exc, openai.APIError):
        return error_from_body(500, str(exc))
    raise exc


class CompatTransport:
    """OpenAI-compatible `/chat/completions` over the openai SDK, sync and async."""

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
            "max_retries": max_retries,
            "default_headers": dict(default_headers or {}),
        }
        self._key = api_key
        self._http_client = http_client
        self._async_http_client = async_http_client
        self._sync: openai.OpenAI | None = None
        self._async: openai.AsyncOpenAI | None = None

    def _client(self) -> openai.OpenAI:
        if self._sync is None:
            self._sync = openai.OpenAI(
                api_key=self._key.get_secret_value(), http_client=self._http_client, **self._options
            )
        return self._sync

    def _aclient(self) -> openai.AsyncOpenAI:
        if self._async is None:
            self._async = openai.AsyncOpenAI(
                api_key=self._key.get_secret_value(), http_client=self._async_http_client, **self._options
            )
        return self._async

    @contextmanager
    def stream_text(self, body: Mapping[str, Any]) -> Iterator[tuple[str | None, Iterator[str]]]:
        """Open a streaming request; yields the request id and the decoded body text, piece by piece."""
        try:
            manager = self._client().chat.completions.with_streaming_response.create(**_create_kwargs(body))
            response = manager.__enter__()
        except Exception as exc:
            raise _map_sdk_error(exc) from exc
        try:
            yield response.headers.get("x-request-id"), response.iter_text()
        finally:
            manager.__exit__(None, None, None)

    @asynccontextmanager
    async def astream_text(self, body: Mapping[str, Any]) -> AsyncIterator[tuple[str | None, AsyncIterator[str]]]:
        try:
            manager = self._aclient().chat.completions.with_streaming_response.create(**_create_kwargs(body))
            response = await manager.__aenter__()
        except Exception as exc:
            raise _map_sdk_error(exc) from exc
        try:
            yield response.headers.get("x-request-id"), response.iter_text()
        finally:
            await manager.__aexit__(None, None, None)

    def post(self, body: Mapping[str, Any]) -> RawResponse:
        try:
            raw = self._client().chat.completions.with_raw_response.create(**_create_kwargs(body))
            data = json.loads(raw.http_response.content)
        except Exception as exc:
            raise _map_sdk_error(exc) from exc
        return RawResponse(raw.headers.get("x-request-id"), data)

    async def apost(self, body: Mapping[str, Any]) -> RawResponse:
        try:
            raw = await self._aclient().chat.completions.with_raw_response.create(**_create_kwargs(body))
            data = json.loads(raw.http_response.content)
        except Exception as exc:
            raise _map_sdk_error(exc) from exc
        return RawResponse(raw.headers.get("x-request-id"), data)

    def close(self) -> None:
        if self._sync is not None:
            self._sync.close()
            self._sync = None

    async def aclose(self) -> None:
        if self._async is not None:
            await self._async.close()
            self._async = None


class Transport(Protocol):
    """What the client needs from a transport; one implementation per wire protocol."""

    def stream_text(self, body: Mapping[str, Any]) -> Any: ...
    def astream_text(self, body: Mapping[str, Any]) -> Any: ...
    def post(self, body: Mapping[str, Any]) -> RawResponse: ...
    async def apost(self, body: Mapping[str, Any]) -> RawResponse: ...
    def close(self) -> None: ...
    async def aclose(self) -> None: ...


def _retry_delay(attempt: int, retry_after: str | None) -> float:
    """Exponential backoff with jitter; a `Retry-After` in seconds wins (capped at 60 s)."""
    if retry_after:
        try:
            return min(max(float(retry_after), 0.0), 60.0)
        except ValueError:
            pass
    return min(0.5 * 2.0**attempt, 8.0) * (0.5 + random.random() / 2)


def _map_httpx_error(exc: Exception) -> QwenVLError:
    if isinstance(exc, TIMEOUT_ERRORS):
        return APITimeoutError(f"The request timed out: {exc}")
    return APIConnectionError(f"Could not reach the API: {exc}")


class NativeTransport:
    """Native DashScope `multimodal-generation` over httpx, sync and async, with retries before the first byte."""

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
        self._sync = http_client
        self._async = async_http_client
        self._own_sync = http_client is None
        self._own_async = async_http_client is None

    def _client(self) -> httpx.Client:
        if self._sync is None:
            self._sync = httpx.Client(timeout=self._timeout)
        return self._sync

    def _aclient(self) -> httpx.AsyncClient:
        if self._async is None:
            self._async = httpx.AsyncClient(timeout=self._timeout)
        return self._async

    def _request(
        self, client: httpx.Client | httpx.AsyncClient, body: Mapping[str, Any], stream: bool
    ) -> httpx.Request:
        headers = (
            {**self._headers, **NATIVE_STREAM_HEADERS} if stream else {**self._headers, "Accept": "application/json"}
        )
        return client.build_request(
            "POST",
            self._url,
            content=json.dumps(body, ensure_ascii=False).encode(),
            headers=headers,
            timeout=self._timeout,
        )

    def _send(self, body: Mapping[str, Any], stream: bool) -> httpx.Response:
        client = self._client()
        for attempt in range(self._max_retries + 1):
            try:
                response = client.send(self._request(client, body, stream), stream=stream)
            except TRANSPORT_ERRORS as exc:
                error = _map_httpx_error(exc)
                if attempt >= self._max_retries:
                    raise error from exc
                time.sleep(_retry_delay(attempt, None))
                continue
            if response.status_code < 400:
                return response
            response.read()
            error = error_from_body(
                response.status_code, response.text, request_id=response.headers.get("x-request-id")
            )
            response.close()
            if not (error.retryable and attempt < self._max_retries):
                raise error
            time.sleep(_retry_delay(attempt, response.headers.get("retry-after")))
        raise AssertionError("unreachable")  # pragma: no cover

    async def _asend(self, body: Mapping[str, Any], stream: bool) -> httpx.Response:
        client = self._aclient()
        for attempt in range(self._max_retries + 1):
            try:
                response = await client.send(self._request(client, body, stream), stream=stream)
            except TRANSPORT_ERRORS as exc:
                error = _map_httpx_error(exc)
                if attempt >= self._max_retries:
                    raise error from exc
                await asyncio.sleep(_retry_delay(attempt, None))
                continue
            if response.status_code < 400:
                return response
            await response.aread()
            error = error_from_body(
                response.status_code, response.text, request_id=response.headers.get("x-request-id")
            )
            await response.aclose()
            if not (error.retryable and attempt < self._max_retries):
                raise error
            await asyncio.sleep(_retry_delay(attempt, response.headers.get("retry-after")))
        raise AssertionError("unreachable")  # pragma: no cover

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
        return RawResponse(response.headers.get("x-request-id"), _json_body(response.text, response.status_code))

    async def apost(self, body: Mapping[str, Any]) -> RawResponse:
        response = await self._asend(body, stream=False)
        return RawResponse(response.headers.get("x-request-id"), _json_body(response.text, response.status_code))

    def close(self) -> None:
        if self._sync is not None and self._own_sync:
            self._sync.close()
            self._sync = None

    async def aclose(self) -> None:
        if self._async is not None and self._own_async:
            await self._async.aclose()
            self._async = None


def _json_body(text: str, status: int) -> Mapping[str, Any]:
    try:
        value = json.loads(text)
    except ValueError:
        value = None
    if not isinstance(value, Mapping):
        raise APIStatusError(f"HTTP {status} with a body that is not JSON: {text[:300]!r}", status=status)
    return value
