"""invoke / stream / ainvoke / astream / batch / abatch against the emulator, for every model kind,
on both wire protocols (the exact bodies of each are pinned in the `*_wire` tests)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, HumanMessage, SystemMessage
from langchain_core.messages.utils import message_chunk_to_message
from lc_support import (
    COMPAT_WIRE,
    NATIVE_WIRE,
    response_id,
    sent_messages,
    sent_params,
    text_message,
    usage_wire,
    was_streamed,
)

from langchain_qwen_vl import ChatQwenVL
from qwen_vl_core.testing import DashScopeEmulator, Reply

ChatFactory = Callable[..., ChatQwenVL]
Case = tuple[str, dict[str, Any], str, dict[str, Any], bool]

# (model, fields, reasoning the scripted reply carries, request parameters, whether invoke streams)
CASES: dict[str, Case] = {
    "hybrid-off": ("qwen3-vl-plus", {}, "", {}, False),
    "hybrid-on": (
        "qwen3-vl-flash",
        {"enable_thinking": True},
        "The triangle has base 4 and height 3.",
        {"enable_thinking": True},
        True,
    ),
    "thinking-only": ("qwen3-vl-32b-thinking", {}, "Half of base times height.", {}, True),
    "qvq": ("qvq-max", {}, "Area = 1/2 * 4 * 3.", {}, True),
}
ANSWER = "The area is 6 square units."
QUESTION = "Area of the triangle?"


def _usage(protocol: str, reasoning: str) -> dict[str, Any]:
    if reasoning:
        return usage_wire(protocol, 30, 20, reasoning_tokens=12)
    return usage_wire(protocol, 30, 8)


def _reply(protocol: str, reasoning: str, request_id: str = "req-1") -> Reply:
    usage = _usage(protocol, reasoning)
    return Reply(reasoning=reasoning, text=ANSWER, chunk_size=5, request_id=request_id, usage=usage)


def _expected(protocol: str, model: str, reasoning: str, request_id: str = "req-1") -> AIMessage:
    usage: dict[str, Any] = (
        {"input_tokens": 30, "output_tokens": 20, "total_tokens": 50, "output_token_details": {"reasoning": 12}}
        if reasoning
        else {"input_tokens": 30, "output_tokens": 8, "total_tokens": 38}
    )
    return AIMessage(
        content=ANSWER,
        additional_kwargs={"reasoning_content": reasoning} if reasoning else {},
        response_metadata={
            "model_name": model,
            "finish_reason": "stop",
            "model_provider": "dashscope",
            "request_id": request_id,
            "token_usage": _usage(protocol, reasoning),
        },
        id=response_id(protocol, request_id),
        usage_metadata=usage,  # type: ignore[arg-type]
    )


def _sum(chunks: list[AIMessageChunk]) -> BaseMessage:
    full = chunks[0]
    for chunk in chunks[1:]:
        full = full + chunk
    return message_chunk_to_message(full)


@pytest.fixture(params=list(CASES))
def case(request: pytest.FixtureRequest) -> Case:
    return CASES[request.param]


def test_invoke_and_the_sum_of_stream_chunks_are_the_same_message(
    make_model: ChatFactory, emu: DashScopeEmulator, protocol: str, case: Case
) -> None:
    model_name, fields, reasoning, params, invoke_streams = case
    model = make_model(model_name, **fields)
    emu.enqueue(_reply(protocol, reasoning), _reply(protocol, reasoning))
    invoked = model.invoke(QUESTION)
    chunks = list(model.stream(QUESTION))
    assert invoked == _expected(protocol, model_name, reasoning)
    assert _sum(chunks) == invoked
    assert [(r.body["model"], sent_messages(r), sent_params(r), was_streamed(r)) for r in emu.requests] == [
        (model_name, [text_message(protocol, "user", QUESTION)], params, invoke_streams),
        (model_name, [text_message(protocol, "user", QUESTION)], params, True),
    ]
    # One chunk per wire delta, then the final chunk; only the final chunk has usage and metadata.
    n_reasoning, n_text = -(-len(reasoning) // 5), -(-len(ANSWER) // 5)
    assert len(chunks) == n_reasoning + n_text + 1
    assert [c.additional_kwargs.get("reasoning_content", "") for c in chunks[:n_reasoning]] == [
        reasoning[i : i + 5] for i in range(0, len(reasoning), 5)
    ]
    assert [c.content for c in chunks[n_reasoning:-1]] == [ANSWER[i : i + 5] for i in range(0, len(ANSWER), 5)]
    assert [c.usage_metadata is not None for c in chunks].count(True) == 1
    assert [("model_name" in c.response_metadata) for c in chunks].count(True) == 1
    assert chunks[-1].chunk_position == "last"


@COMPAT_WIRE
@pytest.mark.parametrize("call", ["invoke", "stream"])
def test_thinking_switches_on_the_compat_wire(
    make_model: ChatFactory, emu: DashScopeEmulator, case: Case, call: str
) -> None:
    model_name, fields, _, _, invoke_streams = case
    model = make_model(model_name, **fields)
    model.invoke(QUESTION) if call == "invoke" else list(model.stream(QUESTION))
    streamed = call == "stream" or invoke_streams
    assert emu.last_request.body == {
        "model": model_name,
        "messages": [{"role": "user", "content": QUESTION}],
        **({"stream": True, "stream_options": {"include_usage": True}} if streamed else {}),
        **({"enable_thinking": True} if fields.get("enable_thinking") else {}),
    }


@NATIVE_WIRE
@pytest.mark.parametrize("call", ["invoke", "stream"])
def test_thinking_switches_on_the_native_wire(
    make_model: ChatFactory, emu: DashScopeEmulator, case: Case, call: str
) -> None:
    model_name, fields, _, _, invoke_streams = case
    model = make_model(model_name, **fields)
    model.invoke(QUESTION) if call == "invoke" else list(model.stream(QUESTION))
    streamed = call == "stream" or invoke_streams
    assert emu.last_request.body == {
        "model": model_name,
        "input": {"messages": [{"role": "user", "content": [{"text": QUESTION}]}]},
        "parameters": {
            "result_format": "message",
            **({"incremental_output": True} if streamed else {}),
            **({"enable_thinking": True} if fields.get("enable_thinking") else {}),
        },
    }
    assert emu.last_request.path == "/api/v1/services/aigc/multimodal-generation/generation"
    sse = {"accept": "text/event-stream", "x-dashscope-sse": "enable"}
    headers = {k: emu.last_request.headers.get(k) for k in ("accept", "x-dashscope-sse")}
    assert headers == (sse if streamed else {"accept": "application/json", "x-dashscope-sse": None})


@NATIVE_WIRE
def test_thinking_off_and_budget_on_the_native_wire(make_model: ChatFactory, emu: DashScopeEmulator) -> None:
    make_model("qwen3-vl-plus", enable_thinking=False).invoke(QUESTION)
    make_model("qwen3-vl-plus", enable_thinking=True, thinking_budget=300).invoke(QUESTION)
    user = {"role": "user", "content": [{"text": QUESTION}]}
    assert [r.body for r in emu.requests] == [
        {
            "model": "qwen3-vl-plus",
            "input": {"messages": [user]},
            "parameters": {"result_format": "message", "enable_thinking": False},
        },
        {
            "model": "qwen3-vl-plus",
            "input": {"messages": [user]},
            "parameters": {
                "result_format": "message",
                "incremental_output": True,
                "enable_thinking": True,
                "thinking_budget": 300,
            },
        },
    ]


async def test_async_paths_give_the_same_message(
    make_model: ChatFactory, emu: DashScopeEmulator, protocol: str, case: Case
) -> None:
    model_name, fields, reasoning, _, _ = case
    model = make_model(model_name, **fields)
    emu.enqueue(_reply(protocol, reasoning), _reply(protocol, reasoning))
    invoked = await model.ainvoke(QUESTION)
    chunks = [chunk async for chunk in model.astream(QUESTION)]
    assert invoked == _expected(protocol, model_name, reasoning)
    assert _sum(chunks) == invoked


def test_batch(make_model: ChatFactory, emu: DashScopeEmulator, protocol: str, case: Case) -> None:
    model_name, fields, reasoning, _, _ = case
    model = make_model(model_name, **fields)
    emu.enqueue(_reply(protocol, reasoning, "a"), _reply(protocol, reasoning, "b"))
    results = model.batch([QUESTION, QUESTION])
    assert sorted(results, key=lambda m: str(m.id)) == [
        _expected(protocol, model_name, reasoning, "a"),
        _expected(protocol, model_name, reasoning, "b"),
    ]


async def test_abatch(make_model: ChatFactory, emu: DashScopeEmulator, protocol: str, case: Case) -> None:
    model_name, fields, reasoning, _, _ = case
    emu.enqueue(_reply(protocol, reasoning, "a"), _reply(protocol, reasoning, "b"))
    results = await make_model(model_name, **fields).abatch([QUESTION, QUESTION])
    assert sorted(results, key=lambda m: str(m.id)) == [
        _expected(protocol, model_name, reasoning, "a"),
        _expected(protocol, model_name, reasoning, "b"),
    ]


def test_content_blocks_put_reasoning_first(make_model: ChatFactory, emu: DashScopeEmulator) -> None:
    emu.enqueue(Reply(reasoning="Think.", text="Six."))
    message = make_model("qvq-max").invoke("Area?")
    assert message.content_blocks == [
        {"type": "reasoning", "reasoning": "Think."},
        {"type": "text", "text": "Six."},
    ]


def test_output_version_v1_gives_standard_blocks(make_model: ChatFactory, emu: DashScopeEmulator) -> None:
    model = make_model("qvq-max", output_version="v1")
    emu.enqueue(
        Reply(reasoning="Think.", text="Six.", chunk_size=3), Reply(reasoning="Think.", text="Six.", chunk_size=3)
    )
    invoked = model.invoke("Area?")
    assert invoked.content == [
        {"type": "reasoning", "reasoning": "Think."},
        {"type": "text", "text": "Six."},
    ]
    chunks = list(model.stream("Area?"))
    full = chunks[0]
    for chunk in chunks[1:]:
        full += chunk
    assert full.content == [
        {"type": "reasoning", "reasoning": "Think.", "index": 0},
        {"type": "text", "text": "Six.", "index": 1},
    ]
    assert [b["type"] for b in full.content_blocks].count("text") == 1
    assert full.response_metadata["output_version"] == "v1"


class _Tokens(BaseCallbackHandler):
    def __init__(self) -> None:
        self.tokens: list[Any] = []

    def on_llm_new_token(self, token: str, **kwargs: Any) -> None:
        self.tokens.append(token)


def test_streaming_field_routes_invoke_through_the_stream(make_model: ChatFactory, emu: DashScopeEmulator) -> None:
    emu.enqueue(Reply(text="abcdef", chunk_size=2))
    handler = _Tokens()
    message = make_model(streaming=True).invoke("hi", config={"callbacks": [handler]})
    assert message.content == "abcdef"
    assert handler.tokens == ["ab", "cd", "ef", ""]
    assert was_streamed(emu.last_request)


def test_model_override_per_call(make_model: ChatFactory, emu: DashScopeEmulator) -> None:
    message = make_model().invoke("hi", model="qwen3-vl-flash")
    assert emu.last_request.body["model"] == "qwen3-vl-flash"
    assert message.response_metadata["model_name"] == "qwen3-vl-flash"


HISTORY = [
    SystemMessage("Answer in one word."),
    HumanMessage("Colour of the sky?"),
    AIMessage("Blue.", additional_kwargs={"reasoning_content": "Rayleigh scattering."}),
    HumanMessage("And grass?"),
]


@COMPAT_WIRE
def test_system_prompt_is_folded_without_tools_and_history_drops_reasoning_compat_wire(
    make_model: ChatFactory, emu: DashScopeEmulator
) -> None:
    make_model(enable_thinking=True).invoke(HISTORY)
    assert emu.last_request.body["messages"] == [
        {"role": "user", "content": "Answer in one word.\n\nColour of the sky?"},
        {"role": "assistant", "content": "Blue."},
        {"role": "user", "content": "And grass?"},
    ]


@NATIVE_WIRE
def test_system_prompt_is_folded_without_tools_and_history_drops_reasoning_native_wire(
    make_model: ChatFactory, emu: DashScopeEmulator
) -> None:
    make_model(enable_thinking=True).invoke(HISTORY)
    assert emu.last_request.body == {
        "model": "qwen3-vl-plus",
        "input": {
            "messages": [
                {"role": "user", "content": [{"text": "Answer in one word.\n\nColour of the sky?"}]},
                {"role": "assistant", "content": [{"text": "Blue."}]},
                {"role": "user", "content": [{"text": "And grass?"}]},
            ]
        },
        "parameters": {"result_format": "message", "incremental_output": True, "enable_thinking": True},
    }
