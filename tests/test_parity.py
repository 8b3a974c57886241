"""Parity: LangChain `ChatQwenVL` and LlamaIndex `QwenVL` behave alike because they share the core.

For every setting, the same wire body from both adapters on both protocols; for every rule, the
same outcome (body, warning text or error text) through every entry point of both frameworks.
Each case from issue #11's list of drifts is here and fails on the adapters as they were.
"""

from __future__ import annotations

import logging
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import fields
from typing import Any

import pytest
from adapter_support import COUNT_CALL, QUESTION, Adapter, count_dots
from llama_index.core.tools import FunctionTool
from protocol_support import PROTOCOLS, sent_messages, sent_params, was_streamed

from langchain_qwen_vl import ChatQwenVL
from llama_index_qwen_vl import QwenVL
from qwen_vl_core import APITimeoutError, ServerError
from qwen_vl_core.settings import DEFAULT_CONNECT_TIMEOUT, DEFAULT_TIMEOUT, ClientOptions, RequestSettings
from qwen_vl_core.testing import DashScopeEmulator, ErrorReply, Reply, ToolCallReply

# -- the settings --------------------------------------------------------------------------------

SETTINGS = (*ClientOptions.FIELDS, *RequestSettings.FIELDS)


def test_every_core_setting_is_a_field_of_both_adapters_with_the_same_default() -> None:
    core_defaults = {
        f.name: f.default for f in (*fields(ClientOptions), *fields(RequestSettings)) if f.name in SETTINGS
    }
    for cls in (ChatQwenVL, QwenVL):
        missing = [name for name in SETTINGS if name not in cls.model_fields]
        assert missing == [], f"{cls.__name__} lacks {missing}"
        defaults = {name: cls.model_fields[name].get_default(call_default_factory=False) for name in SETTINGS}
        if cls is ChatQwenVL:
            defaults["api_key"] = None  # read from the environment by LangChain's own convention
        defaults["stop"] = None if defaults["stop"] is None else tuple(defaults["stop"])
        assert defaults == core_defaults, cls.__name__
    assert (core_defaults["timeout"], core_defaults["connect_timeout"]) == (DEFAULT_TIMEOUT, DEFAULT_CONNECT_TIMEOUT)


def test_timeout_none_means_no_limit_in_both() -> None:
    for cls in (ChatQwenVL, QwenVL):
        model = cls(timeout=None, api_key="k")
        assert model._client_options().timeout is None
        assert cls(api_key="k")._client_options().timeout == 600.0


# Each setting, a value, and what the API must receive (the parameters, whatever the protocol).
WIRE_CASES: list[tuple[dict[str, Any], dict[str, Any]]] = [
    ({"temperature": 0.3}, {"temperature": 0.3}),
    ({"top_p": 0.8}, {"top_p": 0.8}),
    ({"top_k": 5}, {"top_k": 5}),
    ({"presence_penalty": 0.5}, {"presence_penalty": 0.5}),
    ({"repetition_penalty": 1.1}, {"repetition_penalty": 1.1}),
    ({"max_tokens": 64}, {"max_tokens": 64}),
    ({"seed": 7}, {"seed": 7}),
    ({"stop": ["END"]}, {"stop": ["END"]}),
    ({"vl_high_resolution_images": True}, {"vl_high_resolution_images": True}),
    ({"enable_thinking": False}, {"enable_thinking": False}),
    ({"enable_thinking": True, "thinking_budget": 100}, {"enable_thinking": True, "thinking_budget": 100}),
    ({"extra_body": {"x_trace": "t1"}}, {"x_trace": "t1"}),
]


@pytest.mark.parametrize(("settings", "params"), WIRE_CASES, ids=[str(c[0]) for c in WIRE_CASES])
def test_each_setting_reaches_the_wire_the_same_way(
    adapter: Adapter, make: Callable[..., Any], emu: DashScopeEmulator, settings: dict[str, Any], params: dict[str, Any]
) -> None:
    emu.enqueue(Reply(text="Two."), Reply(text="Two."))
    assert adapter.invoke(make(**settings)) == "Two."
    assert sent_params(emu.last_request) == params
    # The same value per call, on a model without the field set.
    call = {k: v for k, v in settings.items() if k != "extra_body"}
    if call:
        assert adapter.invoke(make(), **call) == "Two."
        assert sent_params(emu.last_request) == params


def test_extra_body_is_merged_per_call_and_model_kwargs_is_langchains_name(
    make: Callable[..., Any], adapter: Adapter, emu: DashScopeEmulator
) -> None:
    emu.enqueue(Reply(text="Two."))
    model = make(extra_body={"a": 1, "b": 1})
    adapter.invoke(model, extra_body={"b": 2})
    assert sent_params(emu.last_request) == {"a": 1, "b": 2}
    if adapter.name == "langchain":
        emu.enqueue(Reply(text="Two."))
        adapter.invoke(make(model_kwargs={"a": 1}, extra_body={"a": 3}))
        assert sent_params(emu.last_request) == {"a": 3}


def test_per_call_model(make: Callable[..., Any], adapter: Adapter, emu: DashScopeEmulator) -> None:
    emu.enqueue(Reply(text="Two."))
    adapter.invoke(make("qwen3-vl-plus"), model="qwen3-vl-flash")
    assert emu.last_request.body["model"] == "qwen3-vl-flash"


def test_system_message_mode(make: Callable[..., Any], adapter: Adapter, emu: DashScopeEmulator, protocol: str) -> None:
    emu.enqueue(Reply(text="Two."), Reply(text="Two."))
    adapter.invoke(make(system_message_mode="keep"), system="Be brief.")
    assert [m["role"] for m in sent_messages(emu.last_request)] == ["system", "user"]
    adapter.invoke(make(), system="Be brief.")
    assert [m["role"] for m in sent_messages(emu.last_request)] == ["user"]


def test_default_headers_and_api_key_arrive(make: Callable[..., Any], adapter: Adapter, emu: DashScopeEmulator) -> None:
    emu.enqueue(Reply(text="Two."))
    adapter.invoke(make(default_headers={"X-Team": "vision"}))
    assert emu.last_request.headers["x-team"] == "vision"
    assert emu.last_request.headers["authorization"] == f"Bearer {emu.api_key}"


def test_parallel_tool_calls_field(make: Callable[..., Any], adapter: Adapter, emu: DashScopeEmulator) -> None:
    emu.enqueue(Reply(tool_calls=[ToolCallReply(name="count_dots", arguments='{"dots": 2}')]))
    model = make(parallel_tool_calls=True)
    if adapter.name == "langchain":
        model.bind_tools([count_dots]).invoke(QUESTION)
    else:
        model.chat_with_tools([FunctionTool.from_defaults(count_dots)], QUESTION)
    assert sent_params(emu.last_request)["parallel_tool_calls"] is True


@pytest.mark.parametrize("retries", [0, 2])
def test_max_retries(make: Callable[..., Any], adapter: Adapter, emu: DashScopeEmulator, retries: int) -> None:
    busy = ErrorReply(503, "Service busy.", code="ServiceUnavailable", retry_after=0.0)
    emu.enqueue(busy, busy, Reply(text="Two."))
    model = make(max_retries=retries)
    if retries == 0:
        with pytest.raises(ServerError):
            adapter.invoke(model)
        assert len(emu.requests) == 1
    else:
        assert adapter.invoke(model) == "Two."
        assert len(emu.requests) == 3


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A server that accepts connections and reads requests but never answers."""
    listener = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []
    stop = threading.Event()

    def serve() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            held.append(conn)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    listener.close()


@pytest.mark.parametrize("protocol_name", PROTOCOLS)
def test_read_timeout_is_the_same_setting_in_both(adapter: Adapter, silent_server: str, protocol_name: str) -> None:
    path = "/compatible-mode/v1" if protocol_name == "openai" else "/api/v1"
    model = adapter.make(api_key="k", base_url=silent_server + path, protocol=protocol_name, timeout=0.4, max_retries=0)
    start = time.perf_counter()
    with pytest.raises(APITimeoutError) as info:
        adapter.invoke(model)
    elapsed = time.perf_counter() - start
    assert (
        str(info.value)
        == "The server did not answer within the read timeout (0.4 s). Retry later, or raise `timeout=`."
    )
    assert 0.35 < elapsed < 5.0
    model.close()


# -- the rules -------------------------------------------------------------------------------------

AUTO_INSTEAD = (
    "qwen3-vl-32b-thinking always thinks and the API rejects forced tool_choice in thinking mode; this request "
    "is sent with tool_choice='auto', and the model may answer without calling the tool."
)


def _core_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "qwen_vl_core" and r.levelno == logging.WARNING]


def test_json_mode_gets_the_json_instruction_in_both(
    make: Callable[..., Any], adapter: Adapter, emu: DashScopeEmulator, protocol: str
) -> None:
    emu.enqueue(Reply(text='{"dots": 2}'), Reply(text='{"dots": 2}'))
    model = make()
    assert adapter.invoke(model, response_format={"type": "json_object"}) == '{"dots": 2}'
    sent = sent_messages(emu.last_request)
    text = sent[0]["content"] if protocol == "openai" else sent[0]["content"][0]["text"]
    assert text == f"Respond with a JSON object.\n\n{QUESTION}"
    assert adapter.stream(model, response_format={"type": "json_object"}) == '{"dots": 2}'


@pytest.mark.parametrize("entry", ["tools_required", "tools_required_stream", "structured"])
def test_forced_choice_on_a_thinking_hybrid_switches_thinking_off_with_one_warning(
    make: Callable[..., Any], adapter: Adapter, emu: DashScopeEmulator, caplog: pytest.LogCaptureFixture, entry: str
) -> None:
    name = "Count" if entry == "structured" else "count_dots"
    emu.enqueue(Reply(tool_calls=[ToolCallReply(name=name, arguments='{"dots": 2}')]))
    with caplog.at_level(logging.WARNING, logger="qwen_vl_core"):
        getattr(adapter, entry)(make(enable_thinking=True, thinking_budget=50))
    params = sent_params(emu.last_request)
    assert (params["enable_thinking"], "thinking_budget" in params) == (False, False)
    assert _core_warnings(caplog) == [
        "forced tool_choice is not allowed in thinking mode; this request to qwen3-vl-plus runs with thinking "
        "switched off (thinking_budget=50 is not sent)."
    ]


def test_forced_choice_on_a_thinking_only_model(
    make: Callable[..., Any], adapter: Adapter, emu: DashScopeEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    emu.enqueue(Reply(reasoning="Two.", tool_calls=[COUNT_CALL]))
    model = make("qwen3-vl-32b-thinking")
    with caplog.at_level(logging.WARNING, logger="qwen_vl_core"):
        adapter.structured(model)
    assert sent_params(emu.last_request)["tool_choice"] == "auto"
    assert was_streamed(emu.last_request)
    assert _core_warnings(caplog) == [AUTO_INSTEAD]
    with pytest.raises(ValueError, match=r"^qwen3-vl-32b-thinking always thinks") as info:
        adapter.tools_demanded(model)
    assert str(info.value) == (
        "qwen3-vl-32b-thinking always thinks, and the API rejects forced tool_choice in thinking mode. Use "
        "tool_choice='auto' (and parse the tool call if one comes back), or a hybrid model such as "
        "qwen3-vl-plus with thinking off."
    )
    assert len(emu.requests) == 1


@pytest.mark.parametrize(
    ("model", "settings", "message"),
    [
        (
            "qwen3-vl-32b-thinking",
            {"enable_thinking": False},
            "qwen3-vl-32b-thinking is a thinking-only model: enable_thinking=False is not allowed (the API rejects "
            "it). Leave enable_thinking unset, or use a hybrid model such as qwen3-vl-plus.",
        ),
        (
            "qvq-max",
            {"thinking_budget": 100},
            "qvq-max has no thinking_budget; remove it (Qwen3-VL and later models take one).",
        ),
        (
            "qwen3-vl-plus",
            {"enable_thinking": True, "thinking_budget": 10**6},
            "thinking_budget must be a positive integer no greater than 81920 for qwen3-vl-plus; got 1000000.",
        ),
        ("qwen3-vl-plus", {"max_retries": -1}, "max_retries must be a whole number >= 0 (0 disables retries); got -1."),
        (
            "qwen3-vl-plus",
            {"timeout": -1.5},
            "timeout must be a positive number of seconds or None (no limit); got -1.5.",
        ),
    ],
)
def test_bad_settings_fail_at_construction_with_the_same_error(
    adapter: Adapter, model: str, settings: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$") as info:
        adapter.make(model=model, **settings)
    assert str(info.value) == message
    assert type(info.value) is ValueError


def test_json_mode_on_a_model_without_it(adapter: Adapter, make: Callable[..., Any], emu: DashScopeEmulator) -> None:
    model = make("qwen3-vl-32b-thinking")
    with pytest.raises(ValueError, match=r"^qwen3-vl-32b-thinking always thinks, and the API rejects JSON mode"):
        adapter.invoke(model, response_format={"type": "json_object"})
    assert emu.requests == []
