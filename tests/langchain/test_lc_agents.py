"""ChatQwenVL inside `langchain.agents.create_agent` and a LangGraph graph, against the emulator, on
both wire protocols."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from langchain.agents import create_agent
from langchain_core.messages import AIMessage, AIMessageChunk, HumanMessage, ToolMessage
from langchain_core.tools import tool
from langgraph.graph import END, START, MessagesState, StateGraph
from lc_support import assistant_calls, sent_messages, sent_params, text_message, tool_result, was_streamed

from langchain_qwen_vl import ChatQwenVL
from qwen_vl_core.testing import DashScopeEmulator, Reply, ToolCallReply

ChatFactory = Callable[..., ChatQwenVL]
IMAGE = "https://example.com/receipt.png"


@tool
def get_weather(city: str) -> str:
    """Current weather in a city, in Celsius."""
    return {"Paris": "18 C, sunny", "Tokyo": "24 C, rain"}[city]


@tool
def to_fahrenheit(celsius: float) -> float:
    """Convert Celsius to Fahrenheit."""
    return celsius * 9 / 5 + 32


WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather in a city, in Celsius.",
        "parameters": {"properties": {"city": {"type": "string"}}, "required": ["city"], "type": "object"},
    },
}
FAHRENHEIT_TOOL = {
    "type": "function",
    "function": {
        "name": "to_fahrenheit",
        "description": "Convert Celsius to Fahrenheit.",
        "parameters": {"properties": {"celsius": {"type": "number"}}, "required": ["celsius"], "type": "object"},
    },
}


def test_create_agent_runs_a_parallel_round_then_a_second_tool_then_answers(
    make_model: ChatFactory, emu: DashScopeEmulator, protocol: str
) -> None:
    emu.enqueue(
        Reply(
            reasoning="I need both cities.",
            tool_calls=[
                ToolCallReply("get_weather", '{"city": "Paris"}', id="call_p"),
                ToolCallReply("get_weather", '{"city": "Tokyo"}', id="call_t"),
            ],
        ),
        Reply(
            reasoning="Tokyo is warmer; convert.",
            tool_calls=[ToolCallReply("to_fahrenheit", '{"celsius": 24}', id="call_f")],
        ),
        Reply(reasoning="Done.", text="Tokyo is warmer: 24 C (75.2 F), with rain."),
    )
    agent = create_agent(
        make_model(enable_thinking=True, parallel_tool_calls=True),
        tools=[get_weather, to_fahrenheit],
        system_prompt="You are a travel assistant.",
    )
    question = HumanMessage(
        content=[{"type": "image_url", "image_url": {"url": IMAGE}}, {"type": "text", "text": "Warmer city in F?"}]
    )
    state = agent.invoke({"messages": [question]})

    final = state["messages"][-1]
    assert isinstance(final, AIMessage)
    assert final.content == "Tokyo is warmer: 24 C (75.2 F), with rain."
    assert final.additional_kwargs == {"reasoning_content": "Done."}
    assert [type(m).__name__ for m in state["messages"]] == [
        "HumanMessage",
        "AIMessage",
        "ToolMessage",
        "ToolMessage",
        "AIMessage",
        "ToolMessage",
        "AIMessage",
    ]
    assert [m.content for m in state["messages"] if isinstance(m, ToolMessage)] == ["18 C, sunny", "24 C, rain", "75.2"]

    system = text_message(protocol, "system", "You are a travel assistant.")
    user = {
        "role": "user",
        "content": (
            [{"type": "image_url", "image_url": {"url": IMAGE}}, {"type": "text", "text": "Warmer city in F?"}]
            if protocol == "openai"
            else [{"image": IMAGE}, {"text": "Warmer city in F?"}]
        ),
    }
    round_1 = [
        assistant_calls(("call_p", "get_weather", '{"city": "Paris"}'), ("call_t", "get_weather", '{"city": "Tokyo"}')),
        tool_result(protocol, "18 C, sunny", "call_p"),
        tool_result(protocol, "24 C, rain", "call_t"),
    ]
    round_2 = [
        assistant_calls(("call_f", "to_fahrenheit", '{"celsius": 24}')),
        tool_result(protocol, "75.2", "call_f"),
    ]
    assert [sent_messages(r) for r in emu.requests] == [
        [system, user],
        [system, user, *round_1],
        [system, user, *round_1, *round_2],
    ]
    for request in emu.requests:
        assert sent_params(request) == {
            "tools": [WEATHER_TOOL, FAHRENHEIT_TOOL],
            "enable_thinking": True,
            "parallel_tool_calls": True,
        }
        assert was_streamed(request)
        assert "reasoning_content" not in str(request.body)


def test_langgraph_graph_streams_reasoning_and_answer_tokens(
    make_model: ChatFactory, emu: DashScopeEmulator, protocol: str
) -> None:
    model = make_model("qvq-max")

    def describe(state: MessagesState) -> dict[str, list[Any]]:
        return {"messages": [model.invoke(state["messages"])]}

    def summarize(state: MessagesState) -> dict[str, list[Any]]:
        last = state["messages"][-1]
        return {"messages": [model.invoke([HumanMessage(f"Summarize in three words: {last.text}")])]}

    builder = StateGraph(MessagesState)
    builder.add_node("describe", describe)
    builder.add_node("summarize", summarize)
    builder.add_edge(START, "describe")
    builder.add_edge("describe", "summarize")
    builder.add_edge("summarize", END)
    graph = builder.compile()

    emu.enqueue(
        Reply(reasoning="A receipt.", text="A grocery receipt for 12 euros.", chunk_size=10),
        Reply(reasoning="Short.", text="Grocery receipt, 12.", chunk_size=10),
    )
    pieces: list[tuple[str, str, str]] = []
    for chunk, meta in graph.stream(
        {"messages": [HumanMessage(content=[{"type": "image", "url": IMAGE}])]}, stream_mode="messages"
    ):
        assert isinstance(chunk, AIMessageChunk)
        pieces.append((meta["langgraph_node"], chunk.additional_kwargs.get("reasoning_content", ""), chunk.text))
    assert [p for p in pieces if p[1] or p[2]] == [
        ("describe", "A receipt.", ""),
        ("describe", "", "A grocery "),
        ("describe", "", "receipt fo"),
        ("describe", "", "r 12 euros"),
        ("describe", "", "."),
        ("summarize", "Short.", ""),
        ("summarize", "", "Grocery re"),
        ("summarize", "", "ceipt, 12."),
    ]
    assert sent_messages(emu.requests[1]) == [
        text_message(protocol, "user", "Summarize in three words: A grocery receipt for 12 euros.")
    ]
