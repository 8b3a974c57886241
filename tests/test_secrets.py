"""Secrets stay secret and responses stay inert, in the core and both adapters.

* A canary key never appears in `repr` / `str`, DEBUG logs of every logger, exception messages,
  reprs and formatted tracebacks, LangChain dumps (a secret placeholder instead), LlamaIndex dumps,
  or trace metadata (LangSmith params, callback payloads, LlamaIndex instrumentation events).
* `DASHSCOPE_API_KEY` is sent only to Model Studio hosts (matched label by label, https only); any
  other base URL gets `Bearer EMPTY` or the key passed explicitly for it.
* Nothing in a model response (a `file://` URL, a path, an http URL in reasoning, text or tool-call
  arguments) makes the library open a file or fetch a URL.
* Prompt text and image bytes are not logged at any level.
"""

from __future__ import annotations

import asyncio
import base64
import builtins
import io
import json
import logging
import pathlib
import struct
import traceback
import urllib.request
import zlib
from collections.abc import Iterator
from typing import Any

import httpx
import httpx2
import pytest
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.load import dumpd, dumps
from langchain_core.messages import HumanMessage
from llama_index.core.base.llms.types import ChatMessage, ImageBlock, TextBlock
from llama_index.core.instrumentation import get_dispatcher
from llama_index.core.instrumentation.event_handlers import BaseEventHandler

from langchain_qwen_vl import ChatQwenVL
from llama_index_qwen_vl import QwenVL
from qwen_vl_core import (
    AuthenticationError,
    ChatRequest,
    ImagePart,
    Message,
    QwenVLClient,
    QwenVLError,
    StreamAccumulator,
    TextPart,
)
from qwen_vl_core.regions import is_dashscope_host
from qwen_vl_core.testing import (
    DashScopeEmulator,
    Disconnect,
    EchoAuthorization,
    ErrorFrame,
    ErrorReply,
    MalformedLine,
    Reply,
    ResetBeforeHeaders,
    ToolCallReply,
)

CANARY = "sk-canary-0123456789abcdef"
ENV_CANARY = "sk-env-canary-fedcba9876543210"
PROTOCOLS = pytest.mark.parametrize("protocol", ["openai", "dashscope"])
SECRET_PLACEHOLDER = {"lc": 1, "type": "secret", "id": ["DASHSCOPE_API_KEY"]}


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DASHSCOPE_API_KEY", "DASHSCOPE_BASE_URL", "DASHSCOPE_REGION", "OPENAI_LOG"):
        monkeypatch.delenv(name, raising=False)


def base_url(emu: DashScopeEmulator, protocol: str) -> str:
    return emu.base_url if protocol == "openai" else emu.native_base_url


def hi(model: str = "qwen3-vl-plus", text: str = "hi", *parts: Any) -> ChatRequest:
    return ChatRequest(model=model, messages=(Message("user", (*parts, TextPart(text))),))


class Logs:
    """Every record of every logger at DEBUG, formatted with its traceback, as one string."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


@pytest.fixture
def all_logs() -> Iterator[Logs]:
    logs = Logs()

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            logs.lines.append(self.format(record))

    handler = Keep(logging.DEBUG)
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    named = ["qwen_vl_core", "langchain_qwen_vl", "llama_index_qwen_vl", "openai", "httpx", "httpcore"]
    named += ["httpx2", "httpcore2", "langchain_core", "langchain", "llama_index", "urllib3"]
    loggers = [logging.getLogger(), *map(logging.getLogger, named)]
    loggers += [item for item in logging.root.manager.loggerDict.values() if isinstance(item, logging.Logger)]
    saved = [(logger, logger.level, logger.disabled, logger.propagate) for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.DEBUG)
        logger.disabled = False
        if not logger.propagate:  # it would never reach the root handler
            logger.addHandler(handler)
    logging.getLogger().addHandler(handler)
    try:
        yield logs
    finally:
        for logger, level, disabled, _propagate in saved:
            logger.setLevel(level)
            logger.disabled = disabled
            logger.removeHandler(handler)


def everything_about(exc: BaseException) -> str:
    """What an error report could show: message, repr, the whole formatted chain, the partial result."""
    parts = [str(exc), repr(exc), "".join(traceback.format_exception(exc))]
    current: BaseException | None = exc
    seen: set[int] = set()
    while current is not None and id(current) not in seen:  # chains can loop through __context__
        seen.add(id(current))
        parts += [str(current), repr(current), repr(getattr(current, "partial", None))]
        current = current.__cause__ or current.__context__
    return "\n".join(parts)


def run_stream(client: QwenVLClient, request: ChatRequest, mode: str) -> Any:
    """Stream one call (sync or async) and close the client; returns the result or the error."""

    async def go() -> Any:
        acc = StreamAccumulator()
        try:
            async for event in client.astream(request):
                acc.add(event)
            return acc.result()
        except QwenVLError as exc:
            return exc
        finally:
            await client.aclose()

    if mode == "async":
        return asyncio.run(go())
    acc = StreamAccumulator()
    try:
        for event in client.stream(request):
            acc.add(event)
        return acc.result()
    except QwenVLError as exc:
        return exc
    finally:
        client.close()


# -- repr, str, dumps -------------------------------------------------------------------------------


def test_reprs_never_show_the_key(monkeypatch) -> None:
    monkeypatch.setenv("DASHSCOPE_API_KEY", ENV_CANARY)
    objects: list[Any] = [
        QwenVLClient(api_key=CANARY),
        QwenVLClient(),
        ChatQwenVL(api_key=CANARY),
        ChatQwenVL(dashscope_api_key=CANARY),
        ChatQwenVL(),
        QwenVL(api_key=CANARY),
        QwenVL(),
    ]
    for thing in objects:
        for text in (repr(thing), str(thing), f"{thing!r:>10}"):
            assert CANARY not in text
            assert ENV_CANARY not in text
    assert repr(objects[0]) == (
        "QwenVLClient(base_url='https://dashscope-intl.aliyuncs.com/compatible-mode/v1', protocol='openai')"
    )


@pytest.mark.parametrize("field", ["api_key", "dashscope_api_key", None])
def test_langchain_dumps_hold_a_secret_placeholder(monkeypatch, field) -> None:
    monkeypatch.setenv("DASHSCOPE_API_KEY", ENV_CANARY)
    model = ChatQwenVL(**({field: CANARY} if field else {}))
    dumped = dumpd(model)
    assert dumped["kwargs"]["api_key"] == SECRET_PLACEHOLDER
    assert "dashscope_api_key" not in dumped["kwargs"]
    for text in (json.dumps(dumped), dumps(model), dumps(model, pretty=True)):
        assert CANARY not in text
        assert ENV_CANARY not in text


@pytest.mark.parametrize("explicit", [True, False])
def test_llama_index_dumps_leave_the_key_out(monkeypatch, explicit) -> None:
    monkeypatch.setenv("DASHSCOPE_API_KEY", ENV_CANARY)
    llm = QwenVL(api_key=CANARY) if explicit else QwenVL()
    assert "api_key" not in llm.model_dump()
    assert "api_key" not in llm.to_dict()
    for text in (llm.model_dump_json(), llm.to_json(), str(llm.to_dict()), str(llm.model_dump())):
        assert CANARY not in text
        assert ENV_CANARY not in text


def test_langchain_trace_metadata_never_carries_the_key() -> None:
    emu = DashScopeEmulator(api_key=CANARY)
    seen: list[Any] = []

    class Record(BaseCallbackHandler):
        def on_chat_model_start(self, serialized: Any, messages: Any, **kwargs: Any) -> None:
            seen.append((serialized, kwargs.get("invocation_params"), kwargs.get("metadata"), kwargs))

        def on_llm_end(self, response: Any, **kwargs: Any) -> None:
            seen.append((response, kwargs))

    with emu:
        model = ChatQwenVL(api_key=CANARY, base_url=emu.base_url, max_retries=0)
        assert model.invoke("hi", config={"callbacks": [Record()]}).content == "Hello from the DashScope emulator."
        list(model.stream("hi", config={"callbacks": [Record()]}))
        model._clients.client.close()  # type: ignore[union-attr]
    serialized, invocation_params, metadata, _ = seen[0]
    assert serialized["kwargs"]["api_key"] == SECRET_PLACEHOLDER
    assert invocation_params["model"] == "qwen3-vl-plus"
    assert metadata["ls_provider"] == "dashscope"
    assert len(seen) == 4
    payloads = [repr(seen), repr(model._identifying_params), repr(model._get_ls_params())]
    payloads.append(repr(model._get_invocation_params()))
    assert all(CANARY not in text for text in payloads)


def test_llama_index_instrumentation_never_carries_the_key() -> None:
    events: list[Any] = []

    class Record(BaseEventHandler):
        @classmethod
        def class_name(cls) -> str:
            return "Record"

        def handle(self, event: Any, **kwargs: Any) -> None:
            events.append(event)

    dispatcher = get_dispatcher()
    handler = Record()
    dispatcher.add_event_handler(handler)
    try:
        with DashScopeEmulator(api_key=CANARY) as emu:
            llm = QwenVL(api_key=CANARY, base_url=emu.base_url, max_retries=0)
            llm.chat([ChatMessage(role="user", content="hi")])
            list(llm.stream_chat([ChatMessage(role="user", content="hi")]))
            llm.close()
    finally:
        dispatcher.event_handlers.remove(handler)
    assert len(events) >= 4  # start and end events of both calls
    for event in events:
        assert CANARY not in repr(event)
        assert CANARY not in event.model_dump_json()


# -- logs and errors over full request cycles ----------------------------------------------------------


@PROTOCOLS
@pytest.mark.parametrize("mode", ["sync", "async"])
def test_debug_logs_of_a_full_cycle_never_show_the_key(all_logs, protocol, mode) -> None:
    with DashScopeEmulator(api_key=CANARY) as emu:
        emu.enqueue(Reply(reasoning="r", text="ok"))
        result = run_stream(
            QwenVLClient(api_key=CANARY, base_url=base_url(emu, protocol), protocol=protocol), hi(), mode
        )
        assert result.text == "ok"
        client = QwenVLClient(api_key=CANARY, base_url=base_url(emu, protocol), protocol=protocol)
        assert client.chat(hi()).text == "Hello from the DashScope emulator."  # non-streaming
        client.close()
    assert "POST" in all_logs.text  # the HTTP layer did log the cycle
    assert CANARY not in all_logs.text


ERRORS = [
    pytest.param(ErrorReply(400, "<400> InternalError.Algo.InvalidParameter: Range of top_p is (0, 1]"), id="400"),
    pytest.param(ErrorReply(403, "Access denied.", code="AccessDenied"), id="403"),
    pytest.param(ErrorReply(429, "Requests throttling triggered.", code="Throttling", retry_after=0), id="429"),
    pytest.param(ErrorReply(500, "An internal error has occured.", code="InternalError"), id="500"),
    pytest.param(Reply(fault=ResetBeforeHeaders()), id="reset"),
    pytest.param(Reply(reasoning="abcdef", chunk_size=2, fault=Disconnect(2)), id="disconnect"),
    pytest.param(Reply(reasoning="abcdef", chunk_size=2, fault=MalformedLine(2)), id="malformed"),
    pytest.param(Reply(reasoning="abcdef", chunk_size=2, fault=ErrorFrame(2, "Output data may contain")), id="frame"),
]


@PROTOCOLS
@pytest.mark.parametrize("mode", ["sync", "async"])
def test_a_wrong_key_error_never_shows_the_key(all_logs, protocol, mode) -> None:
    with DashScopeEmulator(api_key="the-right-key") as emu:
        error = run_stream(
            QwenVLClient(api_key=CANARY, base_url=base_url(emu, protocol), protocol=protocol), hi(), mode
        )
    assert type(error) is AuthenticationError
    assert error.status == 401
    assert CANARY not in everything_about(error)
    assert CANARY not in all_logs.text


@PROTOCOLS
@pytest.mark.parametrize("script", ERRORS)
def test_other_errors_never_show_the_key(all_logs, protocol, script) -> None:
    with DashScopeEmulator(api_key=CANARY) as emu:
        emu.enqueue(script)
        client = QwenVLClient(api_key=CANARY, base_url=base_url(emu, protocol), protocol=protocol, max_retries=0)
        error = run_stream(client, hi("qvq-max"), "sync")
    assert isinstance(error, QwenVLError)
    assert CANARY not in everything_about(error)
    assert CANARY not in all_logs.text


def shows_canary(text: str) -> bool:
    return CANARY in text or CANARY[3:-4] in text  # whole, or its middle (the `sk-…cdef` form hides it)


@PROTOCOLS
@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize("model", ["qvq-max", "qwen3-vl-plus"])  # streamed / one JSON response
def test_a_key_the_server_echoes_back_never_shows(all_logs, protocol, mode, model) -> None:
    with DashScopeEmulator(api_key=CANARY) as emu:
        emu.enqueue(EchoAuthorization())
        client = QwenVLClient(api_key=CANARY, base_url=base_url(emu, protocol), protocol=protocol, max_retries=0)
        if model == "qvq-max":
            error = run_stream(client, hi(model), mode)
        else:

            async def achat() -> Any:
                try:
                    return await client.achat(hi(model))
                except QwenVLError as exc:
                    return exc
                finally:
                    await client.aclose()

            try:
                error = client.chat(hi(model)) if mode == "sync" else asyncio.run(achat())
            except QwenVLError as exc:
                error = exc
            client.close()
    assert type(error) is AuthenticationError
    assert "sk-…cdef" in str(error)  # the echo is still there, without the key
    assert not shows_canary(everything_about(error))
    assert not shows_canary(all_logs.text)


@PROTOCOLS
def test_adapters_never_show_a_key_the_server_echoes_back(all_logs, protocol) -> None:
    with DashScopeEmulator(api_key=CANARY) as emu:
        emu.enqueue(EchoAuthorization(), EchoAuthorization())
        where = {"api_key": CANARY, "base_url": base_url(emu, protocol), "protocol": protocol, "max_retries": 0}
        model, llm = ChatQwenVL(**where), QwenVL(**where)
        with pytest.raises(AuthenticationError) as lc_info:
            model.invoke("hi")
        with pytest.raises(AuthenticationError) as li_info:
            llm.chat([ChatMessage(role="user", content="hi")])
        model.close()
        llm.close()
    for info in (lc_info, li_info):
        assert not shows_canary(everything_about(info.value))
    assert not shows_canary(all_logs.text)


@PROTOCOLS
def test_adapter_errors_never_show_the_key(protocol) -> None:
    with DashScopeEmulator(api_key="the-right-key") as emu:
        model = ChatQwenVL(api_key=CANARY, base_url=base_url(emu, protocol), protocol=protocol, max_retries=0)
        with pytest.raises(Exception) as lc_info:  # noqa: PT011 - the class is LangChain's, the check is the text
            model.invoke("hi")
        llm = QwenVL(api_key=CANARY, base_url=base_url(emu, protocol), protocol=protocol, max_retries=0)
        with pytest.raises(Exception) as li_info:  # noqa: PT011
            llm.chat([ChatMessage(role="user", content="hi")])
        model._clients.client.close()  # type: ignore[union-attr]
        llm.close()
    for info in (lc_info, li_info):
        assert isinstance(info.value, AuthenticationError)
        assert CANARY not in everything_about(info.value)


# -- which key goes where ----------------------------------------------------------------------------


def authorization(emu: DashScopeEmulator) -> list[str]:
    return [request.headers.get("authorization", "") for request in emu.requests]


@PROTOCOLS
def test_env_key_is_not_sent_to_a_custom_base_url(monkeypatch, protocol) -> None:
    monkeypatch.setenv("DASHSCOPE_API_KEY", ENV_CANARY)
    with DashScopeEmulator(api_key=None) as emu:  # accepts anything: we look at what arrives
        url = base_url(emu, protocol)
        clients = [QwenVLClient(base_url=url, protocol=protocol)]
        monkeypatch.setenv("DASHSCOPE_BASE_URL", url)  # a custom URL from the environment is no different
        clients.append(QwenVLClient(protocol=protocol))
        for client in clients:
            client.chat(hi())
            client.close()
        model = ChatQwenVL(base_url=url, protocol=protocol)
        model.invoke("hi")
        model._clients.client.close()  # type: ignore[union-attr]
        llm = QwenVL(base_url=url, protocol=protocol)
        llm.chat([ChatMessage(role="user", content="hi")])
        llm.close()
        assert authorization(emu) == ["Bearer EMPTY"] * 4


@PROTOCOLS
def test_an_explicit_key_is_sent_to_a_custom_base_url(monkeypatch, protocol) -> None:
    monkeypatch.setenv("DASHSCOPE_API_KEY", ENV_CANARY)
    with DashScopeEmulator(api_key=CANARY) as emu:
        url = base_url(emu, protocol)
        client = QwenVLClient(base_url=url, protocol=protocol, api_key=CANARY)
        client.chat(hi())
        client.close()
        model = ChatQwenVL(base_url=url, protocol=protocol, api_key=CANARY)
        model.invoke("hi")
        model._clients.client.close()  # type: ignore[union-attr]
        llm = QwenVL(base_url=url, protocol=protocol, api_key=CANARY)
        llm.chat([ChatMessage(role="user", content="hi")])
        llm.close()
        assert authorization(emu) == [f"Bearer {CANARY}"] * 3


COMPAT_BODY = {
    "choices": [{"message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop", "index": 0}],
    "model": "qwen3-vl-plus",
    "id": "chatcmpl-1",
}
NATIVE_BODY = {
    "output": {"choices": [{"finish_reason": "stop", "message": {"role": "assistant", "content": [{"text": "ok"}]}}]},
    "request_id": "1",
}


@PROTOCOLS
def test_env_key_is_sent_to_dashscope_hosts(monkeypatch, protocol) -> None:
    """No network: a mock transport records what would go to Singapore."""
    monkeypatch.setenv("DASHSCOPE_API_KEY", ENV_CANARY)
    sent: list[tuple[str, str]] = []

    def answer(request: Any) -> Any:
        sent.append((str(request.url), request.headers["authorization"]))
        body = COMPAT_BODY if protocol == "openai" else NATIVE_BODY
        module = httpx2 if protocol == "openai" else httpx
        return module.Response(200, json=body)

    http = (
        httpx2.Client(transport=httpx2.MockTransport(answer))
        if protocol == "openai"
        else httpx.Client(transport=httpx.MockTransport(answer))
    )
    client = QwenVLClient(region="intl", protocol=protocol, http_client=http)  # type: ignore[arg-type]
    assert client.chat(hi()).text == "ok"
    http.close()
    path = (
        "compatible-mode/v1/chat/completions"
        if protocol == "openai"
        else "api/v1/services/aigc/multimodal-generation/generation"
    )
    assert sent == [(f"https://dashscope-intl.aliyuncs.com/{path}", f"Bearer {ENV_CANARY}")]


@pytest.mark.parametrize(
    ("url", "dashscope"),
    [
        ("https://dashscope.aliyuncs.com/compatible-mode/v1", True),
        ("https://dashscope-intl.aliyuncs.com/api/v1", True),
        ("https://dashscope-us.aliyuncs.com/compatible-mode/v1", True),
        ("https://cn-hongkong.dashscope.aliyuncs.com/compatible-mode/v1", True),
        ("https://ws-1.ap-southeast-1.maas.aliyuncs.com/compatible-mode/v1", True),
        ("HTTPS://DashScope.AliyunCS.com/api/v1", True),
        ("http://dashscope.aliyuncs.com/compatible-mode/v1", False),  # the key would travel in clear text
        ("https://dashscope-x.oss-cn-beijing.aliyuncs.com/v1", False),  # anyone can name an OSS bucket so
        ("https://my-dashscope.aliyuncs.com/v1", False),
        ("https://help-static-aliyun-doc.aliyuncs.com/v1", False),
        ("https://dashscope.aliyuncs.com.evil.example/v1", False),
        ("https://evil.example/dashscope.aliyuncs.com/v1", False),
        ("https://dashscope.aliyuncs.com@evil.example/v1", False),
        ("http://127.0.0.1:8000/v1", False),
    ],
)
def test_dashscope_hosts_are_matched_exactly(url, dashscope) -> None:
    assert is_dashscope_host(url) is dashscope


# -- nothing in a response is read or fetched ----------------------------------------------------------

LURES = [
    "file:///etc/passwd",
    "/etc/passwd",
    "~/.ssh/id_rsa",
    "../../../../etc/shadow",
    "C:\\Windows\\win.ini",
]


class Spies:
    """Records file opens and URL fetches once `armed` (after a warm-up call)."""

    def __init__(self) -> None:
        self.armed = False
        self.calls: list[str] = []


@pytest.fixture
def no_reads(monkeypatch: pytest.MonkeyPatch) -> Spies:
    from qwen_vl_core.transport_compat import CompatTransport
    from qwen_vl_core.transport_native import NativeTransport

    spies = Spies()

    def spy(name: str, real: Any) -> Any:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if spies.armed:
                spies.calls.append(f"{name}{args!r}")
            return real(*args, **kwargs)

        return wrapper

    targets: list[tuple[Any, str]] = [
        (builtins, "open"),
        (io, "open"),
        (pathlib.Path, "open"),
        (pathlib.Path, "read_bytes"),
        (pathlib.Path, "read_text"),
        (httpx.Client, "get"),
        (httpx.AsyncClient, "get"),
        (httpx2.Client, "get"),
        (httpx2.AsyncClient, "get"),
        (httpx.Client, "stream"),
        (httpx.AsyncClient, "stream"),
        (httpx2.Client, "stream"),
        (httpx2.AsyncClient, "stream"),
        (urllib.request, "urlopen"),
        (CompatTransport, "fetch"),
        (CompatTransport, "afetch"),
        (NativeTransport, "fetch"),
        (NativeTransport, "afetch"),
    ]
    for owner, name in targets:
        monkeypatch.setattr(owner, name, spy(f"{getattr(owner, '__name__', owner)}.{name}", getattr(owner, name)))
    return spies


def lure_reply(emu: DashScopeEmulator) -> Reply:
    """A reply whose reasoning, text and tool-call arguments are full of paths and URLs (one to the
    emulator itself: fetching it would show up as an extra recorded request)."""
    fetchable = f"http://127.0.0.1:{emu.port}/compatible-mode/v1/secret.png"
    lures = [*LURES, fetchable, f"![img]({fetchable})", "data:image/png;base64,iVBORw0KGgo="]
    text = " ".join(lures)
    args = json.dumps({"path": "/etc/passwd", "url": fetchable, "image": "file:///etc/passwd"})
    return Reply(reasoning=text, text=text, tool_calls=[ToolCallReply("read", args)], chunk_size=7)


@PROTOCOLS
def test_a_response_never_makes_the_core_read_or_fetch(no_reads, protocol) -> None:
    with DashScopeEmulator() as emu:
        client = QwenVLClient(
            api_key=emu.api_key, base_url=base_url(emu, protocol), protocol=protocol, inline_remote_images=True
        )
        client.chat(hi())  # warm up: pools, lazy imports, platform headers
        no_reads.armed = True
        emu.enqueue(lure_reply(emu), lure_reply(emu), lure_reply(emu))
        streamed = run_stream(client, hi("qvq-max"), "sync")
        chatted = QwenVLClient(api_key=emu.api_key, base_url=base_url(emu, protocol), protocol=protocol)
        result = chatted.chat(hi("qwen3-vl-plus"))
        chatted.close()
        asynced = run_stream(
            QwenVLClient(api_key=emu.api_key, base_url=base_url(emu, protocol), protocol=protocol),
            hi("qvq-max"),
            "async",
        )
        assert len(emu.requests) == 4  # the warm-up and three calls: nothing fetched from the emulator
    for outcome in (streamed, result, asynced):
        assert "file:///etc/passwd" in outcome.text  # the lures arrived, as plain text
        assert outcome.tool_calls[0].args["path"] == "/etc/passwd"
    assert no_reads.calls == []


@PROTOCOLS
def test_a_response_never_makes_the_adapters_read_or_fetch(no_reads, protocol) -> None:
    with DashScopeEmulator() as emu:
        url = base_url(emu, protocol)
        model = ChatQwenVL(api_key=emu.api_key, base_url=url, protocol=protocol, model="qvq-max", max_retries=0)
        llm = QwenVL(api_key=emu.api_key, base_url=url, protocol=protocol, model="qvq-max", max_retries=0)
        model.invoke("warm up")
        llm.chat([ChatMessage(role="user", content="warm up")])
        no_reads.armed = True
        emu.enqueue(*(lure_reply(emu) for _ in range(4)))
        message = model.invoke("hi")
        chunks = list(model.stream("hi"))
        response = llm.chat([ChatMessage(role="user", content="hi")])
        streamed = list(llm.stream_chat([ChatMessage(role="user", content="hi")]))
        model._clients.client.close()  # type: ignore[union-attr]
        llm.close()
        assert len(emu.requests) == 6
    assert "file:///etc/passwd" in str(message.content)
    assert message.tool_calls[0]["args"]["path"] == "/etc/passwd"
    assert chunks
    assert "file:///etc/passwd" in str(response.message.content)
    assert streamed
    assert no_reads.calls == []


# -- prompts and images are not logged ----------------------------------------------------------------

PROMPT_MARKER = "PromptMarker7f3a9c"
IMAGE_MARKER = "PrivateImageMarker42"  # 20 base64 characters: 15 bytes, aligned in the PNG below


def png_with_marker() -> bytes:
    """A valid 16x16 PNG whose base64 contains IMAGE_MARKER (in an ancillary chunk decoders skip)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    head = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 16, 16, 8, 2, 0, 0, 0))
    pad = b"\0" * (-(len(head) + 8) % 3)  # start the marker bytes on a base64 group boundary
    secret = chunk(b"prIv", pad + base64.b64decode(IMAGE_MARKER))
    rows = b"".join(b"\x00" + b"\x80\x40\x20" * 16 for _ in range(16))
    return head + secret + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


PNG = png_with_marker()
PNG_URL = "data:image/png;base64," + base64.b64encode(PNG).decode()


@PROTOCOLS
@pytest.mark.parametrize("mode", ["sync", "async"])
def test_prompts_and_images_are_not_logged(all_logs, protocol, mode) -> None:
    assert IMAGE_MARKER in PNG_URL
    with DashScopeEmulator() as emu:
        emu.enqueue(Reply(reasoning="r", text="ok"))
        request = hi("qvq-max", f"Describe it. {PROMPT_MARKER}", ImagePart(PNG_URL))
        result = run_stream(
            QwenVLClient(api_key=emu.api_key, base_url=base_url(emu, protocol), protocol=protocol), request, mode
        )
        assert result.text == "ok"
        client = QwenVLClient(api_key=emu.api_key, base_url=base_url(emu, protocol), protocol=protocol)
        client.chat(hi("qwen3-vl-plus", PROMPT_MARKER, ImagePart(PNG_URL)))  # non-streaming
        client.close()
        raw = [request.raw.decode() for request in emu.requests]
    assert all(PROMPT_MARKER in body and IMAGE_MARKER in body for body in raw)  # both markers were sent
    assert "POST" in all_logs.text
    assert PROMPT_MARKER not in all_logs.text
    assert IMAGE_MARKER not in all_logs.text


@PROTOCOLS
def test_adapters_do_not_log_prompts_or_images(all_logs, protocol) -> None:
    with DashScopeEmulator() as emu:
        url = base_url(emu, protocol)
        model = ChatQwenVL(api_key=emu.api_key, base_url=url, protocol=protocol, max_retries=0)
        content = [{"type": "text", "text": PROMPT_MARKER}, {"type": "image_url", "image_url": {"url": PNG_URL}}]
        model.invoke([HumanMessage(content=content)])
        list(model.stream([HumanMessage(content=content)]))
        model._clients.client.close()  # type: ignore[union-attr]
        llm = QwenVL(api_key=emu.api_key, base_url=url, protocol=protocol, max_retries=0)
        blocks = [TextBlock(text=PROMPT_MARKER), ImageBlock(url=PNG_URL)]
        llm.chat([ChatMessage(role="user", blocks=blocks)])
        list(llm.stream_chat([ChatMessage(role="user", blocks=blocks)]))
        llm.close()
        raw = [request.raw.decode() for request in emu.requests]
    assert len(raw) == 4
    assert all(PROMPT_MARKER in body and IMAGE_MARKER in body for body in raw)
    assert PROMPT_MARKER not in all_logs.text
    assert IMAGE_MARKER not in all_logs.text
