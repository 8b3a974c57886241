"""bind_tools, tool-call streaming, malformed arguments and tool history on the wire (both protocols)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest
from langchain_core.messages import AIMessage, AIMessageChunk, HumanMessage, SystemMessage, ToolMessage
from langchain_core.messages.utils import message_chunk_to_message
from langchain_core.runnables import RunnableBinding
from langchain_core.tools import tool
from lc_support import COMPAT_WIRE, NATIVE_WIRE, sent_messages, sent_params, text_message, was_streamed
from pydantic import BaseModel, Field

from langchain_qwen_vl import ChatQwenVL
from qwen_vl_core.testing import DashScopeEmulator, Reply, ToolCallReply

ChatFactory = Callable[..., ChatQwenVL]


@tool
def get_weather(city: str) -> str:
    """Weather in a city."""
    return f"Sunny in {city}"


class Area(BaseModel):
    """Area of a rectangle."""

    width: float = Field(description="width")
    height: float = Field(description="height")


WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather in a city.",
        "parameters": {"properties": {"city": {"type": "string"}}, "required": ["city"], "type": "object"},
    },
}
AREA = {
    "type": "function",
    "function": {
        "name": "Area",
        "description": "Area of a rectangle.",
        "parameters": {
            "properties": {
                "width": {"description": "width", "type": "number"},
                "height": {"description": "height", "type": "number"},
            },
            "required": ["width", "height"],
            "type": "object",
        },
    },
}


def _kwargs(bound: object) -> dict[str, Any]:
    assert isinstance(bound, RunnableBinding)
    return dict(bound.kwargs)


@pytest.mark.parametrize(
    ("choice", "sent"),
    [
        ("auto", "auto"),
        ("none", "none"),
        ("required", "required"),
        ("any", "required"),
        (True, "required"),
        ("Area", {"type": "function", "function": {"name": "Area"}}),
    ],
)
def test_bind_tools_normalizes_tool_choice(choice: object, sent: object) -> None:
    bound = ChatQwenVL().bind_tools([get_weather, Area], tool_choice=choice)  # type: ignore[arg-type]
    assert _kwargs(bound) == {"tools": [WEATHER, AREA], "tool_choice": sent}


def test_bind_tools_forwards_parallel_false_and_strict() -> None:
    bound = ChatQwenVL().bind_tools([WEATHER], parallel_tool_calls=False, strict=True)
    strict_weather = {"type": "function", "function": {**WEATHER["function"], "strict": True}}  # type: ignore[dict-item]
    assert _kwargs(bound) == {"tools": [strict_weather], "parallel_tool_calls": False}


def test_bind_tools_rejects_an_unknown_tool_name() -> None:
    with pytest.raises(ValueError, match=r"^tool_choice names 'nope', which is not among the tools \['get_weather'\]"):
        ChatQwenVL().bind_tools([get_weather], tool_choice="nope")


PARALLEL = Reply(
    reasoning="Two cities, two calls.",
    tool_calls=[
        ToolCallReply("get_weather", '{"city": "Paris"}', id="call_a"),
        ToolCallReply("get_weather", '{"city": "東京"}', id="call_b"),
    ],
    chunk_size=6,
    request_id="tools-1",
)


def test_parallel_tool_calls_stream_and_invoke(make_model: ChatFactory, emu: DashScopeEmulator, protocol: str) -> None:
    model = make_model(enable_thinking=True).bind_tools([get_weather], parallel_tool_calls=True)
    emu.enqueue(PARALLEL, PARALLEL)
    invoked = model.invoke("Weather in Paris and Tokyo?")
    chunks = list(model.stream("Weather in Paris and Tokyo?"))
    tool_chunks = [c.tool_call_chunks[0] for c in chunks if c.tool_call_chunks]
    assert [(t["index"], t["id"], t["name"], t["args"]) for t in tool_chunks] == [
        (0, "call_a", "get_weather", '{"city'),
        (0, None, None, '": "Pa'),
        (0, None, None, 'ris"}'),
        (1, "call_b", "get_weather", '{"city'),
        (1, None, None, '": "東京'),
        (1, None, None, '"}'),
    ]
    full = chunks[0]
    for chunk in chunks[1:]:
        full = full + chunk
    assert isinstance(invoked, AIMessage)
    assert message_chunk_to_message(full) == invoked
    assert invoked.tool_calls == [
        {"name": "get_weather", "args": {"city": "Paris"}, "id": "call_a", "type": "tool_call"},
        {"name": "get_weather", "args": {"city": "東京"}, "id": "call_b", "type": "tool_call"},
    ]
    assert invoked.additional_kwargs == {"reasoning_content": "Two cities, two calls."}
    assert invoked.response_metadata["finish_reason"] == "tool_calls"
    for request in emu.requests:
        assert request.body["model"] == "qwen3-vl-plus"
        assert sent_messages(request) == [text_message(protocol, "user", "Weather in Paris and Tokyo?")]
        assert sent_params(request) == {"tools": [WEATHER], "parallel_tool_calls": True, "enable_thinking": True}
        assert was_streamed(request)


def test_malformed_arguments_are_invalid_tool_calls_kept_raw(make_model: ChatFactory, emu: DashScopeEmulator) -> None:
    bad = Reply(tool_calls=[ToolCallReply("get_weather", '{"city": "Paris"}}', id="call_x")], chunk_size=7)
    emu.enqueue(bad, bad)
    model = make_model().bind_tools([get_weather])
    message = model.invoke("Weather?")
    assert message.tool_calls == []
    assert message.invalid_tool_calls == [
        {
            "name": "get_weather",
            "args": '{"city": "Paris"}}',
            "id": "call_x",
            "error": "arguments are not valid JSON (Extra data: line 1 column 18 (char 17))",
            "type": "invalid_tool_call",
        }
    ]
    chunks: list[AIMessageChunk] = list(model.stream("Weather?"))
    assert "".join(c.tool_call_chunks[0]["args"] or "" for c in chunks if c.tool_call_chunks) == '{"city": "Paris"}}'
    full = chunks[0]
    for chunk in chunks[1:]:
        full = full + chunk
    assert full.tool_calls == []
    assert [c["args"] for c in full.invalid_tool_calls] == ['{"city": "Paris"}}']


TOOL_HISTORY = [
    SystemMessage("You are a weather bot."),
    HumanMessage("Weather in Paris and Tokyo?"),
    AIMessage(
        content="",
        additional_kwargs={"reasoning_content": "Two calls."},
        tool_calls=[
            {"name": "get_weather", "args": {"city": "Paris"}, "id": "call_a"},
            {"name": "get_weather", "args": {"city": "Tokyo"}, "id": "call_b"},
        ],
    ),
    ToolMessage("Sunny in Paris", tool_call_id="call_a"),
    ToolMessage(content=[{"type": "text", "text": "Rain in Tokyo"}], tool_call_id="call_b"),
]
HISTORY_CALLS = [
    {"id": "call_a", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}},
    {"id": "call_b", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Tokyo"}'}},
]


@COMPAT_WIRE
def test_tool_history_goes_back_exactly_and_without_reasoning_compat_wire(
    make_model: ChatFactory, emu: DashScopeEmulator
) -> None:
    make_model("qwen3-vl-32b-thinking").bind_tools([get_weather]).invoke(TOOL_HISTORY)
    assert emu.last_request.body["messages"] == [
        {"role": "system", "content": "You are a weather bot."},
        {"role": "user", "content": "Weather in Paris and Tokyo?"},
        {"role": "assistant", "content": "", "tool_calls": HISTORY_CALLS},
        {"role": "tool", "content": "Sunny in Paris", "tool_call_id": "call_a"},
        {"role": "tool", "content": "Rain in Tokyo", "tool_call_id": "call_b"},
    ]


@NATIVE_WIRE
def test_tool_history_goes_back_exactly_and_without_reasoning_native_wire(
    make_model: ChatFactory, emu: DashScopeEmulator
) -> None:
    make_model("qwen3-vl-32b-thinking").bind_tools([get_weather]).invoke(TOOL_HISTORY)
    assert emu.last_request.body == {
        "model": "qwen3-vl-32b-thinking",
        "input": {
            "messages": [
                {"role": "system", "content": [{"text": "You are a weather bot."}]},
                {"role": "user", "content": [{"text": "Weather in Paris and Tokyo?"}]},
                {"role": "assistant", "content": "", "tool_calls": HISTORY_CALLS},
                {"role": "tool", "content": [{"text": "Sunny in Paris"}], "tool_call_id": "call_a"},
                {"role": "tool", "content": [{"text": "Rain in Tokyo"}], "tool_call_id": "call_b"},
            ]
        },
        "parameters": {"result_format": "message", "incremental_output": True, "tools": [WEATHER]},
    }


def test_forced_choice_on_hybrid_thinking_runs_with_thinking_off(
    make_model: ChatFactory, emu: DashScopeEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    emu.enqueue(Reply(tool_calls=[ToolCallReply("get_weather", '{"city": "Oslo"}', id="c1")]))
    with caplog.at_level(logging.WARNING, logger="qwen_vl_core"):
        message = make_model(enable_thinking=True).bind_tools([get_weather], tool_choice="any").invoke("Oslo?")
    assert message.tool_calls == [{"name": "get_weather", "args": {"city": "Oslo"}, "id": "c1", "type": "tool_call"}]
    params = sent_params(emu.last_request)
    assert (params["tool_choice"], params["enable_thinking"], was_streamed(emu.last_request)) == (
        "required",
        False,
        False,
    )
    assert "runs with thinking switched off" in caplog.text


def test_forced_choice_on_a_thinking_only_model_is_refused(make_model: ChatFactory, emu: DashScopeEmulator) -> None:
    model = make_model("qwen3-vl-8b-thinking").bind_tools([get_weather], tool_choice="get_weather")
    with pytest.raises(
        ValueError, match=r"^qwen3-vl-8b-thinking always thinks, and the API rejects forced tool_choice"
    ):
        model.invoke("Oslo?")
    assert emu.requests == []
