"""`QwenVLClient`: chat / stream / achat / astream on the neutral types.

A call goes: policies (pure, before anything costly) → remote images fetched if asked → media
checked and sized → the protocol's body → transport → `StreamDecoder` → events. Calls in
thinking mode and calls to streaming-only models are always streamed on the wire (a
non-streaming call streams and aggregates), which also avoids the server's ~180 s
non-streaming timeout for long reasoning.
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from pydantic import SecretStr

from .accumulator import ChatResult, StreamAccumulator
from .catalog import ModelSpec, get_spec, model_hint
from .decoder import StreamDecoder
from .errors import NotFoundError, QwenVLError, add_hint, redact_error
from .events import StreamEvent
from .media import check_urls, prepare_media_report, remote_image_urls, with_fetched_images
from .policies import ResolvedRequest, ServerTraits, apply_policies, resolve_messages
from .protocols import PROTOCOLS, WireProtocol
from .regions import Endpoint, Protocol, require_api_key, resolve_api_key, resolve_endpoint
from .sent_images import image_geometries
from .settings import DEFAULT_CONNECT_TIMEOUT, DEFAULT_TIMEOUT, ClientOptions
from .types import ChatRequest

if TYPE_CHECKING:
    from .transport import Transport

__all__ = ["DEFAULT_CONNECT_TIMEOUT", "DEFAULT_TIMEOUT", "AsyncChatStream", "ChatStream", "QwenVLClient"]


@dataclass(frozen=True)
class _Call:
    """One call after the policies: what is left to do is I/O and media work."""

    spec: ModelSpec
    resolved: ResolvedRequest
    images: list[dict[str, Any] | None] = field(default_factory=list)
    """Each image of the request, in order: its geometry once the media stage ran (None: remote)."""


class _Stream:
    """What both stream objects hold: the decoder (and its accumulator) and the request's images."""

    __slots__ = ("decoder", "images")

    def __init__(self, decoder: StreamDecoder, images: list[dict[str, Any] | None]) -> None:
        self.decoder = decoder
        self.images = images
        """The geometry of each image of the request (filled before the first event), for grounding."""

    @property
    def accumulator(self) -> StreamAccumulator:
        return self.decoder.accumulator

    def result(self) -> ChatResult:
        """The complete answer (after the last event)."""
        return replace(self.decoder.accumulator.result(), images=tuple(self.images))


class ChatStream(_Stream):
    """The events of one streamed call (iterate it once); `result()` once it has ended.

    Stopping early (`close()`, or leaving a `for` loop over a generator that wraps it) closes the
    connection. The accumulator is the stream's own: nothing is merged twice.
    """

    __slots__ = ("_events",)

    def __init__(
        self, events: Iterator[StreamEvent], decoder: StreamDecoder, images: list[dict[str, Any] | None]
    ) -> None:
        super().__init__(decoder, images)
        self._events = events

    def __iter__(self) -> Iterator[StreamEvent]:
        return self._events

    def __next__(self) -> StreamEvent:
        return next(self._events)

    def close(self) -> None:
        self._events.close()  # type: ignore[attr-defined]


class AsyncChatStream(_Stream):
    """The async twin of `ChatStream` (`async for`, `aclose()`)."""

    __slots__ = ("_events",)

    def __init__(
        self, events: AsyncIterator[StreamEvent], decoder: StreamDecoder, images: list[dict[str, Any] | None]
    ) -> None:
        super().__init__(decoder, images)
        self._events = events

    def __aiter__(self) -> AsyncIterator[StreamEvent]:
        return self._events

    async def __anext__(self) -> StreamEvent:
        return await self._events.__anext__()

    async def aclose(self) -> None:
        await self._events.aclose()  # type: ignore[attr-defined]


_BUILD_LOCK = threading.Lock()


class QwenVLClient:
    """A DashScope client for Qwen3-VL and QVQ. Construction needs no key and no network.

    Example:
        client = QwenVLClient(region="intl")            # any `ClientOptions` field by keyword
        client = QwenVLClient(ClientOptions(...))        # or the options object itself
        for event in client.stream(ChatRequest(model="qvq-max", messages=(...,))):
            ...

    Timeouts fit long thinking: `timeout` (default 600 s; None: no limit) is the read timeout, the
    longest wait for the next piece of a response, not a limit on the whole stream, so a reasoning
    stream may run for many minutes as long as chunks keep coming. `connect_timeout` (default 10 s)
    bounds opening the connection; `header_timeout` (default 60 s) bounds the wait for the response
    headers of a streamed call, which is then sent again at most once. All apply to either protocol.
    A stream that stalls raises `IncompleteStreamError` with what arrived in `partial`.

    Connections are kept between calls: the end of a stream is read to the end of its body
    (bounded), so the next call reuses the connection. Deltas of one kind that arrive in one network
    read are merged into one event (`coalesce_deltas`, default on); `max_sse_line` bounds a line.

    Retries: up to `max_retries` (default 2; 0 disables) on 429, 500, 502, 503, 504 and connection
    errors, only before the response has started, with exponential backoff and jitter, honouring
    `Retry-After`. Other 4xx are never retried, and neither is a stream that broke after it started.
    """

    def __init__(self, options: ClientOptions | None = None, /, **settings: Any) -> None:
        if options is None:
            options = ClientOptions(**settings)
        elif settings:
            options = replace(options, **settings)
        self.options = options
        self.endpoint: Endpoint = resolve_endpoint(
            region=options.region,
            base_url=options.base_url,
            protocol=options.protocol,
            workspace_id=options.workspace_id,
        )
        self.wire: WireProtocol = PROTOCOLS[self.endpoint.protocol]
        self._traits = ServerTraits(
            speaks_dashscope=self.endpoint.speaks_dashscope,
            native=self.wire.native,
            thinking_via_chat_template=options.thinking_via_chat_template,
            parse_think_tags=options.parse_think_tags,
        )
        self._transport: Transport | None = None

    def __repr__(self) -> str:
        return f"QwenVLClient(base_url={self.endpoint.base_url!r}, protocol={self.protocol!r})"

    @property
    def protocol(self) -> Protocol:
        return self.endpoint.protocol

    def _key(self) -> SecretStr:
        explicit = resolve_api_key(self.options.api_key, env={})
        if explicit is not None:
            return explicit
        if not self.endpoint.is_dashscope:
            # DASHSCOPE_API_KEY is never sent anywhere else; self-hosted servers rarely need a key.
            return SecretStr("EMPTY")
        return require_api_key(resolve_api_key(None), self.endpoint)

    def _get_transport(self) -> Transport:
        with _BUILD_LOCK:  # concurrent first calls from threads build one transport, not several
            if self._transport is None:
                self._transport = self.wire.transport(
                    base_url=self.endpoint.base_url, api_key=self._key(), options=self.options
                )
            return self._transport

    def warm_up(self) -> None:
        """Build the transport now rather than at the first call: the SDK is imported and the HTTP
        client made (no connection is opened). For callers whose first request must go out on time,
        such as the batch runners' rate-limited workers; a missing key is raised here then."""
        self._get_transport()

    # -- the pipeline ------------------------------------------------------------------------------

    def resolve(self, request: ChatRequest, *, stream: bool) -> ResolvedRequest:
        """The request after every policy, as it would be sent (before images are sized)."""
        return self._call(request, stream=stream).resolved

    def _call(self, request: ChatRequest, *, stream: bool) -> _Call:
        spec = request.model_spec or get_spec(request.model)
        resolved = apply_policies(request, spec, stream=stream, server=self._traits)
        check_urls(request.messages)
        return _Call(spec, resolved)

    def _remote_images(self, call: _Call) -> list[str]:
        if not self.options.inline_remote_images:
            return []
        return remote_image_urls(call.resolved.request)

    def _body(self, call: _Call, fetched: dict[str, bytes] | None = None) -> dict[str, Any]:
        """Media checked and sized (positions in errors are the caller's), then the wire body."""
        resolved = call.resolved
        request = with_fetched_images(resolved.request, fetched) if fetched else resolved.request
        options = self.options
        prepared, sent = prepare_media_report(
            request,
            call.spec,
            downscale=options.downscale_images,
            local_files=options.local_files,
            thinking=resolved.thinking,
        )
        if sent:
            call.images[:] = image_geometries(request, sent, call.spec)
        if prepared is not resolved.request:
            resolved = replace(resolved, messages=resolve_messages(prepared))
        return self.wire.serialize(resolved)

    def _decoder(self, call: _Call) -> StreamDecoder:
        parser = self.wire.stream_parser(None, call.resolved.request.model)
        return StreamDecoder(
            parser,
            split_think_tags=call.resolved.split_think_tags,
            coalesce=self.options.coalesce_deltas,
            max_line=self.options.max_sse_line,
        )

    def _explain(self, error: QwenVLError, call: _Call) -> None:
        """What every failure leaving the client gets: the keys redacted, and for an unknown model
        the catalog's close names (a typo is the usual cause)."""
        redact_error(error, self._secrets())
        if isinstance(error, NotFoundError):
            add_hint(error, model_hint(call.resolved.request.model))

    def _secrets(self) -> tuple[str, ...]:
        """The keys this client may send (explicit, or from the environment), to redact from errors."""
        keys = (self.options.api_key, resolve_api_key(None))
        return tuple({k.get_secret_value() for k in keys if k is not None and len(k.get_secret_value()) >= 8})

    # -- streaming -------------------------------------------------------------------------------

    def stream(self, request: ChatRequest) -> ChatStream:
        """Stream neutral events; the last one is `StreamEnd`. Errors carry `partial`.

        The policies run now (a bad option raises here); the request is sent on first iteration.
        """
        call = self._call(request, stream=True)
        decoder = self._decoder(call)
        return ChatStream(self._run(call, decoder), decoder, call.images)

    def _run(self, call: _Call, decoder: StreamDecoder) -> Iterator[StreamEvent]:
        try:
            transport = self._get_transport()
            fetched = {url: transport.fetch(url) for url in self._remote_images(call)}
            body = self._body(call, fetched)
            # Leaving the block normally (the stream ended) keeps the connection for the next call;
            # an exception, or the consumer stopping early, closes it.
            with transport.stream_text(body) as opened:
                decoder.set_request_id(opened.request_id)
                try:
                    if opened.whole is not None:  # a server that ignored `stream` sent the whole answer
                        yield from decoder.feed_events(self._whole(opened.whole, opened.request_id, call))
                    else:
                        for text in opened.head:  # what the transport read to look at the first event
                            yield from decoder.feed(text)
                            if decoder.done:
                                break
                        if not decoder.done:
                            for text in opened.pieces:
                                yield from decoder.feed(text)
                                if decoder.done:
                                    break
                            else:
                                yield from decoder.finish()
                except Exception as exc:
                    raise decoder.fail(exc, describe=self._describe) from exc
                if decoder.error is not None:
                    raise decoder.error
        except QwenVLError as exc:  # one frame for the whole stream: no per-event cost
            self._explain(exc, call)
            raise

    def _whole(self, body: Any, request_id: str | None, call: _Call) -> list[StreamEvent]:
        return self.wire.response_events(body, request_id, call.resolved.request.model)

    def astream(self, request: ChatRequest) -> AsyncChatStream:
        """The async twin of `stream` (`async for event in client.astream(request)`)."""
        call = self._call(request, stream=True)
        decoder = self._decoder(call)
        return AsyncChatStream(self._arun(call, decoder), decoder, call.images)

    async def _arun(self, call: _Call, decoder: StreamDecoder) -> AsyncIterator[StreamEvent]:
        try:
            transport = self._get_transport()
            fetched = {url: await transport.afetch(url) for url in self._remote_images(call)}
            body = self._body(call, fetched)
            async with transport.astream_text(body) as opened:
                decoder.set_request_id(opened.request_id)
                try:
                    if opened.whole is not None:
                        for event in decoder.feed_events(self._whole(opened.whole, opened.request_id, call)):
                            yield event
                    else:
                        for text in opened.head:
                            for event in decoder.feed(text):
                                yield event
                            if decoder.done:
                                break
                        if not decoder.done:
                            async for text in opened.pieces:
                                for event in decoder.feed(text):
                                    yield event
                                if decoder.done:
                                    break
                            else:
                                for event in decoder.finish():
                                    yield event
                except Exception as exc:
                    raise decoder.fail(exc, describe=self._describe) from exc
                if decoder.error is not None:
                    raise decoder.error
        except QwenVLError as exc:  # one frame for the whole stream: no per-event cost
            self._explain(exc, call)
            raise

    def _describe(self, exc: BaseException) -> Any:
        from .transport import describe_stream_failure

        return describe_stream_failure(exc, self.options.timeout)

    # -- one result ------------------------------------------------------------------------------

    def chat(self, request: ChatRequest) -> ChatResult:
        """One final result; streams under the hood when the model or thinking mode needs it."""
        call = self._call(request, stream=False)
        if call.resolved.stream:
            decoder = self._decoder(call)
            for _ in self._run(call, decoder):
                pass
            return self._with_images(decoder.accumulator.result(), call)
        try:
            transport = self._get_transport()
            fetched = {url: transport.fetch(url) for url in self._remote_images(call)}
            raw = transport.post(self._body(call, fetched))
            return self._result(raw.body, raw.request_id, call)
        except QwenVLError as exc:
            self._explain(exc, call)
            raise

    async def achat(self, request: ChatRequest) -> ChatResult:
        call = self._call(request, stream=False)
        if call.resolved.stream:
            decoder = self._decoder(call)
            async for _ in self._arun(call, decoder):
                pass
            return self._with_images(decoder.accumulator.result(), call)
        try:
            transport = self._get_transport()
            fetched = {url: await transport.afetch(url) for url in self._remote_images(call)}
            raw = await transport.apost(self._body(call, fetched))
            return self._result(raw.body, raw.request_id, call)
        except QwenVLError as exc:
            self._explain(exc, call)
            raise

    def _result(self, body: Any, request_id: str | None, call: _Call) -> ChatResult:
        acc = StreamAccumulator()
        for event in self.wire.response_events(body, request_id, call.resolved.request.model):
            acc.add(event)
        return self._with_images(acc.result(), call)

    @staticmethod
    def _with_images(result: ChatResult, call: _Call) -> ChatResult:
        return replace(result, images=tuple(call.images)) if call.images else result

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()

    async def aclose(self) -> None:
        if self._transport is not None:
            await self._transport.aclose()
