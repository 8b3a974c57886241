"""`QwenVL` inside LlamaIndex agents, against the emulator on both wire protocols: FunctionAgent,
AgentWorkflow, ReActAgent."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from li_support import assistant_calls, sent_messages, sent_params, text_message, tool_result, was_streamed
from llama_index.core.agent.workflow import (
    AgentOutput,
    AgentStream,
    AgentWorkflow,
    FunctionAgent,
    ReActAgent,
    ToolCallResult,
)
from llama_index.core.base.llms.types import ThinkingBlock
from workflows.handler import WorkflowHandler

from llama_index_qwen_vl import QwenVL
from qwen_vl_core.testing import DashScopeEmulator, Reply, ToolCallReply

MakeLLM = Callable[..., QwenVL]

# Two deprecations inside llama-index-core 0.14.25 / llama-index-workflows, not the LLM class: the
# workflow runs `inspect.getmembers(agent)`, touching pydantic's deprecated `__fields__`; and
# `BaseWorkflowAgent._get_llm_response` (ReAct, early stopping) calls the deprecated `ctx.is_running`.
pytestmark = [
    pytest.mark.filterwarnings("ignore::pydantic.warnings.PydanticDeprecationWarning"),
    pytest.mark.filterwarnings("ignore:is_running called from within a step:DeprecationWarning"),
]


# Coroutines, not plain functions: LlamaIndex runs a sync tool in a thread pool, so the two calls of
# a parallel round would finish (and enter the agent's memory) in either order.
async def count_dots(color: str) -> int:
    """Count the dots of a color in the image."""
    return {"red": 3, "blue": 2}[color]


async def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


ROUND_1 = Reply(
    reasoning=["I need ", "both counts."],
    tool_calls=[
        ToolCallReply(name="count_dots", arguments=['{"col', 'or": "red"}'], id="c_red"),
        ToolCallReply(name="count_dots", arguments='{"color": "blue"}', id="c_blue"),
    ],
)
ROUND_2 = Reply(reasoning="Now add.", tool_calls=[ToolCallReply(name="add", arguments='{"a": 3, "b": 2}', id="c_add")])
ANSWER = Reply(reasoning="Done.", text=["There are ", "5 dots."])


async def _drain(handler: WorkflowHandler) -> list[Any]:
    return [event async for event in handler.stream_events()]


async def test_function_agent_streams_two_tool_rounds_with_thinking(
    make_llm: MakeLLM, emu: DashScopeEmulator, protocol: str
) -> None:
    emu.enqueue(ROUND_1, ROUND_2, ANSWER)
    agent = FunctionAgent(tools=[count_dots, add], llm=make_llm(enable_thinking=True), system_prompt="Count carefully.")
    handler = agent.run(user_msg="How many dots?")
    events = await _drain(handler)
    result = await handler
    assert result.response.content == "There are 5 dots."
    assert result.response.blocks[0] == ThinkingBlock(content="Done.", num_tokens=1)

    thinking = "".join(e.thinking_delta or "" for e in events if isinstance(e, AgentStream))
    assert thinking == "I need both counts.Now add.Done."
    answer = "".join(e.delta for e in events if isinstance(e, AgentStream))
    assert answer == "There are 5 dots."
    results = [(e.tool_name, e.tool_kwargs, e.tool_output.content) for e in events if isinstance(e, ToolCallResult)]
    assert results == [
        ("count_dots", {"color": "red"}, "3"),
        ("count_dots", {"color": "blue"}, "2"),
        ("add", {"a": 3, "b": 2}, "5"),
    ]

    assert len(emu.requests) == 3
    first, second, third = (sent_messages(r) for r in emu.requests)
    assert first == [
        text_message(protocol, "system", "Count carefully."),
        text_message(protocol, "user", "How many dots?"),
    ]
    assert third[2:] == [
        assistant_calls(("c_red", "count_dots", '{"color": "red"}'), ("c_blue", "count_dots", '{"color": "blue"}')),
        tool_result(protocol, "3", "c_red"),
        tool_result(protocol, "2", "c_blue"),
        assistant_calls(("c_add", "add", '{"a": 3, "b": 2}')),
        tool_result(protocol, "5", "c_add"),
    ]
    assert second == third[:5]
    params = [sent_params(r) for r in emu.requests]
    assert [(p["parallel_tool_calls"], p["enable_thinking"]) for p in params] == [(True, True)] * 3
    assert all(was_streamed(r) for r in emu.requests)


async def test_function_agent_without_streaming(make_llm: MakeLLM, emu: DashScopeEmulator) -> None:
    emu.enqueue(ROUND_2, ANSWER)
    agent = FunctionAgent(tools=[add], llm=make_llm(), streaming=False)
    result = await agent.run(user_msg="3 + 2?")
    assert result.response.content == "There are 5 dots."
    assert [was_streamed(r) for r in emu.requests] == [False, False]


async def test_function_agent_initial_tool_choice_is_forced(make_llm: MakeLLM, emu: DashScopeEmulator) -> None:
    emu.enqueue(ROUND_2, ANSWER)
    agent = FunctionAgent(tools=[add], llm=make_llm(), initial_tool_choice="add")
    await agent.run(user_msg="3 + 2?")
    assert sent_params(emu.requests[0])["tool_choice"] == {"type": "function", "function": {"name": "add"}}
    assert "tool_choice" not in sent_params(emu.requests[1])


async def test_function_agent_early_stopping_sends_no_trailing_system(
    make_llm: MakeLLM, emu: DashScopeEmulator, protocol: str
) -> None:
    emu.enqueue(ROUND_2, Reply(text="Stopped: 5."))
    agent = FunctionAgent(tools=[add], llm=make_llm(), system_prompt="Be quick.", early_stopping_method="generate")
    result = await agent.run(user_msg="3 + 2?", max_iterations=1)
    assert result.response.content == "Stopped: 5."
    # memory holds only the user turn; the trailing system message goes in as user text
    assert sent_messages(emu.last_request) == [
        text_message(
            protocol,
            "user",
            "Be quick.\n\n3 + 2?\n\nYou have reached the maximum number of iterations (1).\n"
            "Based on the information gathered so far, please provide a helpful final response to the user's "
            "original query.\nDo not attempt to use any more tools. Simply summarize what you have learned and "
            "provide the best possible answer.",
        )
    ]


async def test_agent_workflow_picks_function_agent_and_streams(make_llm: MakeLLM, emu: DashScopeEmulator) -> None:
    emu.enqueue(ROUND_2, ANSWER)
    workflow = AgentWorkflow.from_tools_or_functions([add], llm=make_llm(enable_thinking=True))
    assert isinstance(workflow.agents["Agent"], FunctionAgent)
    handler = workflow.run(user_msg="3 + 2?")
    events = await _drain(handler)
    result = await handler
    assert result.response.content == "There are 5 dots."
    assert [e.thinking_delta for e in events if isinstance(e, AgentStream) and e.thinking_delta] == [
        "Now add.",
        "Done.",
    ]
    assert [e.tool_name for e in events if isinstance(e, ToolCallResult)] == ["add"]


REACT_STEP = 'Thought: I need to add.\nAction: add\nAction Input: {"a": 3, "b": 2}'
REACT_ANSWER = "Thought: I can answer.\nAnswer: 5"


async def test_react_agent_with_qvq(make_llm: MakeLLM, emu: DashScopeEmulator) -> None:
    emu.enqueue(Reply(reasoning="Use the tool.", text=REACT_STEP), Reply(reasoning="Got it.", text=REACT_ANSWER))
    llm = make_llm("qvq-max")
    workflow = AgentWorkflow.from_tools_or_functions([add], llm=llm)
    agent = workflow.agents["Agent"]
    assert isinstance(agent, ReActAgent)
    handler = workflow.run(user_msg="3 + 2?")
    events = await _drain(handler)
    result = await handler
    assert result.response.content == "5"
    assert "".join(e.thinking_delta or "" for e in events if isinstance(e, AgentStream)) == "Use the tool.Got it."
    outputs = [e for e in events if isinstance(e, AgentOutput)]
    assert outputs[0].tool_calls[0].tool_kwargs == {"a": 3, "b": 2}
    assert all(was_streamed(r) and "tools" not in sent_params(r) for r in emu.requests)
    assert sent_messages(emu.requests[1])[-1]["role"] == "user"
    assert "Observation: 5" in str(sent_messages(emu.requests[1]))


async def test_function_agent_with_qvq_says_to_use_react_agent(make_llm: MakeLLM, emu: DashScopeEmulator) -> None:
    llm = make_llm("qvq-max")
    assert llm.metadata.is_function_calling_model is False  # other readers of metadata are unaffected
    agent = FunctionAgent(tools=[add], llm=llm)
    with pytest.raises(
        Exception, match=r"qvq-max has no tool calling, so FunctionAgent cannot drive it\. Use ReActAgent"
    ):
        await agent.run(user_msg="3 + 2?")
    assert emu.requests == []


async def test_function_agent_goes_on_after_malformed_tool_arguments(make_llm: MakeLLM, emu: DashScopeEmulator) -> None:
    # As with the LlamaIndex OpenAI LLM: the bad call runs with {} and the agent continues.
    emu.enqueue(Reply(tool_calls=[ToolCallReply(name="count_dots", arguments='{"color": ')]), ANSWER)
    agent = FunctionAgent(tools=[count_dots], llm=make_llm())
    result = await agent.run(user_msg="How many?")
    assert result.response.content == "There are 5 dots."
    assert len(emu.requests) == 2
