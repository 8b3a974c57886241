"""The emulator server: an asyncio loop on a daemon thread, serving scripted replies on loopback.

asyncio rather than a thread per connection so hundreds of concurrent streams are cheap, and
because closing, resetting or cutting a connection at an exact byte is easy on a transport.
Writing the responses (framing, pacing, faults) is `_connection`'s job.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Literal

from qwen_vl_core.testing._batch_api import BatchAPI
from qwen_vl_core.testing._compat import COMPAT_ENDPOINT, COMPAT_PATH, not_found
from qwen_vl_core.testing._connection import Connection, send
from qwen_vl_core.testing._facts import MODEL_FACTS, ModelFacts, active_table
from qwen_vl_core.testing._http import HEAD_LIMIT, Endpoint, HttpError, RawRequest, Response, read_request
from qwen_vl_core.testing._native import NATIVE_PATHS, native_endpoint
from qwen_vl_core.testing._script import SCRIPT_TYPES, Reply, Script
from qwen_vl_core.testing._self_hosted import VLLM_PATH, ReasoningField, ThinkTags, vllm_endpoint, vllm_not_found

__all__ = ["DashScopeEmulator", "RecordedRequest"]

_DEFAULT_REPLY = Reply(text="Hello from the DashScope emulator.")
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
    connection: int
    """The TCP connection it arrived on: 1 for the first one the emulator accepted, then 2, 3, ..."""


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

    Model names are checked against the emulator's own fact table (`MODEL_FACTS`, never the
    library's catalog): an unknown name gets DashScope's model-not-found error. `models` adds or
    overrides names for this emulator (`{"my-model": ModelFacts()}` knows a name without rules);
    `register_model` does the same later. `new_connection_delay` is slept once before the first
    response on every new connection (the TCP and TLS round trips to a far region); `requests`
    record the connection each one came on, `connections_opened` counts them.

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
        models: Mapping[str, ModelFacts] | None = None,
        new_connection_delay: float = 0.0,
    ) -> None:
        if new_connection_delay < 0:
            raise ValueError("new_connection_delay must be >= 0")
        self._models: dict[str, ModelFacts] = dict(MODEL_FACTS)
        for name, facts in (models or {}).items():
            self._check_model(name, facts)
            self._models[name] = facts
        self._new_connection_delay = new_connection_delay
        self._connections_opened = 0
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

    @property
    def connections_opened(self) -> int:
        """How many TCP connections the emulator has accepted so far."""
        with self._lock:
            return self._connections_opened

    @property
    def models(self) -> Mapping[str, ModelFacts]:
        """A snapshot of the model names this emulator knows, with their facts."""
        with self._lock:
            return dict(self._models)

    def register_model(self, name: str, facts: ModelFacts | None = None) -> None:
        """Make `name` known (no model rules unless `facts` gives some); replaces an existing entry."""
        facts = ModelFacts() if facts is None else facts
        self._check_model(name, facts)
        with self._lock:
            self._models[name] = facts

    @staticmethod
    def _check_model(name: Any, facts: Any) -> None:
        if not isinstance(name, str) or not name:
            raise TypeError(f"a model name must be a non-empty str, got {name!r}")
        if not isinstance(facts, ModelFacts):
            raise TypeError(f"the facts for {name!r} must be a ModelFacts, got {type(facts).__name__}")

    def enqueue(self, *scripts: Script) -> None:
        """Queue replies; each chat request that passes the checks takes the oldest one."""
        for script in scripts:
            if not isinstance(script, SCRIPT_TYPES):
                names = ", ".join(t.__name__ for t in SCRIPT_TYPES)
                raise TypeError(f"expected one of {names}; got {type(script).__name__}")
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

    def _dispatch(self, request: RawRequest, connection: int) -> Response:
        token = active_table.set(self._models)  # the rules and the Batch API look names up here
        try:
            return self._answer(request, connection)
        finally:
            active_table.reset(token)

    def _answer(self, request: RawRequest, connection: int) -> Response:
        body = _parse_json(request.body)
        with self._lock:
            self._requests.append(
                RecordedRequest(request.method, request.target, dict(request.headers), body, request.body, connection)
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
            violation = endpoint.check(view)
            if violation is not None:
                return endpoint.reject(violation, view)
        return endpoint.render(self._pop(), view)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if self._closing or task is None:  # accepted while stop() was running
            writer.transport.abort()
            return
        self._handlers[task] = writer
        with self._lock:
            self._connections_opened += 1
            number = self._connections_opened
        conn = Connection(number, writer, self._new_connection_delay)
        try:
            while (request := await read_request(reader, writer)) is not None:
                if not await send(conn, request, self._dispatch(request, number)):
                    break
        except (HttpError, OSError, asyncio.IncompleteReadError):
            pass  # a broken or vanished peer: just drop the connection
        except asyncio.CancelledError:
            # Only stop() cancels; ending normally keeps asyncio's start_server callback quiet.
            pass
        finally:
            del self._handlers[task]
            writer.close()
