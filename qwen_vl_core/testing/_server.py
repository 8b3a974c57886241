"""The emulator server: an asyncio loop on a daemon thread, serving scripted replies on loopback.

asyncio rather than a thread per connection so hundreds of concurrent streams are cheap, and
because closing, resetting or cutting a connection at an exact byte is easy on a transport.
"""

from __future__ import annotations

import asyncio
import json
import socket
import struct
import threading
from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Literal

from qwen_vl_core.testing._batch_api import BatchAPI
from qwen_vl_core.testing._compat import COMPAT_ENDPOINT, COMPAT_PATH, not_found
from qwen_vl_core.testing._http import (
    HEAD_LIMIT,
    Endpoint,
    HttpError,
    RawRequest,
    Response,
    chunk,
    read_request,
    response_head,
)
from qwen_vl_core.testing._native import NATIVE_PATHS, native_endpoint
from qwen_vl_core.testing._script import Disconnect, ErrorReply, Reply, ResetBeforeHeaders, Script
from qwen_vl_core.testing._self_hosted import VLLM_PATH, ReasoningField, ThinkTags, vllm_endpoint, vllm_not_found

__all__ = ["DashScopeEmulator", "RecordedRequest"]

_DEFAULT_REPLY = Reply(text="Hello from the DashScope emulator.")
_BATCH_BYTES = 64 * 1024
_TIMEOUT = 10.0


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the emulator received it (rejected ones included)."""

    method: str
    path: str
    """The request target as sent, query string included."""
    headers: dict[str, str]
    """Header names lower-cased; repeated headers joined with `, `."""
    body: Any
    """The parsed JSON body, or None when it was empty or not JSON."""
    raw: bytes


def _parse_json(raw: bytes) -> Any:
    try:
        return json.loads(raw) if raw else None
    except ValueError:  # includes UnicodeDecodeError
        return None


def _authorized(headers: Mapping[str, str], api_key: str) -> bool:
    scheme, _, token = headers.get("authorization", "").partition(" ")
    return scheme.lower() == "bearer" and token.strip() == api_key


def _quiet_exceptions(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    # Peers that hang up mid-write are normal for a fault-injecting server; do not log them.
    if isinstance(context.get("exception"), OSError):
        return
    loop.default_exception_handler(context)


class DashScopeEmulator:
    """A scriptable DashScope (Model Studio) server on 127.0.0.1, for tests.

    Point any OpenAI-compatible client at `base_url`, or a native DashScope client at
    `native_base_url`, with `api_key`. Each chat request pops one scripted reply from the
    `enqueue` FIFO (or gets `default_reply`), after the request has passed the auth check and,
    with `enforce_rules`, DashScope's parameter rules. Every request is recorded in `requests`.
    Use as a context manager, or call `start()` / `stop()`.

    `native_blank_lines=False` drops the blank line between native events, as some recordings do.
    `flavour="vllm"` turns it into a vLLM-like self-hosted server instead: only
    `/v1/chat/completions` (`base_url` ends in `/v1`), vLLM's shapes, no DashScope rules; reasoning
    in `reasoning_field` (`"reasoning"`, `"reasoning_content"`, or `"both"` with
    `reasoning_content: null`), or with `reasoning_parser=False` inline in the answer text as
    `…</think>\\n\\n` (`think_tags="both"` adds the opening `<think>`).
    """

    def __init__(
        self,
        *,
        api_key: str | None = "test-key",
        enforce_rules: bool = True,
        default_reply: Reply | None = None,
        native_blank_lines: bool = True,
        flavour: Literal["dashscope", "vllm"] = "dashscope",
        reasoning_parser: bool = True,
        reasoning_field: ReasoningField = "reasoning",
        think_tags: ThinkTags = "close",
    ) -> None:
        self._api_key = api_key
        self._enforce_rules = enforce_rules
        self._default_reply = default_reply if default_reply is not None else _DEFAULT_REPLY
        self._flavour = flavour
        if flavour == "vllm":
            if not native_blank_lines:
                raise ValueError("native_blank_lines applies to the dashscope flavour only")
            endpoint = vllm_endpoint(
                reasoning_parser=reasoning_parser, reasoning_field=reasoning_field, think_tags=think_tags
            )
            self._routes: dict[str, Endpoint] = {VLLM_PATH: endpoint}
            self._fallback, self._not_found = endpoint, vllm_not_found
        elif flavour == "dashscope":
            if (reasoning_parser, reasoning_field, think_tags) != (True, "reasoning", "close"):
                raise ValueError("reasoning_parser, reasoning_field and think_tags apply to flavour='vllm' only")
            multimodal, text = NATIVE_PATHS
            self._routes = {
                COMPAT_PATH: COMPAT_ENDPOINT,
                multimodal: native_endpoint(blank_lines=native_blank_lines),
                text: native_endpoint(blank_lines=native_blank_lines, text_endpoint=True),
            }
            self._fallback, self._not_found = COMPAT_ENDPOINT, not_found
        else:
            raise ValueError(f"unknown flavour {flavour!r}: use 'dashscope' or 'vllm'")
        self._lock = threading.Lock()
        self._queue: deque[Script] = deque()
        self._requests: list[RecordedRequest] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.Server | None = None
        self._port: int | None = None
        self._handlers: dict[asyncio.Task[None], asyncio.StreamWriter] = {}
        self._closing = False
        self._batch_api = BatchAPI(self._pop, enforce_rules=enforce_rules) if flavour == "dashscope" else None

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> DashScopeEmulator:
        """Bind an ephemeral port and serve on a background thread; returns self."""
        if self._loop is not None:
            raise RuntimeError("the emulator is already running")
        self._closing = False
        loop = asyncio.SelectorEventLoop()  # the same accept path on every platform
        loop.set_exception_handler(_quiet_exceptions)
        thread = threading.Thread(target=loop.run_forever, name="dashscope-emulator", daemon=True)
        thread.start()
        self._loop, self._thread = loop, thread
        try:
            self._port = asyncio.run_coroutine_threadsafe(self._listen(), loop).result(_TIMEOUT)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Close the listener and every open connection, then end the thread. Idempotent."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        try:
            asyncio.run_coroutine_threadsafe(self._shutdown(), loop).result(_TIMEOUT)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(_TIMEOUT)
            loop.close()
            self._loop = self._thread = self._server = None
            self._port = None

    def __enter__(self) -> DashScopeEmulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    async def _listen(self) -> int:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, limit=HEAD_LIMIT, backlog=1024)
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    async def _shutdown(self) -> None:
        self._closing = True
        server = self._server
        if server is not None:
            # Stop accepting but keep the server open: closing it while an accept is in flight
            # trips an assert in asyncio (3.11) and leaks that socket.
            for sock in server.sockets:
                asyncio.get_running_loop().remove_reader(sock.fileno())
        current = asyncio.current_task()
        # Repeat until quiet: accepts in flight still turn into handler tasks, which see _closing.
        while others := [task for task in asyncio.all_tasks() if task is not current]:
            for task, writer in list(self._handlers.items()):
                writer.transport.abort()
                task.cancel()
            await asyncio.wait(others)
        if server is not None:
            server.close()
            await server.wait_closed()
        await asyncio.sleep(0)  # run the aborted transports' connection_lost callbacks

    # -- properties and scripting ------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("the emulator is not running; call start() or use it as a context manager")
        return self._port

    @property
    def base_url(self) -> str:
        """The OpenAI-compatible base URL (pass to `openai.OpenAI(base_url=...)`); `/v1` for vLLM."""
        if self._flavour == "vllm":
            return f"http://127.0.0.1:{self.port}/v1"
        return f"http://127.0.0.1:{self.port}/compatible-mode/v1"

    @property
    def native_base_url(self) -> str:
        """The native DashScope root (`QwenVLClient(protocol="dashscope", base_url=...)`)."""
        if self._flavour == "vllm":
            raise RuntimeError("the vllm flavour serves no native DashScope endpoint")
        return f"http://127.0.0.1:{self.port}/api/v1"

    @property
    def flavour(self) -> str:
        return self._flavour

    @property
    def api_key(self) -> str | None:
        """The key clients must send as `Authorization: Bearer <key>`; None disables the check."""
        return self._api_key

    @property
    def batch_api(self) -> BatchAPI:
        """The Batch File API state (`/files`, `/batches`): settings, stored files and batches."""
        if self._batch_api is None:
            raise RuntimeError("the vllm flavour serves no Batch API")
        return self._batch_api

    def enqueue(self, *scripts: Script) -> None:
        """Queue replies; each chat request that passes the checks takes the oldest one."""
        for script in scripts:
            if not isinstance(script, Reply | ErrorReply):
                raise TypeError(f"expected Reply or ErrorReply, got {type(script).__name__}")
        with self._lock:
            self._queue.extend(scripts)

    @property
    def pending(self) -> int:
        """Number of queued scripts not yet served."""
        with self._lock:
            return len(self._queue)

    def reset(self) -> None:
        """Forget queued scripts and recorded requests."""
        with self._lock:
            self._queue.clear()
            self._requests.clear()
        if self._batch_api is not None:
            self._batch_api.reset()

    @property
    def requests(self) -> list[RecordedRequest]:
        """A snapshot of every request received so far, oldest first."""
        with self._lock:
            return list(self._requests)

    @property
    def last_request(self) -> RecordedRequest:
        """The most recent request; raises `LookupError` when there is none."""
        with self._lock:
            if not self._requests:
                raise LookupError("the emulator has not received any request")
            return self._requests[-1]

    def _pop(self) -> Script:
        with self._lock:
            return self._queue.popleft() if self._queue else self._default_reply

    # -- serving -----------------------------------------------------------------------------

    def _dispatch(self, request: RawRequest) -> Response:
        body = _parse_json(request.body)
        with self._lock:
            self._requests.append(
                RecordedRequest(request.method, request.target, dict(request.headers), body, request.body)
            )
        endpoint = self._routes.get(request.path) if request.method == "POST" else None
        if self._api_key is not None and not _authorized(request.headers, self._api_key):
            return (endpoint or self._fallback).unauthorized()
        if self._batch_api is not None and self._batch_api.handles(request.path):
            return self._batch_api.dispatch(request)
        if endpoint is None:
            return self._not_found()
        if not isinstance(body, dict):
            return endpoint.bad_body(request.headers)
        view = endpoint.view(body, request.headers)
        if self._enforce_rules:
            message = endpoint.check(view)
            if message is not None:
                return endpoint.reject(message, view)
        return endpoint.render(self._pop(), view)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if self._closing or task is None:  # accepted while stop() was running
            writer.transport.abort()
            return
        self._handlers[task] = writer
        try:
            while (request := await read_request(reader, writer)) is not None:
                if not await self._respond(writer, request, self._dispatch(request)):
                    break
        except (HttpError, OSError, asyncio.IncompleteReadError):
            pass  # a broken or vanished peer: just drop the connection
        except asyncio.CancelledError:
            # Only stop() cancels; ending normally keeps asyncio's start_server callback quiet.
            pass
        finally:
            del self._handlers[task]
            writer.close()

    async def _respond(self, writer: asyncio.StreamWriter, request: RawRequest, response: Response) -> bool:
        """Send one response; False when the connection must be closed afterwards."""
        if isinstance(response.fault, ResetBeforeHeaders):
            sock = writer.get_extra_info("socket")
            if sock is not None:  # SO_LINGER 0 turns the close into a TCP RST
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()
            return False
        headers = list(response.headers)
        if not request.keep_alive:
            headers.append(("connection", "close"))
        if response.events is None:
            if response.delay:
                await asyncio.sleep(response.delay)
            body = response.body
            head = response_head(response.status, [*headers, ("content-length", str(len(body)))])
            if isinstance(response.fault, Disconnect):
                writer.write(head + body[: len(body) // 2])
                return False
            writer.write(head + body)
            await writer.drain()
            return request.keep_alive
        writer.write(response_head(response.status, [*headers, ("transfer-encoding", "chunked")]))
        limit = response.fault.after_chunks if isinstance(response.fault, Disconnect) else None
        await _write_events(writer, response.events, response.delay, limit)
        if limit is not None:
            return False  # closing now leaves the chunked body unterminated
        writer.write(chunk(b""))
        await writer.drain()
        return request.keep_alive


async def _write_events(writer: asyncio.StreamWriter, events: Iterator[bytes], delay: float, limit: int | None) -> None:
    """Write SSE events as chunked frames, many per frame unless `delay` paces them one by one."""
    batch: list[bytes] = []
    size = 0
    for sent, event in enumerate(events):
        if limit is not None and sent >= limit:
            break
        if delay:
            await asyncio.sleep(delay)
        batch.append(event)
        size += len(event)
        if delay or size >= _BATCH_BYTES:
            writer.write(chunk(b"".join(batch)))
            batch.clear()
            size = 0
            await writer.drain()
    if batch:
        writer.write(chunk(b"".join(batch)))
