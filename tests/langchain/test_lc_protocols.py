"""The same scripted replies through `ChatQwenVL` on the compat and the native protocol give the same
messages: invoke, stream (chunk by chunk and summed), async, tools, agents, structured output, errors.

Only what legitimately differs is dropped before comparing: the response id (compat
`chatcmpl-<request id>`, native the request id itself; LangChain's own run ids on stream chunks)
and the key names of the raw usage object in `response_metadata["token_usage"]`, whose numbers are
compared instead. `usage_metadata` and everything else must be equal.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import replace
from typing import Any

import httpx
import pytest
from langchain.agents import create_agent
from langchain_core import exceptions as lc
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, HumanMessage
from langchain_core.messages.utils import message_chunk_to_message
from langchain_core.tools import tool
from lc_support import PROTOCOLS, endpoint, response_id
from protocol_support import assert_same_error
from pydantic import BaseModel

import qwen_vl_core as core
from langchain_qwen_vl import ChatQwenVL
from qwen_vl_core.testing import DashScopeEmulator, ErrorFrame, ErrorReply, Reply, Script, ToolCallReply

RID = "5d1f3c1e-0c4e-9a57-a4b1-3f2e8d7c6b5a"
IMAGE = "https://example.com/triangle.png"
TEXT_Q = [HumanMessage("Area of the triangle?")]
IMAGE_Q = [HumanMessage(content=[{"type": "image", "url": IMAGE}, {"type": "text", "text": "Area of the triangle?"}])]
Pair = dict[str, ChatQwenVL]
MakePair = Callable[..., Pair]


@tool
def get_weather(city: str) -> str:
    """Current weather in a city, in Celsius."""
    return {"Paris": "18 C, sunny", "Tokyo": "24 C, rain"}[city]


@tool
def to_fahrenheit(celsius: float) -> float:
    """Convert Celsius to Fahrenheit."""
    return celsius * 9 / 5 + 32


@pytest.fixture
async def make_pair(emu: DashScopeEmulator) -> AsyncIterator[MakePair]:
    """`make_pair(model, **fields)`: the same `ChatQwenVL` once per protocol, keyed by protocol."""
    made: list[ChatQwenVL] = []

    def make(model: str = "qwen3-vl-plus", **fields: Any) -> Pair:
        pair = {
            p: ChatQwenVL(
                model=model, api_key=emu.api_key, max_retries=0, coalesce_deltas=False, **endpoint(emu, p), **fields
            )
            for p in PROTOCOLS
        }
        made.extend(pair.values())
        return pair

    yield make
    for chat in made:
        client = chat._clients.client
        if client is not None:
            client.close()
            await client.aclose()


# -- neutral forms ---------------------------------------------------------------------------------


def raw_counts(raw: Mapping[str, Any]) -> dict[str, Any]:
    """The numbers of a raw usage object, read under either protocol's key names."""
    native = "input_tokens" in raw
    inputs = raw.get("input_tokens_details" if native else "prompt_tokens_details") or {}
    outputs = raw.get("output_tokens_details" if native else "completion_tokens_details") or {}
    return {
        "input": raw["input_tokens" if native else "prompt_tokens"],
        "output": raw["output_tokens" if native else "completion_tokens"],
        "total": raw["total_tokens"],
        "reasoning": outputs.get("reasoning_tokens"),
        "image": inputs.get("image_tokens"),
    }


def neutral(message: BaseMessage, protocol: str) -> BaseMessage:
    """`message` without its protocol's response id and raw usage key names (their numbers stay)."""
    meta = dict(message.response_metadata)
    if "token_usage" in meta:
        meta["token_usage"] = raw_counts(meta["token_usage"])
    if isinstance(message, AIMessage) and "finish_reason" in meta:  # a final message: its id is the response id
        assert message.id == response_id(protocol, meta["request_id"])
    return message.model_copy(update={"id": None, "response_metadata": meta})


def summed(chunks: list[AIMessageChunk]) -> AIMessageChunk:
    full = chunks[0]
    for chunk in chunks[1:]:
        full = full + chunk
    return full


def enqueue_for_both(emu: DashScopeEmulator, *scripts: Script) -> None:
    """The scripts for one compat run, then the same for one native run (the emulator is FIFO)."""
    emu.enqueue(*scripts, *scripts)


def assert_routes(emu: DashScopeEmulator, per_protocol: int) -> None:
    """The compat run's requests went to the compat route, then the native run's to the native one."""
    routes = [r.path.split("/")[1] for r in emu.requests]
    assert routes == ["compatible-mode"] * per_protocol + ["api"] * per_protocol


# -- plain calls -----------------------------------------------------------------------------------

PARALLEL = [
    ToolCallReply("get_weather", '{"city": "Paris"}', id="call_p"),
    ToolCallReply("get_weather", ['{"city": ', '"東京"}'], id="call_t"),
]
SCENARIOS = [
    pytest.param("qwen3-vl-plus", {}, None, TEXT_Q, Reply(text="Six square units.", chunk_size=4), id="hybrid-off"),
    pytest.param(
        "qwen3-vl-flash",
        {"enable_thinking": True, "thinking_budget": 400},
        None,
        TEXT_Q,
        Reply(reasoning="Half of base times height.", text="Six.", chunk_size=5),
        id="hybrid-on",
    ),
    pytest.param(
        "qwen3-vl-32b-thinking",
        {},
        None,
        IMAGE_Q,
        Reply(reasoning=["Base 4, ", "height 3."], text=["It is ", "6."]),
        id="thinking-only-image",
    ),
    pytest.param(
        "qvq-max",
        {},
        None,
        IMAGE_Q,
        Reply(reasoning="Area = 1/2 * 4 * 3.", text="6 square units.", chunk_size=6),
        id="qvq-image",
    ),
    pytest.param(
        "qwen3-vl-plus",
        {"enable_thinking": True, "parallel_tool_calls": True},
        [get_weather],
        TEXT_Q,
        Reply(reasoning="Two cities.", text="Checking both.", tool_calls=PARALLEL, chunk_size=7),
        id="parallel-tool-calls-with-thinking",
    ),
    pytest.param(
        "qwen3-vl-plus",
        {},
        [get_weather],
        TEXT_Q,
        Reply(tool_calls=PARALLEL, chunk_size=5),
        id="parallel-tool-calls-non-stream",
    ),
    pytest.param(
        "qwen3-vl-plus",
        {},
        [get_weather],
        TEXT_Q,
        Reply(tool_calls=[ToolCallReply("get_weather", '{"city": "Paris"}}', id="call_x")]),
        id="invalid-arguments",
    ),
    pytest.param(
        "qvq-plus", {}, None, TEXT_Q, Reply(reasoning="Long thought", finish_reason="length"), id="reasoning-cut-off"
    ),
    pytest.param("qwen3-vl-plus", {}, None, TEXT_Q, Reply(text="Six sq", finish_reason="length"), id="text-cut-off"),
]


def _models(make_pair: MakePair, model: str, fields: dict[str, Any], tools: list[Any] | None) -> dict[str, Any]:
    pair = make_pair(model, **fields)
    return {p: m.bind_tools(tools) if tools else m for p, m in pair.items()}


@pytest.mark.parametrize(("model", "fields", "tools", "question", "reply"), SCENARIOS)
def test_invoke_and_stream_give_the_same_messages(
    make_pair: MakePair,
    emu: DashScopeEmulator,
    model: str,
    fields: dict[str, Any],
    tools: list[Any] | None,
    question: list[BaseMessage],
    reply: Reply,
) -> None:
    scripted = replace(reply, request_id=RID)
    enqueue_for_both(emu, scripted, scripted)
    models = _models(make_pair, model, fields, tools)
    invoked: dict[str, Any] = {}
    chunks: dict[str, list[AIMessageChunk]] = {}
    for p in PROTOCOLS:
        invoked[p] = models[p].invoke(question)
        chunks[p] = list(models[p].stream(question))
    assert_routes(emu, 2)

    assert neutral(invoked["dashscope"], "dashscope") == neutral(invoked["openai"], "openai")
    compat_chunks = [neutral(c, "openai") for c in chunks["openai"]]
    assert [neutral(c, "dashscope") for c in chunks["dashscope"]] == compat_chunks
    assert neutral(summed(chunks["dashscope"]), "dashscope") == neutral(summed(chunks["openai"]), "openai")
    # ... and on each protocol the summed stream is the invoked message (but for invalid tool calls:
    # langchain-core re-parses the summed chunks' arguments itself and gives no error text).
    for p in PROTOCOLS:
        if not invoked[p].invalid_tool_calls:
            assert message_chunk_to_message(summed(chunks[p])) == invoked[p]
    assert invoked["openai"].usage_metadata is not None
    assert invoked["openai"].response_metadata["request_id"] == RID


@pytest.mark.parametrize(("model", "fields", "tools", "question", "reply"), SCENARIOS[2:5])
async def test_async_calls_give_the_same_messages(
    make_pair: MakePair,
    emu: DashScopeEmulator,
    model: str,
    fields: dict[str, Any],
    tools: list[Any] | None,
    question: list[BaseMessage],
    reply: Reply,
) -> None:
    scripted = replace(reply, request_id=RID)
    enqueue_for_both(emu, scripted, scripted)
    models = _models(make_pair, model, fields, tools)
    invoked: dict[str, BaseMessage] = {}
    chunks: dict[str, list[AIMessageChunk]] = {}
    for p in PROTOCOLS:
        invoked[p] = await models[p].ainvoke(question)
        chunks[p] = [c async for c in models[p].astream(question)]
    assert_routes(emu, 2)
    assert neutral(invoked["dashscope"], "dashscope") == neutral(invoked["openai"], "openai")
    assert [neutral(c, "dashscope") for c in chunks["dashscope"]] == [neutral(c, "openai") for c in chunks["openai"]]


def test_a_scripted_usage_object_gives_the_same_usage_metadata(make_pair: MakePair, emu: DashScopeEmulator) -> None:
    # The real QVQ capture's numbers, each protocol in its own key names.
    compat = {
        "prompt_tokens": 544,
        "completion_tokens": 590,
        "total_tokens": 1134,
        "prompt_tokens_details": {"text_tokens": 24, "image_tokens": 520, "cached_tokens": 8},
        "completion_tokens_details": {"text_tokens": 80, "reasoning_tokens": 510},
    }
    native = {
        "input_tokens": 544,
        "output_tokens": 590,
        "total_tokens": 1134,
        "input_tokens_details": {"text_tokens": 24, "image_tokens": 520},
        "prompt_tokens_details": {"cached_tokens": 8},
        "output_tokens_details": {"text_tokens": 80, "reasoning_tokens": 510},
    }
    emu.enqueue(
        Reply(reasoning="Look.", text="A cat.", usage=compat, request_id=RID),
        Reply(reasoning="Look.", text="A cat.", usage=native, request_id=RID),
    )
    pair = make_pair("qvq-max")
    messages = {p: pair[p].invoke(IMAGE_Q) for p in PROTOCOLS}
    expected = {
        "input_tokens": 544,
        "output_tokens": 590,
        "total_tokens": 1134,
        "input_token_details": {"cache_read": 8, "image": 520},
        "output_token_details": {"reasoning": 510},
    }
    assert [messages[p].usage_metadata for p in PROTOCOLS] == [expected, expected]
    assert [messages[p].response_metadata["token_usage"] for p in PROTOCOLS] == [compat, native]


# -- errors ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reply", "error", "codes"),
    [
        (
            ErrorReply(429, "Requests rate limit exceeded.", code="limit_requests", request_id=RID),
            (core.RateLimitError, lc.ModelRateLimitError),
            ("limit_requests", "Throttling.RateQuota"),
        ),
        (
            ErrorReply(400, "Range of input length should be [1, 129024]", request_id=RID),
            (core.ContextOverflowError, lc.ContextOverflowError),
            ("invalid_parameter_error", "InvalidParameter"),
        ),
        (
            ErrorReply(404, "Model not exist.", code="model_not_found", request_id=RID),
            (core.NotFoundError, lc.ModelNotFoundError),
            ("model_not_found", "ModelNotFound"),
        ),
    ],
)
@pytest.mark.parametrize("call", ["invoke", "stream"])
def test_errors_are_the_same(
    make_pair: MakePair,
    emu: DashScopeEmulator,
    reply: ErrorReply,
    error: tuple[type[Exception], type[Exception]],
    codes: tuple[str, str],
    call: str,
) -> None:
    enqueue_for_both(emu, reply)
    pair = make_pair("qwen3-vl-flash", enable_thinking=call == "stream")
    raised: dict[str, Any] = {}
    for p in PROTOCOLS:
        with pytest.raises(error[0]) as info:
            pair[p].invoke(TEXT_Q) if call == "invoke" else list(pair[p].stream(TEXT_Q))
        assert isinstance(info.value, error[1])
        raised[p] = info.value
    assert_same_error(raised, reply.status, reply.message, RID, codes)


def test_a_mid_stream_error_keeps_the_same_chunks_and_partial(make_pair: MakePair, emu: DashScopeEmulator) -> None:
    message = "Output data may contain inappropriate content."
    # `after_chunks` counts data events: the compat stream opens with a role-only chunk.
    emu.enqueue(
        Reply(reasoning="abcdef", text="ghij", chunk_size=2, fault=ErrorFrame(5, message), request_id=RID),
        Reply(reasoning="abcdef", text="ghij", chunk_size=2, fault=ErrorFrame(4, message), request_id=RID),
    )
    pair = make_pair("qvq-max")
    received: dict[str, list[AIMessageChunk]] = {p: [] for p in PROTOCOLS}
    raised: dict[str, Any] = {}
    for p in PROTOCOLS:
        with pytest.raises(core.StreamError) as info:
            received[p].extend(pair[p].stream(TEXT_Q))
        raised[p] = info.value
    assert [neutral(c, "dashscope") for c in received["dashscope"]] == [
        neutral(c, "openai") for c in received["openai"]
    ]
    assert [c.additional_kwargs.get("reasoning_content", c.content) for c in received["openai"]] == [
        "ab",
        "cd",
        "ef",
        "gh",
    ]
    partials = {p: (e.partial.reasoning, e.partial.text, e.partial.finish_reason) for p, e in raised.items()}
    assert partials == {"openai": ("abcdef", "gh", None), "dashscope": ("abcdef", "gh", None)}
    assert [(type(e), e.message, e.request_id) for e in raised.values()] == [
        (type(raised["openai"]), raised["openai"].message, RID)
    ] * 2
    assert raised["openai"].message.startswith(message)


# -- agents and structured output ------------------------------------------------------------------


def test_create_agent_with_two_tool_rounds_gives_the_same_state(make_pair: MakePair, emu: DashScopeEmulator) -> None:
    enqueue_for_both(
        emu,
        Reply(
            reasoning="I need both cities.",
            tool_calls=[
                ToolCallReply("get_weather", '{"city": "Paris"}', id="call_p"),
                ToolCallReply("get_weather", '{"city": "Tokyo"}', id="call_t"),
            ],
            request_id="round-1",
        ),
        Reply(
            reasoning="Tokyo is warmer; convert.",
            tool_calls=[ToolCallReply("to_fahrenheit", '{"celsius": 24}', id="call_f")],
            request_id="round-2",
        ),
        # Distinct request ids: LangGraph's message reducer replaces a message that has the same id.
        Reply(reasoning="Done.", text="Tokyo is warmer: 24 C (75.2 F), with rain.", request_id="answer"),
    )
    pair = make_pair(enable_thinking=True, parallel_tool_calls=True)
    states = {
        p: create_agent(
            pair[p], tools=[get_weather, to_fahrenheit], system_prompt="You are a travel assistant."
        ).invoke({"messages": IMAGE_Q})
        for p in PROTOCOLS
    }
    assert_routes(emu, 3)
    messages = {p: [neutral(m, p) for m in states[p]["messages"]] for p in PROTOCOLS}
    assert messages["dashscope"] == messages["openai"]
    assert [type(m).__name__ for m in messages["openai"]] == [
        "HumanMessage",
        "AIMessage",
        "ToolMessage",
        "ToolMessage",
        "AIMessage",
        "ToolMessage",
        "AIMessage",
    ]
    final = states["dashscope"]["messages"][-1]
    assert (final.content, final.additional_kwargs) == (
        "Tokyo is warmer: 24 C (75.2 F), with rain.",
        {"reasoning_content": "Done."},
    )


class Answer(BaseModel):
    """The answer to a maths question."""

    value: float
    unit: str


STRUCTURED = [
    pytest.param(
        "qwen3-vl-flash",
        {"enable_thinking": True},
        {},
        Reply(tool_calls=[ToolCallReply("Answer", '{"value": 6, "unit": "cm2"}', id="call_1")], request_id=RID),
        id="function-calling-hybrid-thinking-on",
    ),
    pytest.param(
        "qwen3-vl-32b-thinking",
        {},
        {},
        Reply(
            reasoning="Half of 12.",
            tool_calls=[ToolCallReply("Answer", ['{"value": ', '6, "unit": "cm2"}'], id="call_1")],
            request_id=RID,
        ),
        id="function-calling-thinking-only",
    ),
    pytest.param(
        "qwen3-vl-plus",
        {},
        {"method": "json_mode"},
        Reply(text='{"value": 6, "unit": "cm2"}', request_id=RID),
        id="json-mode",
    ),
    pytest.param(
        "qwen3-vl-plus",
        {},
        {"method": "json_schema", "strict": True},
        Reply(text='{"value": 6, "unit": "cm2"}', request_id=RID),
        id="json-schema",
    ),
]


@pytest.mark.parametrize(("model", "fields", "options", "reply"), STRUCTURED)
def test_structured_output_gives_the_same_values(
    make_pair: MakePair,
    emu: DashScopeEmulator,
    model: str,
    fields: dict[str, Any],
    options: dict[str, Any],
    reply: Reply,
) -> None:
    enqueue_for_both(emu, reply, reply)
    pair = make_pair(model, **fields)
    raw: dict[str, Any] = {}
    streamed: dict[str, list[Any]] = {}
    for p in PROTOCOLS:
        raw[p] = pair[p].with_structured_output(Answer, include_raw=True, **options).invoke(TEXT_Q)
        streamed[p] = list(pair[p].with_structured_output(Answer, **options).stream(TEXT_Q))
    assert_routes(emu, 2)
    for p in PROTOCOLS:
        assert (raw[p]["parsed"], raw[p]["parsing_error"]) == (Answer(value=6, unit="cm2"), None)
        assert streamed[p][-1] == Answer(value=6, unit="cm2")
    assert neutral(raw["dashscope"]["raw"], "dashscope") == neutral(raw["openai"]["raw"], "openai")
    assert streamed["dashscope"] == streamed["openai"]


# -- concurrency the native route exposed ------------------------------------------------------


def test_concurrent_first_calls_build_one_http_client(
    make_pair: MakePair, emu: DashScopeEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    built: list[httpx.Client] = []
    both_inside = threading.Barrier(2, timeout=1.0)

    class CountedClient(httpx.Client):
        def __init__(self, **kwargs: Any) -> None:
            built.append(self)
            with contextlib.suppress(threading.BrokenBarrierError):  # hold the first builder until a
                both_inside.wait()  # second one arrives; with a lock none does
            super().__init__(**kwargs)

    monkeypatch.setattr(httpx, "Client", CountedClient)  # the module object `qwen_vl_core.transport` uses
    model = make_pair()["dashscope"]
    try:
        assert [m.content for m in model.batch(["hi", "hi"])] == ["Hello from the DashScope emulator."] * 2
        assert len(built) == 1
    finally:
        for client in built:  # close every pool, including the orphaned one, so no socket leaks
            client.close()
