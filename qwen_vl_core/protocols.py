"""One object per wire protocol: everything the client does differently for each.

`PROTOCOLS["openai"]` is the OpenAI-compatible mode (`…/compatible-mode/v1/chat/completions`),
`PROTOCOLS["dashscope"]` the native API (`…/api/v1/services/aigc/multimodal-generation/generation`).
Each serializes a resolved request, makes the stream parser, turns a non-streamed body into the
same events a stream would give, and builds its transport. The client holds one and never asks
which one it is.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .decoder import StreamParser
from .events import StreamEvent
from .parse_compat import CompatStreamParser, events_from_compat_response
from .parse_native import NativeStreamParser, events_from_native_response
from .policies import ResolvedRequest
from .request_compat import serialize_compat
from .request_native import serialize_native

if TYPE_CHECKING:
    from pydantic import SecretStr

    from .settings import ClientOptions
    from .transport import Transport

__all__ = ["COMPAT", "NATIVE", "PROTOCOLS", "WireProtocol"]


class WireProtocol:
    """The protocol-specific steps of a call. Subclasses fill them in; instances hold no state."""

    name: str
    native: bool

    def serialize(self, resolved: ResolvedRequest) -> dict[str, Any]:
        raise NotImplementedError

    def stream_parser(self, request_id: str | None, model: str | None) -> StreamParser:
        raise NotImplementedError

    def response_events(self, body: Mapping[str, Any], request_id: str | None, model: str | None) -> list[StreamEvent]:
        """A non-streamed response body as the events a stream would have produced."""
        raise NotImplementedError

    def transport(self, *, base_url: str, api_key: SecretStr, options: ClientOptions) -> Transport:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<wire protocol {self.name!r}>"


def _transport_kwargs(options: ClientOptions) -> dict[str, Any]:
    return {
        "timeout": options.timeout,
        "connect_timeout": options.connect_timeout,
        "header_timeout": options.header_timeout,
        "max_retries": options.max_retries,
        "default_headers": options.default_headers,
        "http_client": options.http_client,
        "async_http_client": options.async_http_client,
    }


class _Compat(WireProtocol):
    name = "openai"
    native = False

    def serialize(self, resolved: ResolvedRequest) -> dict[str, Any]:
        return serialize_compat(resolved)

    def stream_parser(self, request_id: str | None, model: str | None) -> StreamParser:
        return CompatStreamParser(request_id)

    def response_events(self, body: Mapping[str, Any], request_id: str | None, model: str | None) -> list[StreamEvent]:
        return events_from_compat_response(body, request_id)

    def transport(self, *, base_url: str, api_key: SecretStr, options: ClientOptions) -> Transport:
        from .transport_compat import CompatTransport  # the openai SDK is imported here, on first use

        return CompatTransport(base_url=base_url, api_key=api_key, **_transport_kwargs(options))


class _Native(WireProtocol):
    name = "dashscope"
    native = True

    def serialize(self, resolved: ResolvedRequest) -> dict[str, Any]:
        return serialize_native(resolved)

    def stream_parser(self, request_id: str | None, model: str | None) -> StreamParser:
        return NativeStreamParser(request_id, model)  # the native stream does not name the model

    def response_events(self, body: Mapping[str, Any], request_id: str | None, model: str | None) -> list[StreamEvent]:
        return events_from_native_response(body, request_id, model)

    def transport(self, *, base_url: str, api_key: SecretStr, options: ClientOptions) -> Transport:
        from .transport_native import NativeTransport

        return NativeTransport(base_url=base_url, api_key=api_key, **_transport_kwargs(options))


COMPAT: WireProtocol = _Compat()
NATIVE: WireProtocol = _Native()
PROTOCOLS: Mapping[str, WireProtocol] = {COMPAT.name: COMPAT, NATIVE.name: NATIVE}
