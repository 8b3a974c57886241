"""Today's lineup end to end: every new family through both adapters on both protocols.

For each family: a plain call, a stream, a forced tool call, structured output, and a two-turn
tool loop with and without `preserve_thinking` — the exact wire parameters and history, and the
emulator (whose own fact table, not the catalog, says what each model accepts) answering them.
Then the names the catalog does not know, `register_model` and `model_spec=`.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest
from adapter_support import QUESTION, Adapter, Count, count_dots
from langchain_core.messages import HumanMessage, ToolMessage
from llama_index.core.base.llms.types import ChatMessage
from llama_index.core.tools import FunctionTool
from protocol_support import (
    assistant_calls,
    endpoint,
    sent_messages,
    sent_params,
    text_message,
    tool_result,
    was_streamed,
)

from langchain_qwen_vl import ChatQwenVL
from qwen_vl_core import NotFoundError, UnknownModelWarning, get_spec, register_model
from qwen_vl_core.catalog import _REGISTERED, _lookup
from qwen_vl_core.testing import DashScopeEmulator, ModelFacts, Reply, ToolCallReply

THINKING_DEFAULT_ON = ["qwen3.5-plus", "qwen3.5-397b-a17b", "qwen3.6-plus", "qwen3.6-flash", "qwen3.6-35b-a3b"]
THINKING_DEFAULT_ON += ["qwen3.7-plus", "qwen3.7-flash"]
PRESERVES = {"qwen3.6-plus": True, "qwen3.6-flash": None, "qwen3.7-plus": True, "qwen3.7-flash": True}
"""Whether the catalog says the model takes `preserve_thinking` (None: unknown, sent when asked)."""
THINKING_OFF_WARNING = (
    "forced tool_choice is not allowed in thinking mode; this request to {model} runs with thinking switched off."
)
JSON_OFF_WARNING = "JSON mode is not allowed in thinking mode; this request to {model} runs with thinking switched off."


def _core_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "qwen_vl_core" and r.levelno == logging.WARNING]


@pytest.mark.parametrize("model", THINKING_DEFAULT_ON)
def test_thinks_by_default_and_streams_on_the_wire(
    make: Callable[..., Any], adapter: Adapter, emu: DashScopeEmulator, model: str
) -> None:
    emu.enqueue(Reply(reasoning="Two dots, one red.", text="Two."), Reply(reasoning="Counting.", text="Two."))
    assert adapter.invoke(make(model)) == "Two."
    assert was_streamed(emu.last_request)  # long reasoning never meets the non-streaming timeout
    assert sent_params(emu.last_request) == {}  # the model's own default: nothing to send
    assert emu.last_request.body["model"] == model
    assert adapter.stream(make(model)) == "Two."
    assert was_streamed(emu.last_request)


@pytest.mark.parametrize("model", THINKING_DEFAULT_ON)
def test_budget_is_accepted_because_thinking_is_on(
    make: Callable[..., Any], adapter: Adapter, emu: DashScopeEmulator, model: str
) -> None:
    emu.enqueue(Reply(reasoning="Short.", text="Two."))
    adapter.invoke(make(model, thinking_budget=4096))
    assert sent_params(emu.last_request) == {"thinking_budget": 4096}


@pytest.mark.parametrize("model", THINKING_DEFAULT_ON)
def test_forced_tool_choice_turns_thinking_off_explicitly(
    make: Callable[..., Any], adapter: Adapter, emu: DashScopeEmulator, caplog: pytest.LogCaptureFixture, model: str
) -> None:
    emu.enqueue(Reply(tool_calls=[ToolCallReply(name="count_dots", arguments='{"dots": 2}', id="call_1")]))
    with caplog.at_level(logging.WARNING, logger="qwen_vl_core"):
        adapter.tools_required(make(model))
    params = sent_params(emu.last_request)
    assert (params["enable_thinking"], params["tool_choice"]) == (False, "required")
    assert not was_streamed(emu.last_request)
    assert _core_warnings(caplog) == [THINKING_OFF_WARNING.format(model=model)]


@pytest.mark.parametrize("model", THINKING_DEFAULT_ON)
def test_structured_output_by_function_calling(
    make: Callable[..., Any], adapter: Adapter, emu: DashScopeEmulator, caplog: pytest.LogCaptureFixture, model: str
) -> None:
    emu.enqueue(Reply(tool_calls=[ToolCallReply(name="Count", arguments='{"dots": 2}')]))
    with caplog.at_level(logging.WARNING, logger="qwen_vl_core"):
        assert adapter.structured(make(model)) == Count(dots=2)
    params = sent_params(emu.last_request)
    # LangChain forces the schema's own tool; LlamaIndex's program asks for a required call.
    choice = {"type": "function", "function": {"name": "Count"}} if adapter.name == "langchain" else "required"
    assert (params["enable_thinking"], params["tool_choice"]) == (False, choice)
    assert _core_warnings(caplog) == [THINKING_OFF_WARNING.format(model=model)]


JSON_SCHEMA = {"type": "json_schema", "json_schema": {"name": "Count", "schema": {"type": "object"}}}


@pytest.mark.parametrize("model", THINKING_DEFAULT_ON)
@pytest.mark.parametrize("response_format", [{"type": "json_object"}, JSON_SCHEMA], ids=["json_object", "json_schema"])
def test_json_mode_turns_thinking_off_explicitly(
    make: Callable[..., Any],
    adapter: Adapter,
    emu: DashScopeEmulator,
    caplog: pytest.LogCaptureFixture,
    model: str,
    response_format: dict[str, Any],
) -> None:
    emu.enqueue(Reply(text='{"dots": 2}'))
    with caplog.at_level(logging.WARNING, logger="qwen_vl_core"):
        assert adapter.invoke(make(model), response_format=response_format) == '{"dots": 2}'
    params = sent_params(emu.last_request)
    assert (params["enable_thinking"], params["response_format"]) == (False, response_format)
    assert _core_warnings(caplog) == [JSON_OFF_WARNING.format(model=model)]


@pytest.mark.parametrize("method", ["json_mode", "json_schema"])
def test_langchain_structured_output_by_json(emu: DashScopeEmulator, protocol: str, method: str) -> None:
    # with_structured_output(method=...) is LangChain's; LlamaIndex's JSON mode is response_format (above).
    emu.enqueue(Reply(text='{"dots": 2}'))
    model = ChatQwenVL(model="qwen3.6-plus", api_key=emu.api_key, **endpoint(emu, protocol))
    assert model.with_structured_output(Count, method=method).invoke(QUESTION) == Count(dots=2)
    assert sent_params(emu.last_request)["enable_thinking"] is False
    model.close()


# -- a two-turn tool loop, with and without preserve_thinking --------------------------------------

FIRST_TURN = Reply(
    reasoning="I should count with the tool.",
    tool_calls=[ToolCallReply(name="count_dots", arguments='{"dots": 2}', id="call_1")],
)


def _tool_loop(adapter: Adapter, model: Any) -> None:
    """Ask, run the tool the model called, send the result back: the framework's own idiom."""
    if adapter.name == "langchain":
        bound = model.bind_tools([count_dots])
        history: list[Any] = [HumanMessage(QUESTION)]
        first = bound.invoke(history)
        history += [
            first,
            ToolMessage(count_dots(**first.tool_calls[0]["args"]), tool_call_id=first.tool_calls[0]["id"]),
        ]
        assert bound.invoke(history).content == "Two."
        return
    tool = FunctionTool.from_defaults(count_dots)
    response = model.chat_with_tools([tool], QUESTION)
    call = model.get_tool_calls_from_response(response)[0]
    messages = [
        ChatMessage(role="user", content=QUESTION),
        response.message,
        ChatMessage(
            role="tool", content=count_dots(**call.tool_kwargs), additional_kwargs={"tool_call_id": call.tool_id}
        ),
    ]
    assert model.chat_with_tools([tool], chat_history=messages).message.content == "Two."


LOOPS = [(model, False) for model in THINKING_DEFAULT_ON] + [(model, True) for model in sorted(PRESERVES)]


@pytest.mark.parametrize(("model", "preserve"), LOOPS)
def test_tool_loop_sends_reasoning_back_only_with_preserve_thinking(
    make: Callable[..., Any], adapter: Adapter, emu: DashScopeEmulator, protocol: str, model: str, preserve: bool
) -> None:
    emu.enqueue(FIRST_TURN, Reply(reasoning="The tool says two.", text="Two."))
    _tool_loop(adapter, make(model, preserve_thinking=preserve))
    first, second = emu.requests
    assert sent_params(first).get("preserve_thinking") is (True if preserve else None)
    call = assistant_calls(("call_1", "count_dots", '{"dots": 2}'))
    if preserve:
        call["reasoning_content"] = "I should count with the tool."
    assert sent_messages(second) == [
        text_message(protocol, "user", QUESTION),
        call,
        tool_result(protocol, "2", "call_1"),
    ]
    assert all(was_streamed(r) for r in (first, second))


@pytest.mark.parametrize("model", ["qwen3.5-plus", "qwen3-vl-plus", "qwen3.6-35b-a3b", "qvq-max"])
def test_preserve_thinking_on_a_model_without_it_fails_at_construction(adapter: Adapter, model: str) -> None:
    with pytest.raises(ValueError, match=rf"^{model} does not take preserve_thinking") as info:
        adapter.make(model=model, preserve_thinking=True)
    assert str(info.value) == (
        f"{model} does not take preserve_thinking (the docs list qwen3.6-plus, qwen3.7-plus and qwen3.7-flash); "
        "remove it."
    )


# -- Qwen3-VL instruct: no thinking ------------------------------------------------------------------


def test_instruct_models_never_think(make: Callable[..., Any], adapter: Adapter, emu: DashScopeEmulator) -> None:
    emu.enqueue(Reply(text="Two."), Reply(tool_calls=[ToolCallReply(name="count_dots", arguments='{"dots": 2}')]))
    model = make("qwen3-vl-8b-instruct")
    assert adapter.invoke(model) == "Two."
    assert (was_streamed(emu.last_request), sent_params(emu.last_request)) == (False, {})
    adapter.tools_required(model)  # nothing to switch off, nothing to warn about
    assert sent_params(emu.last_request)["tool_choice"] == "required"
    assert "enable_thinking" not in sent_params(emu.last_request)
    with pytest.raises(ValueError, match=r"^qwen3-vl-8b-instruct does not think: the API rejects enable_thinking=True"):
        adapter.make(model="qwen3-vl-8b-instruct", enable_thinking=True)


# -- names the catalog does not know ----------------------------------------------------------------


@pytest.fixture
def new_model(emu: DashScopeEmulator) -> str:
    """A model the server serves and the library's catalog has never heard of."""
    name = "qwen3.9-vision-preview"
    emu.register_model(name, ModelFacts(thinking="hybrid", thinking_default=True, tools=True))
    return name


def _quietly(build: Callable[[], Any]) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnknownModelWarning)
        return build()


def test_unknown_name_is_handled_safely_on_the_wire(
    make: Callable[..., Any], adapter: Adapter, emu: DashScopeEmulator, caplog: pytest.LogCaptureFixture, new_model: str
) -> None:
    emu.enqueue(Reply(reasoning="Hm.", text="Two."), Reply(reasoning="Hm.", text="Two."))
    emu.enqueue(Reply(tool_calls=[ToolCallReply(name="count_dots", arguments='{"dots": 2}')]))
    model = _quietly(lambda: make(new_model))
    assert adapter.invoke(model) == "Two."
    assert (was_streamed(emu.last_request), sent_params(emu.last_request)) == (True, {})  # streams: it may think
    _quietly(lambda: adapter.invoke(make(new_model, thinking_budget=10**6)))  # no local range: the server judges
    assert sent_params(emu.last_request) == {"thinking_budget": 10**6}
    with caplog.at_level(logging.WARNING, logger="qwen_vl_core"):
        adapter.tools_required(model)
    assert sent_params(emu.last_request)["enable_thinking"] is False  # explicit, whatever its default is
    assert _core_warnings(caplog) == [THINKING_OFF_WARNING.format(model=new_model)]


def test_unknown_name_warning_suggests_close_names_and_points_at_the_caller(adapter: Adapter) -> None:
    _lookup.cache_clear()
    from qwen_vl_core import catalog

    catalog._warned.discard("qwen3-vl-plu")
    with pytest.warns(UnknownModelWarning) as caught:
        adapter.make(model="qwen3-vl-plu", api_key="k")
    assert len(caught) == 1
    message = str(caught[0].message)
    assert "Did you mean 'qwen3-vl-plus' or " in message
    assert "qwen_vl_core.register_model(...)" in message
    assert caught[0].filename == __file__  # this test's line, not a framework file


def test_images_of_an_unknown_model_are_not_downscaled_below_the_high_res_budget() -> None:
    spec = get_spec("qwen3.9-vision-preview", warn=False)
    assert (spec.known, spec.sizing_max_pixels, spec.input_limit(True)) == (False, 16384 * 32 * 32, None)
    assert get_spec("qwen3-vl-plus").sizing_max_pixels == 2560 * 32 * 32


@pytest.fixture
def registry() -> Any:
    before = dict(_REGISTERED)
    yield
    _REGISTERED.clear()
    _REGISTERED.update(before)
    _lookup.cache_clear()


def test_register_a_new_snapshot_like_a_known_family(
    registry: Any, make: Callable[..., Any], adapter: Adapter, emu: DashScopeEmulator
) -> None:
    name = "qwen3.6-plus-2026-11-30"
    emu.register_model(name, ModelFacts(thinking="hybrid", thinking_default=True))
    spec = register_model(name, like="qwen3.6-plus")
    assert (spec.name, spec.family, spec.known, spec.supports_preserve_thinking) == (name, "qwen3.6-plus", True, True)
    emu.enqueue(Reply(reasoning="Hm.", text="Two."))
    assert adapter.invoke(make(name)) == "Two."  # no UnknownModelWarning (warnings are errors here)
    assert was_streamed(emu.last_request)


def test_model_spec_overrides_the_catalog_for_one_adapter(
    make: Callable[..., Any], adapter: Adapter, emu: DashScopeEmulator
) -> None:
    # A catalog fact corrected for this model only: qwen3-vl-plus described as thinking by default.
    spec = replace(get_spec("qwen3-vl-plus"), thinking_default=True)
    emu.enqueue(Reply(reasoning="Hm.", text="Two."))
    model = make("qwen3-vl-plus", model_spec=spec, thinking_budget=100)  # accepted: thinking is on per the spec
    assert adapter.invoke(model) == "Two."
    assert (was_streamed(emu.last_request), sent_params(emu.last_request)) == (True, {"thinking_budget": 100})
    with pytest.raises(ValueError, match=r"^thinking_budget=100 was given but thinking is off for qwen3-vl-plus"):
        adapter.make(model="qwen3-vl-plus", thinking_budget=100)


def test_register_model_errors() -> None:
    with pytest.raises(ValueError, match=r"^register_model: like='qwen9' is not a catalog model"):
        register_model("x", like="qwen9")
    with pytest.raises(ValueError, match=r"^register_model: pass either a ModelSpec or a name with like="):
        register_model(get_spec("qwen3-vl-plus"), like="qvq-max")


@pytest.mark.parametrize("stream", [False, True])
def test_a_misspelled_model_is_not_found_with_close_names(
    make: Callable[..., Any], adapter: Adapter, emu: DashScopeEmulator, stream: bool
) -> None:
    model = _quietly(lambda: make("qwen3.6-plsu"))
    with pytest.raises(NotFoundError) as info:
        adapter.stream(model) if stream else adapter.invoke(model)
    assert info.value.message == (
        "The model does not exist or you do not have access to it. The model name is wrong or not offered in this "
        "region; `qwen-vl models` lists the names. Did you mean 'qwen3.6-plus' or 'qwen3.7-plus' or 'qwen3.5-plus'?"
    )
    assert info.value.status == 404
