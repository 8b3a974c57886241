"""The same scripted replies through `QwenVL` on the compat and the native protocol give the same
responses: chat, stream_chat (every chunk, the final one included), async, tools, FunctionAgent,
structured output, errors.

Only what legitimately differs is dropped before comparing: the response id in `raw["id"]` (compat
`chatcmpl-<request id>`, native the request id itself) and the key names of the raw usage object in
`raw["usage"]`, whose numbers are compared instead. The token counts in `additional_kwargs`, the
blocks, and everything else must be equal.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import replace
from typing import Any

import pytest
from li_support import PNG, PROTOCOLS, endpoint, response_id
from llama_index.core.agent.workflow import FunctionAgent
from llama_index.core.base.llms.types import ChatMessage, ChatResponse, ImageBlock, TextBlock
from llama_index.core.prompts import PromptTemplate
from llama_index.core.tools import FunctionTool
from protocol_support import assert_same_error
from pydantic import BaseModel

import qwen_vl_core as core
from llama_index_qwen_vl import QwenVL
from qwen_vl_core.testing import DashScopeEmulator, ErrorFrame, ErrorReply, Reply, Script, ToolCallReply

pytestmark = [  # llama-index-core's own deprecations inside the agent workflow (see test_li_agents.py)
    pytest.mark.filterwarnings("ignore::pydantic.warnings.PydanticDeprecationWarning"),
]

RID = "5d1f3c1e-0c4e-9a57-a4b1-3f2e8d7c6b5a"
TEXT_Q = [ChatMessage(role="user", content="How many dots?")]
IMAGE_Q = [
    ChatMessage(role="user", blocks=[ImageBlock(url="https://example.com/dots.png"), TextBlock(text="How many dots?")])
]
BYTES_Q = [ChatMessage(role="user", blocks=[ImageBlock(image=PNG), TextBlock(text="How many dots?")])]
Pair = dict[str, QwenVL]
MakePair = Callable[..., Pair]


# Coroutines, not plain functions: LlamaIndex runs a sync tool in a thread pool, so the two calls of
# a parallel round would finish (and enter the agent's memory) in either order.
async def count_dots(color: str) -> int:
    """Count the dots of a color in the image."""
    return {"red": 3, "blue": 2}[color]


async def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


COUNT = FunctionTool.from_defaults(count_dots)


@pytest.fixture
async def make_pair(emu: DashScopeEmulator) -> AsyncIterator[MakePair]:
    """`make_pair(model, **fields)`: the same `QwenVL` once per protocol, keyed by protocol."""
    made: list[QwenVL] = []

    def make(model: str = "qwen3-vl-plus", **fields: Any) -> Pair:
        pair = {
            p: QwenVL(
                model=model, api_key=emu.api_key, max_retries=0, coalesce_deltas=False, **endpoint(emu, p), **fields
            )
            for p in PROTOCOLS
        }
        made.extend(pair.values())
        return pair

    yield make
    for llm in made:
        llm.close()
        await llm.aclose()


# -- neutral forms ---------------------------------------------------------------------------------

RAW_KEYS = {"id", "model", "request_id", "finish_reason", "usage"}


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


def neutral_raw(raw: Any, protocol: str) -> Any:
    """`QwenVL`'s `raw` dict without the response id, with usage numbers instead of the usage object;
    anything else (None, a parsed pydantic object) unchanged. Nested dicts and lists are walked, so
    whole agent events can be compared."""
    if isinstance(raw, Mapping):
        if set(raw) - {"qwen_vl_images"} == RAW_KEYS:  # the image geometry is protocol-neutral already
            assert raw["id"] == response_id(protocol, raw["request_id"])
            usage = raw["usage"]
            return {**raw, "id": None, "usage": raw_counts(usage) if usage is not None else None}
        return {k: neutral_raw(v, protocol) for k, v in raw.items()}
    if isinstance(raw, list):
        return [neutral_raw(v, protocol) for v in raw]
    return raw


def neutral(response: ChatResponse, protocol: str) -> ChatResponse:
    return response.model_copy(update={"raw": neutral_raw(response.raw, protocol)})


def enqueue_for_both(emu: DashScopeEmulator, *scripts: Script) -> None:
    """The scripts for one compat run, then the same for one native run (the emulator is FIFO)."""
    emu.enqueue(*scripts, *scripts)


def assert_routes(emu: DashScopeEmulator, per_protocol: int) -> None:
    routes = [r.path.split("/")[1] for r in emu.requests]
    assert routes == ["compatible-mode"] * per_protocol + ["api"] * per_protocol


# -- chat and stream -------------------------------------------------------------------------------

PARALLEL = [
    ToolCallReply(name="count_dots", arguments=['{"col', 'or": "red"}'], id="c_red"),
    ToolCallReply(name="count_dots", arguments='{"color": "blue"}', id="c_blue"),
]
SCENARIOS = [
    pytest.param("qwen3-vl-plus", {}, TEXT_Q, Reply(text="Five dots.", chunk_size=4), id="hybrid-off"),
    pytest.param(
        "qwen3-vl-flash",
        {"enable_thinking": True, "thinking_budget": 300},
        TEXT_Q,
        Reply(reasoning=["Three red, ", "two blue."], text=["Five ", "dots."]),
        id="hybrid-on",
    ),
    pytest.param(
        "qwen3-vl-8b-thinking",
        {},
        IMAGE_Q,
        Reply(reasoning="Count them one by one.", text="Five.", chunk_size=6),
        id="thinking-only-image",
    ),
    pytest.param(
        "qvq-max", {}, BYTES_Q, Reply(reasoning="A red dot.", text="One dot.", chunk_size=3), id="qvq-image-bytes"
    ),
    pytest.param("qvq-plus", {}, TEXT_Q, Reply(reasoning="Long thought", finish_reason="length"), id="qvq-cut-off"),
]


@pytest.mark.parametrize(("model", "fields", "question", "reply"), SCENARIOS)
def test_chat_and_stream_chat_give_the_same_responses(
    make_pair: MakePair,
    emu: DashScopeEmulator,
    model: str,
    fields: dict[str, Any],
    question: list[ChatMessage],
    reply: Reply,
) -> None:
    scripted = replace(reply, request_id=RID)
    enqueue_for_both(emu, scripted, scripted)
    pair = make_pair(model, **fields)
    chats: dict[str, ChatResponse] = {}
    streams: dict[str, list[ChatResponse]] = {}
    for p in PROTOCOLS:
        chats[p] = pair[p].chat(question)
        streams[p] = list(pair[p].stream_chat(question))
    assert_routes(emu, 2)
    assert neutral(chats["dashscope"], "dashscope") == neutral(chats["openai"], "openai")
    assert [neutral(c, "dashscope") for c in streams["dashscope"]] == [neutral(c, "openai") for c in streams["openai"]]
    for p in PROTOCOLS:  # the final streamed response is the chat response (but for its empty delta)
        assert streams[p][-1] == chats[p].model_copy(update={"delta": ""})
    assert chats["openai"].raw["request_id"] == RID  # type: ignore[index]


@pytest.mark.parametrize(("model", "fields", "question", "reply"), SCENARIOS[1:4])
async def test_achat_and_astream_chat_give_the_same_responses(
    make_pair: MakePair,
    emu: DashScopeEmulator,
    model: str,
    fields: dict[str, Any],
    question: list[ChatMessage],
    reply: Reply,
) -> None:
    scripted = replace(reply, request_id=RID)
    enqueue_for_both(emu, scripted, scripted)
    pair = make_pair(model, **fields)
    chats: dict[str, ChatResponse] = {}
    streams: dict[str, list[ChatResponse]] = {}
    for p in PROTOCOLS:
        chats[p] = await pair[p].achat(question)
        streams[p] = [c async for c in await pair[p].astream_chat(question)]
    assert_routes(emu, 2)
    assert neutral(chats["dashscope"], "dashscope") == neutral(chats["openai"], "openai")
    assert [neutral(c, "dashscope") for c in streams["dashscope"]] == [neutral(c, "openai") for c in streams["openai"]]


@pytest.mark.parametrize("thinking", [False, True])
def test_parallel_tool_calls_give_the_same_responses_and_selections(
    make_pair: MakePair, emu: DashScopeEmulator, thinking: bool
) -> None:
    reply = Reply(reasoning="Both colours." if thinking else "", tool_calls=PARALLEL, chunk_size=6, request_id=RID)
    enqueue_for_both(emu, reply, reply)
    pair = make_pair(enable_thinking=thinking)
    chats: dict[str, ChatResponse] = {}
    streams: dict[str, list[ChatResponse]] = {}
    for p in PROTOCOLS:
        chats[p] = pair[p].chat_with_tools([COUNT], user_msg="Count.", allow_parallel_tool_calls=True)
        streams[p] = list(pair[p].stream_chat_with_tools([COUNT], user_msg="Count.", allow_parallel_tool_calls=True))
    assert_routes(emu, 2)
    assert neutral(chats["dashscope"], "dashscope") == neutral(chats["openai"], "openai")
    assert [neutral(c, "dashscope") for c in streams["dashscope"]] == [neutral(c, "openai") for c in streams["openai"]]
    selections = {
        p: [pair[p].get_tool_calls_from_response(c, error_on_no_tool_call=False) for c in streams[p]] for p in PROTOCOLS
    }
    assert selections["dashscope"] == selections["openai"]
    final = pair["dashscope"].get_tool_calls_from_response(chats["dashscope"])
    assert [(s.tool_id, s.tool_name, s.tool_kwargs) for s in final] == [
        ("c_red", "count_dots", {"color": "red"}),
        ("c_blue", "count_dots", {"color": "blue"}),
    ]


# -- errors ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reply", "error", "codes"),
    [
        (
            ErrorReply(429, "Requests rate limit exceeded.", code="limit_requests", request_id=RID),
            core.RateLimitError,
            ("limit_requests", "Throttling.RateQuota"),
        ),
        (
            ErrorReply(400, "Range of input length should be [1, 129024]", request_id=RID),
            core.ContextOverflowError,
            ("invalid_parameter_error", "InvalidParameter"),
        ),
    ],
)
@pytest.mark.parametrize("call", ["chat", "stream_chat"])
def test_errors_are_the_same(
    make_pair: MakePair,
    emu: DashScopeEmulator,
    reply: ErrorReply,
    error: type[core.QwenVLError],
    codes: tuple[str, str],
    call: str,
) -> None:
    enqueue_for_both(emu, reply)
    pair = make_pair("qvq-max")
    raised: dict[str, core.QwenVLError] = {}
    for p in PROTOCOLS:
        with pytest.raises(error) as info:
            pair[p].chat(TEXT_Q) if call == "chat" else list(pair[p].stream_chat(TEXT_Q))
        raised[p] = info.value
    assert_same_error(raised, reply.status, reply.message, RID, codes)


def test_a_mid_stream_error_keeps_the_same_chunks_and_partial(make_pair: MakePair, emu: DashScopeEmulator) -> None:
    message = "Output data may contain inappropriate content."
    # `after_chunks` counts data events: the compat stream opens with a role-only chunk.
    emu.enqueue(
        Reply(reasoning="abcd", text="efgh", chunk_size=2, fault=ErrorFrame(4, message), request_id=RID),
        Reply(reasoning="abcd", text="efgh", chunk_size=2, fault=ErrorFrame(3, message), request_id=RID),
    )
    pair = make_pair("qvq-max")
    received: dict[str, list[ChatResponse]] = {p: [] for p in PROTOCOLS}
    raised: dict[str, Any] = {}
    for p in PROTOCOLS:
        with pytest.raises(core.StreamError) as info:
            received[p].extend(pair[p].stream_chat(TEXT_Q))
        raised[p] = info.value
    assert received["dashscope"] == received["openai"]
    assert [(c.additional_kwargs.get("thinking_delta"), c.delta) for c in received["openai"]] == [
        ("ab", ""),
        ("cd", ""),
        (None, "ef"),
    ]
    assert [(e.partial.reasoning, e.partial.text, e.request_id) for e in raised.values()] == [("abcd", "ef", RID)] * 2


# -- agents and structured output ------------------------------------------------------------------


async def test_function_agent_with_a_parallel_round_gives_the_same_events(
    make_pair: MakePair, emu: DashScopeEmulator
) -> None:
    enqueue_for_both(
        emu,
        Reply(reasoning=["I need ", "both counts."], tool_calls=PARALLEL, request_id="round-1"),
        Reply(
            reasoning="Now add.",
            tool_calls=[ToolCallReply(name="add", arguments='{"a": 3, "b": 2}', id="c_add")],
            request_id="round-2",
        ),
        Reply(reasoning="Done.", text=["There are ", "5 dots."], request_id="answer"),
    )
    pair = make_pair(enable_thinking=True)
    events: dict[str, list[Any]] = {}
    results: dict[str, Any] = {}
    for p in PROTOCOLS:
        agent = FunctionAgent(tools=[count_dots, add], llm=pair[p], system_prompt="Count carefully.")
        handler = agent.run(user_msg="How many dots?")
        events[p] = [(type(e).__name__, neutral_raw(e.model_dump(), p)) async for e in handler.stream_events()]
        result: Any = await handler
        results[p] = neutral_raw(result.model_dump(), p)
    assert_routes(emu, 3)
    # The two calls of the parallel round run concurrently, so their ToolCall / ToolCallResult
    # events may interleave either way: those are compared as a sorted list, the rest in order.
    tool_kinds = ("ToolCall", "ToolCallResult")
    for p in PROTOCOLS:
        assert sum(kind in tool_kinds for kind, _ in events[p]) == 6
    ordered = {p: [e for e in events[p] if e[0] not in tool_kinds] for p in PROTOCOLS}
    tools = {p: sorted((e for e in events[p] if e[0] in tool_kinds), key=repr) for p in PROTOCOLS}
    assert ordered["dashscope"] == ordered["openai"]
    assert tools["dashscope"] == tools["openai"]
    assert results["dashscope"] == results["openai"]
    assert results["dashscope"]["response"]["blocks"][1] == {"block_type": "text", "text": "There are 5 dots."}
    assert [(t["tool_name"], t["tool_kwargs"]) for t in results["openai"]["tool_calls"]] == [
        ("count_dots", {"color": "red"}),
        ("count_dots", {"color": "blue"}),
        ("add", {"a": 3, "b": 2}),
    ]


class Scene(BaseModel):
    """A scene description."""

    objects: list[str]
    count: int


PROMPT = PromptTemplate("Describe the {thing}.")
SCENE = Scene(objects=["dot", "line"], count=2)
ARGS = ['{"objects": ["dot"', ', "line"], ', '"count": 2}']


@pytest.mark.parametrize(
    ("model", "fields", "reply"),
    [
        pytest.param("qwen3-vl-plus", {}, Reply(tool_calls=[ToolCallReply("Scene", ARGS, id="c1")]), id="hybrid-off"),
        pytest.param(
            "qwen3-vl-plus",
            {"enable_thinking": True},
            Reply(tool_calls=[ToolCallReply("Scene", ARGS, id="c1")]),
            id="hybrid-on",
        ),
        pytest.param(
            "qwen3-vl-8b-thinking",
            {},
            Reply(reasoning="Two things.", tool_calls=[ToolCallReply("Scene", ARGS, id="c1")]),
            id="thinking-only",
        ),
        pytest.param("qvq-max", {}, Reply(reasoning="List them.", text=ARGS), id="qvq-text"),
    ],
)
def test_structured_predict_gives_the_same_objects(
    make_pair: MakePair, emu: DashScopeEmulator, model: str, fields: dict[str, Any], reply: Reply
) -> None:
    enqueue_for_both(emu, reply, reply, reply)
    pair = make_pair(model, **fields)
    predicted: dict[str, Any] = {}
    partials: dict[str, list[Any]] = {}
    structured: dict[str, ChatResponse] = {}
    for p in PROTOCOLS:
        predicted[p] = pair[p].structured_predict(Scene, PROMPT, thing="image")
        # Partial objects are of a class made per call: compare their fields.
        stream = pair[p].stream_structured_predict(Scene, PROMPT, thing="image")
        partials[p] = [partial.model_dump() for partial in stream]
        structured[p] = pair[p].as_structured_llm(Scene).chat([ChatMessage(role="user", content="Describe it.")])
    assert_routes(emu, 3)
    assert predicted == {"openai": SCENE, "dashscope": SCENE}
    assert partials["dashscope"] == partials["openai"]
    assert partials["openai"][-1] == SCENE.model_dump()
    assert neutral(structured["dashscope"], "dashscope") == neutral(structured["openai"], "openai")
    assert structured["openai"].raw == SCENE
