"""`QwenVLClient`: chat / stream / achat / astream on the neutral types.

One stream state machine (`_StreamState`) does all the work; the sync and async drivers are
short loops around it. Calls in thinking mode and calls to streaming-only models are always
streamed on the wire (a non-streaming call streams and aggregates), which also avoids the
server's ~180 s non-streaming timeout for long reasoning.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import replace
from typing import Any

from pydantic import SecretStr

from .accumulator import ChatResult, StreamAccumulator
from .catalog import get_spec
from .errors import IncompleteStreamError, QwenVLError
from .events import ReasoningDelta, StreamEnd, StreamEvent, TextDelta
from .media import prepare_media, remote_image_urls, with_fetched_images
from .parse_compat import CompatStreamParser, events_from_compat_response
from .parse_native import NativeStreamParser, events_from_native_response
from .policies import apply_policies
from .regions import Endpoint, Protocol, require_api_key, resolve_api_key, resolve_endpoint
from .request_compat import serialize_compat
from .request_native import serialize_native
from .sse import LineSplitter, SSEDecoder
from .think_tags import ThinkTagSplitter
from .transport import (
    TIMEOUT_ERRORS,
    TRANSPORT_ERRORS,
    CompatTransport,
    NativeTransport,
    RawResponse,
    Transport,
    afetch_image,
    failure_reason,
    fetch_image,
)
from .types import ChatRequest

__all__ = ["DEFAULT_CONNECT_TIMEOUT", "DEFAULT_TIMEOUT", "QwenVLClient"]

DEFAULT_TIMEOUT = 600.0
"""Seconds allowed between two reads of a response (not for the whole stream)."""
DEFAULT_CONNECT_TIMEOUT = 10.0
"""Seconds allowed to open a connection."""

_PARTIAL_NOTE = (
    " What arrived is in the error's `partial`; a response that has started is never retried "
    "automatically, so retry the call to get a complete answer."
)


class _StreamState:
    """Text in, events out; remembers everything so a failure can carry the partial result."""

    __slots__ = ("_decoder", "_lines", "_parser", "_read_timeout", "_splitter", "acc", "done", "error")

    def __init__(
        self,
        parser: CompatStreamParser | NativeStreamParser,
        *,
        split_think_tags: bool = False,
        read_timeout: float | None = None,
    ) -> None:
        self._read_timeout = read_timeout
        self._lines = LineSplitter()
        self._decoder = SSEDecoder()
        self._parser = parser
        self._splitter = ThinkTagSplitter() if split_think_tags else None
        self.acc = StreamAccumulator()
        self.done = False
        self.error: QwenVLError | None = None

    def feed_text(self, text: str) -> list[StreamEvent]:
        """Events parsed from this piece; on a failure, the events before it (`error` is then set)."""
        out: list[StreamEvent] = []
        feed = self._decoder.feed
        try:
            for line in self._lines.feed(text):
                event = feed(line)
                if event is not None:
                    self._take(self._parser.feed_event(event), out)
                    if self.done:  # nothing after the end counts, however the body was cut
                        break
        except QwenVLError as exc:
            self.error = self.fail(exc)
            self.done = True
        return out

    def _take(self, events: list[StreamEvent], out: list[StreamEvent]) -> None:
        if self._splitter is not None:
            events = self._split(events, self._splitter)
        add = self.acc.add
        for item in events:
            add(item)
            out.append(item)
            if type(item) is StreamEnd:
                self.done = True

    def _split(self, events: list[StreamEvent], splitter: ThinkTagSplitter) -> list[StreamEvent]:
        """Route answer text through the `<think>` splitter (self-hosted servers without a parser)."""
        out: list[StreamEvent] = []
        for event in events:
            if type(event) is TextDelta:
                out.extend(splitter.feed(event.text))
            elif type(event) is ReasoningDelta:
                # The server parses reasoning itself: nothing to split, and held text was answer text.
                self._splitter = None
                out.extend(TextDelta(e.text) for e in splitter.flush())
                out.append(event)
            else:
                if type(event) is StreamEnd:
                    out.extend(splitter.flush())
                out.append(event)
        return out

    def finish(self) -> list[StreamEvent]:
        """End of the body without `[DONE]`: flush, then end (or raise incomplete)."""
        out: list[StreamEvent] = []
        for line in self._lines.flush():
            event = self._decoder.feed(line)
            if event is not None:
                self._take(self._parser.feed_event(event), out)
        last = self._decoder.flush()
        if last is not None and not self.done:
            self._take(self._parser.feed_event(last), out)
        if not self.done:
            self._take(self._parser.close(), out)
        return out

    def fail(self, exc: BaseException) -> QwenVLError:
        """Turn any failure into a library error that carries what was received (and the request id)."""
        if isinstance(exc, QwenVLError):
            error = exc
        elif isinstance(exc, TIMEOUT_ERRORS):
            limit = f"{self._read_timeout:g} s" if self._read_timeout is not None else "its limit"
            error = IncompleteStreamError(
                f"The stream stalled: nothing arrived for longer than the read timeout ({limit} between "
                "chunks, set by `timeout=`)."
            )
        elif isinstance(exc, TRANSPORT_ERRORS):
            error = IncompleteStreamError(f"The connection broke in the middle of the stream: {failure_reason(exc)}.")
        else:
            raise exc
        parser = self._parser
        if error.request_id is None:
            error.request_id = parser.request_id
        if type(error) is IncompleteStreamError and _PARTIAL_NOTE not in error.message:
            error.message += _PARTIAL_NOTE if error.message.endswith(".") else "." + _PARTIAL_NOTE
            error.args = (error.message,)
        partial = self.acc.partial()
        if partial.finish_reason is None:  # the ids are known even though no StreamEnd arrived
            response_id = parser.response_id if isinstance(parser, CompatStreamParser) else parser.request_id
            partial = replace(partial, model=parser.model, response_id=response_id, request_id=error.request_id)
        error.partial = partial
        return error


def _thinking_to_chat_template(body: dict[str, Any]) -> dict[str, Any]:
    """Self-hosted servers (vLLM, SGLang, llama.cpp) take the thinking switch through the chat template."""
    if "enable_thinking" not in body and "thinking_budget" not in body:
        return body
    body = dict(body)
    kwargs = dict(body.get("chat_template_kwargs") or {})
    if "enable_thinking" in body:
        kwargs.setdefault("enable_thinking", body.pop("enable_thinking"))
    if "thinking_budget" in body:
        body["thinking_token_budget"] = body.pop("thinking_budget")  # vLLM's name for it
    body["chat_template_kwargs"] = kwargs
    return body


_BUILD_LOCK = threading.Lock()


class QwenVLClient:
    """A DashScope client for Qwen3-VL and QVQ. Construction needs no key and no network.

    Example:
        client = QwenVLClient(region="intl")
        for event in client.stream(ChatRequest(model="qvq-max", messages=(...,))):
            ...

    Timeouts fit long thinking: `timeout` (default 600 s; None: no limit) is the read timeout, the
    longest wait for the next piece of a response, not a limit on the whole stream, so a reasoning
    stream may run for many minutes as long as chunks keep coming. `connect_timeout` (default 10 s)
    bounds opening the connection. Both apply to either protocol. A stream that stalls raises
    `IncompleteStreamError` with what arrived in `partial`.

    Retries: up to `max_retries` (default 2; 0 disables) on 429, 500, 502, 503, 504 and connection
    errors, only before the response has started, with exponential backoff and jitter, honouring
    `Retry-After`. Other 4xx are never retried, and neither is a stream that broke after it started.
    """

    def __init__(
        self,
        *,
        api_key: SecretStr | str | None = None,
        region: str | None = None,
        base_url: str | None = None,
        protocol: Protocol = "openai",
        timeout: float | None = DEFAULT_TIMEOUT,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        max_retries: int = 2,
        default_headers: Mapping[str, str] | None = None,
        http_client: Any = None,
        async_http_client: Any = None,
        parse_think_tags: bool | None = None,
        thinking_via_chat_template: bool | None = None,
        downscale_images: bool = True,
        inline_remote_images: bool = False,
    ) -> None:
        self.endpoint: Endpoint = resolve_endpoint(region=region, base_url=base_url, protocol=protocol)
        self._api_key = api_key
        self.parse_think_tags = parse_think_tags
        """Split `<think>` tags out of the answer; None: on for thinking models on non-DashScope servers."""
        self.thinking_via_chat_template = thinking_via_chat_template
        """Send thinking switches as `chat_template_kwargs`; None: on for non-DashScope servers."""
        self.downscale_images = downscale_images
        """Resize inline images above the model's pixel budget before sending (needs Pillow)."""
        self.inline_remote_images = inline_remote_images
        """Download http(s) images and send them inline (Ollama's OpenAI endpoint takes no image URLs)."""
        self._transport_options: dict[str, Any] = {
            "timeout": timeout,
            "connect_timeout": connect_timeout,
            "max_retries": max_retries,
            "default_headers": default_headers,
            "http_client": http_client,
            "async_http_client": async_http_client,
        }
        self._transport: Transport | None = None

    def __repr__(self) -> str:
        return f"QwenVLClient(base_url={self.endpoint.base_url!r})"

    def _key(self) -> SecretStr:
        explicit = resolve_api_key(self._api_key, env={})
        if explicit is not None:
            return explicit
        if not self.endpoint.is_dashscope:
            # DASHSCOPE_API_KEY is never sent anywhere else; self-hosted servers rarely need a key.
            return SecretStr("EMPTY")
        return require_api_key(resolve_api_key(None), self.endpoint)

    @property
    def protocol(self) -> Protocol:
        return self.endpoint.protocol

    def _get_transport(self) -> Transport:
        with _BUILD_LOCK:  # concurrent first calls from threads build one transport, not several
            if self._transport is None:
                cls = NativeTransport if self.protocol == "dashscope" else CompatTransport
                self._transport = cls(base_url=self.endpoint.base_url, api_key=self._key(), **self._transport_options)
            return self._transport

    def _inline(self, request: ChatRequest) -> ChatRequest:
        if not self.inline_remote_images:
            return request
        urls = remote_image_urls(request)
        return with_fetched_images(request, {url: fetch_image(url) for url in urls})

    async def _ainline(self, request: ChatRequest) -> ChatRequest:
        if not self.inline_remote_images:
            return request
        urls = remote_image_urls(request)
        return with_fetched_images(request, {url: await afetch_image(url) for url in urls})

    def _body(self, request: ChatRequest, *, stream: bool) -> tuple[dict[str, Any], bool]:
        spec = get_spec(request.model)
        request = prepare_media(request, spec, downscale=self.downscale_images)
        resolved = apply_policies(request, spec, stream=stream)
        resolved = replace(resolved, stream=resolved.stream or resolved.thinking)
        if self.protocol == "dashscope":
            return serialize_native(resolved), resolved.stream
        body = serialize_compat(resolved)
        via_template = self.thinking_via_chat_template
        if via_template or (via_template is None and not self.endpoint.speaks_dashscope):
            body = _thinking_to_chat_template(body)
        return body, resolved.stream

    def _split_think_tags(self, model: str | None) -> bool:
        if self.parse_think_tags is not None:
            return self.parse_think_tags
        return not self.endpoint.speaks_dashscope and model is not None and get_spec(model).thinking_only

    def _parser(self, request_id: str | None, body: dict[str, Any]) -> CompatStreamParser | NativeStreamParser:
        if self.protocol == "dashscope":
            return NativeStreamParser(request_id, body.get("model"))
        return CompatStreamParser(request_id)

    def _state(self, request_id: str | None, body: dict[str, Any]) -> _StreamState:
        return _StreamState(
            self._parser(request_id, body),
            split_think_tags=self._split_think_tags(body["model"]),
            read_timeout=self._transport_options["timeout"],
        )

    def _events(self, raw: RawResponse, body: dict[str, Any]) -> list[StreamEvent]:
        if self.protocol == "dashscope":
            return events_from_native_response(raw.body, raw.request_id, body.get("model"))
        return events_from_compat_response(raw.body, raw.request_id)

    # -- streaming -------------------------------------------------------------------------------

    def stream(self, request: ChatRequest) -> Iterator[StreamEvent]:
        """Stream neutral events; the last one is `StreamEnd`. Errors carry `partial`."""
        body, _ = self._body(self._inline(request), stream=True)
        yield from self._stream_body(body)

    def _stream_body(self, body: dict[str, Any]) -> Iterator[StreamEvent]:
        with self._get_transport().stream_text(body) as (request_id, pieces):
            state = self._state(request_id, body)
            try:
                for text in pieces:
                    events = state.feed_text(text)
                    if events:
                        yield from events
                    if state.done:
                        break
                else:
                    yield from state.finish()
            except Exception as exc:
                raise state.fail(exc) from exc
            if state.error is not None:
                raise state.error

    async def astream(self, request: ChatRequest) -> AsyncIterator[StreamEvent]:
        body, _ = self._body(await self._ainline(request), stream=True)
        async for event in self._astream_body(body):
            yield event

    async def _astream_body(self, body: dict[str, Any]) -> AsyncIterator[StreamEvent]:
        async with self._get_transport().astream_text(body) as (request_id, pieces):
            state = self._state(request_id, body)
            try:
                async for text in pieces:
                    events = state.feed_text(text)
                    for event in events:
                        yield event
                    if state.done:
                        break
                else:
                    for event in state.finish():
                        yield event
            except Exception as exc:
                raise state.fail(exc) from exc
            if state.error is not None:
                raise state.error

    # -- one result --------------------------------------------------------------------------------

    def chat(self, request: ChatRequest) -> ChatResult:
        """One final result; streams under the hood when the model or thinking mode needs it."""
        body, wire_stream = self._body(self._inline(request), stream=False)
        acc = StreamAccumulator()
        if wire_stream:
            for event in self._stream_body(body):
                acc.add(event)
        else:
            raw = self._get_transport().post(body)
            for event in self._events(raw, body):
                acc.add(event)
        return acc.result()

    async def achat(self, request: ChatRequest) -> ChatResult:
        body, wire_stream = self._body(await self._ainline(request), stream=False)
        acc = StreamAccumulator()
        if wire_stream:
            async for event in self._astream_body(body):
                acc.add(event)
        else:
            raw = await self._get_transport().apost(body)
            for event in self._events(raw, body):
                acc.add(event)
        return acc.result()

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()

    async def aclose(self) -> None:
        if self._transport is not None:
            await self._transport.aclose()
