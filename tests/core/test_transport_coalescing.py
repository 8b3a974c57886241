"""Coalescing: the deltas of one kind that arrive in one network read become one event.

Exact merges of `coalesce`, the decoder feeding a whole read vs. event by event, the client in
flood mode (many events per read) and paced mode (one event per read, unchanged, and the first one
out before the second is written), the setting off, and both adapters building the same message
either way. The property test over random re-chunkings is in `test_fuzz.py`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest
from langchain_core.messages import HumanMessage
from llama_index.core.base.llms.types import ChatMessage

from langchain_qwen_vl import ChatQwenVL
from llama_index_qwen_vl import QwenVL
from qwen_vl_core import (
    ChatRequest,
    Message,
    QwenVLClient,
    ReasoningDelta,
    StreamEnd,
    TextDelta,
    TextPart,
    ToolCallDelta,
    Usage,
    UsageUpdate,
)
from qwen_vl_core.decoder import StreamDecoder, coalesce
from qwen_vl_core.parse_compat import CompatStreamParser
from qwen_vl_core.testing import DashScopeEmulator, Reply, ToolCallReply

PROTOCOLS = pytest.mark.parametrize("protocol", ["openai", "dashscope"])
USAGE = UsageUpdate(Usage(1, 2, 3))
END = StreamEnd("stop")


def test_runs_of_one_kind_are_merged_in_order() -> None:
    events = [
        ReasoningDelta("a"),
        ReasoningDelta("b"),
        TextDelta("c"),
        TextDelta("d"),
        TextDelta("e"),
        ReasoningDelta("f"),
        USAGE,
        TextDelta("g"),
        END,
    ]
    assert coalesce(events) == [
        ReasoningDelta("ab"),
        TextDelta("cde"),
        ReasoningDelta("f"),
        USAGE,
        TextDelta("g"),
        END,
    ]


def test_a_lone_event_is_passed_on_as_it_is() -> None:
    lone = ReasoningDelta("only")
    merged = coalesce([lone, USAGE, TextDelta("t"), END])
    assert merged[0] is lone
    assert merged == [lone, USAGE, TextDelta("t"), END]


def test_tool_call_fragments_merge_only_within_one_call() -> None:
    events = [
        ToolCallDelta(0, "call_a", "get_weather", '{"ci'),
        ToolCallDelta(0, None, None, 'ty": '),
        ToolCallDelta(0, None, None, '"Paris"}'),
        ToolCallDelta(1, "call_b", "get_time", "{"),  # a new call: a new event
        ToolCallDelta(1, None, None, "}"),
        ToolCallDelta(0, None, None, ""),  # back to call 0 (interleaved parallel calls): not merged
        ToolCallDelta(0, "call_c", None, "{}"),  # an id of its own starts a new event
    ]
    assert coalesce(events) == [
        ToolCallDelta(0, "call_a", "get_weather", '{"city": "Paris"}'),
        ToolCallDelta(1, "call_b", "get_time", "{}"),
        ToolCallDelta(0, None, None, ""),
        ToolCallDelta(0, "call_c", None, "{}"),
    ]


def chunk(reasoning: str | None = None, content: str | None = None) -> str:
    import json

    delta = {"reasoning_content": reasoning, "content": content}
    return "data: " + json.dumps({"id": "chatcmpl-1", "model": "m", "choices": [{"index": 0, "delta": delta}]}) + "\n\n"


WIRE = [chunk("thin"), chunk("king"), chunk(None, "an"), chunk(None, "swer"), chunk("again")]


def test_one_read_of_many_events_gives_one_event_per_run() -> None:
    decoder = StreamDecoder(CompatStreamParser("rid"), coalesce=True)
    assert list(decoder.feed("".join(WIRE))) == [
        ReasoningDelta("thinking"),
        TextDelta("answer"),
        ReasoningDelta("again"),
    ]
    partial = decoder.accumulator.partial()
    assert (partial.reasoning, partial.text) == ("thinkingagain", "answer")


def test_one_event_per_read_is_unchanged() -> None:
    decoder = StreamDecoder(CompatStreamParser("rid"), coalesce=True)
    events = [event for piece in WIRE for event in decoder.feed(piece)]
    assert events == [
        ReasoningDelta("thin"),
        ReasoningDelta("king"),
        TextDelta("an"),
        TextDelta("swer"),
        ReasoningDelta("again"),
    ]


def test_the_decoder_does_not_coalesce_unless_asked() -> None:
    decoder = StreamDecoder(CompatStreamParser("rid"))
    assert len(list(decoder.feed("".join(WIRE)))) == 5


# -- through the client --------------------------------------------------------------------------------


@pytest.fixture
def emu() -> Iterator[DashScopeEmulator]:
    with DashScopeEmulator() as emulator:
        yield emulator


def client_for(emu: DashScopeEmulator, protocol: str, **options: Any) -> QwenVLClient:
    url = emu.base_url if protocol == "openai" else emu.native_base_url
    return QwenVLClient(protocol=protocol, base_url=url, api_key=emu.api_key, max_retries=0, **options)  # type: ignore[arg-type]


def request() -> ChatRequest:
    return ChatRequest(model="qvq-max", messages=(Message("user", (TextPart("hi"),)),))


PIECES = [f"r{n:03d} " for n in range(300)]
TOOL_PIECES = ['{"city": ', '"Pa', "ris", '"}']


def flood(emu: DashScopeEmulator) -> None:
    emu.enqueue(Reply(reasoning=PIECES, text=["an", "swer"], request_id="rid"))


@PROTOCOLS
def test_a_flood_arrives_in_far_fewer_events_with_the_same_text(emu, protocol) -> None:
    flood(emu)
    flood(emu)
    on, off = client_for(emu, protocol), client_for(emu, protocol, coalesce_deltas=False)
    try:
        merged_stream, plain_stream = on.stream(request()), off.stream(request())
        merged, plain = list(merged_stream), list(plain_stream)
    finally:
        on.close()
        off.close()
    assert [type(e) for e in plain].count(ReasoningDelta) == 300  # one event per server event
    reasoning_events = [e for e in merged if type(e) is ReasoningDelta]
    assert len(reasoning_events) < 30  # 300 events of ~200 bytes come in a few 64 KiB reads
    assert "".join(e.text for e in reasoning_events) == "".join(PIECES)
    assert merged_stream.result() == plain_stream.result()
    assert type(merged[-1]) is StreamEnd


@PROTOCOLS
def test_tool_call_arguments_are_merged_per_call(emu, protocol) -> None:
    calls = [ToolCallReply("get_weather", TOOL_PIECES, id="call_1"), ToolCallReply("get_time", ["{", "}"], id="call_2")]
    emu.enqueue(Reply(tool_calls=calls, request_id="rid"))
    client = client_for(emu, protocol)
    try:
        stream = client.stream(ChatRequest(model="qwen3-vl-plus", messages=(Message("user", (TextPart("hi"),)),)))
        events = [e for e in stream if type(e) is ToolCallDelta]
        result = stream.result()
    finally:
        client.close()
    # The whole reply is one read: each call's fragments become one event.
    assert events == [
        ToolCallDelta(0, "call_1", "get_weather", '{"city": "Paris"}'),
        ToolCallDelta(1, "call_2", "get_time", "{}"),
    ]
    assert [(c.name, c.args) for c in result.tool_calls] == [("get_weather", {"city": "Paris"}), ("get_time", {})]


@PROTOCOLS
@pytest.mark.parametrize("mode", ["sync", "async"])
def test_paced_events_come_one_by_one_without_waiting(emu, protocol, mode) -> None:
    # Paced mode: each event is its own write, 0.3 s after the previous one.
    emu.enqueue(Reply(reasoning=["a", "b", "c"], text="d", delay=0.3))
    client = client_for(emu, protocol)
    arrivals: list[tuple[Any, float]] = []

    async def run() -> None:
        try:
            start = time.perf_counter()
            async for event in client.astream(request()):
                arrivals.append((event, time.perf_counter() - start))
        finally:
            await client.aclose()

    try:
        if mode == "sync":
            start = time.perf_counter()
            for event in client.stream(request()):
                arrivals.append((event, time.perf_counter() - start))
        else:
            asyncio.run(run())
    finally:
        client.close()
    deltas = [(e, t) for e, t in arrivals if type(e) in (ReasoningDelta, TextDelta)]
    assert [e for e, _ in deltas] == [ReasoningDelta("a"), ReasoningDelta("b"), ReasoningDelta("c"), TextDelta("d")]
    first = deltas[0][1]
    assert first < deltas[1][1] - 0.2  # the first went out before the second was written
    assert first < 1.0  # its own write's delay (compat: after the role chunk's), not the whole stream's


# -- both adapters: the same message either way ----------------------------------------------------


def where(emu: DashScopeEmulator, protocol: str) -> dict[str, Any]:
    url = emu.base_url if protocol == "openai" else emu.native_base_url
    return {"base_url": url, "api_key": emu.api_key, "protocol": protocol, "max_retries": 0, "model": "qvq-max"}


@PROTOCOLS
def test_langchain_chunks_add_up_to_the_same_message(emu, protocol) -> None:
    flood(emu)
    flood(emu)
    on, off = ChatQwenVL(**where(emu, protocol)), ChatQwenVL(**where(emu, protocol), coalesce_deltas=False)
    try:
        merged, plain = list(on.stream([HumanMessage("hi")])), list(off.stream([HumanMessage("hi")]))
    finally:
        on.close()
        off.close()
    assert len(plain) == 300 + 2 + 1  # a chunk per reasoning and answer event, and the last one
    assert len(merged) < 40
    total_merged, total_plain = merged[0], plain[0]
    for c in merged[1:]:
        total_merged += c
    for c in plain[1:]:
        total_plain += c
    assert total_merged.additional_kwargs["reasoning_content"] == "".join(PIECES)
    assert total_merged.content == "answer"
    assert (total_merged.usage_metadata, total_merged.response_metadata) == (
        total_plain.usage_metadata,
        total_plain.response_metadata,
    )


@PROTOCOLS
def test_llama_index_responses_end_in_the_same_message(emu, protocol) -> None:
    flood(emu)
    flood(emu)
    on, off = QwenVL(**where(emu, protocol)), QwenVL(**where(emu, protocol), coalesce_deltas=False)
    messages = [ChatMessage(role="user", content="hi")]
    try:
        merged, plain = list(on.stream_chat(messages)), list(off.stream_chat(messages))
    finally:
        on.close()
        off.close()
    assert len(plain) == 300 + 2 + 1
    assert len(merged) < 40
    thinking = "".join(r.additional_kwargs.get("thinking_delta", "") for r in merged)
    assert thinking == "".join(PIECES)
    assert "".join(r.delta or "" for r in merged) == "answer"
    assert merged[-1].message == plain[-1].message
    assert merged[-1].additional_kwargs == plain[-1].additional_kwargs
