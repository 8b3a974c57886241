"""Connection reuse: calls in a row share one keep-alive connection, on both protocols, sync and
async, streamed or not, through the core client and both adapters.

After the end of a stream (`[DONE]`, or the native final event) the rest of the body is read,
bounded, so the connection goes back to the pool; a consumer that stops early, or a body that does
not end soon after the end event, gets the connection closed instead (counted by the emulator's
`connections_opened` and the connection number of each recorded request).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from langchain_core.messages import HumanMessage
from llama_index.core.base.llms.types import ChatMessage

from langchain_qwen_vl import ChatQwenVL
from llama_index_qwen_vl import QwenVL
from qwen_vl_core import ChatRequest, Message, QwenVLClient, TextPart
from qwen_vl_core import transport as transport_module
from qwen_vl_core.testing import DashScopeEmulator, Reply, Stall

PROTOCOLS = pytest.mark.parametrize("protocol", ["openai", "dashscope"])
MODES = pytest.mark.parametrize("mode", ["sync", "async"])
CALLS = 8
STREAMED = "qvq-max"  # streaming-only: every call, chat() included, is a stream on the wire
PLAIN = "qwen3-vl-plus"  # thinking off: chat() is one JSON response


@pytest.fixture
def emu() -> Iterator[DashScopeEmulator]:
    with DashScopeEmulator() as emulator:
        yield emulator


def where(emu: DashScopeEmulator, protocol: str) -> dict[str, Any]:
    url = emu.base_url if protocol == "openai" else emu.native_base_url
    return {"base_url": url, "api_key": emu.api_key, "protocol": protocol, "max_retries": 0}


def request(model: str) -> ChatRequest:
    return ChatRequest(model=model, messages=(Message("user", (TextPart("hi"),)),))


def replies(emu: DashScopeEmulator, count: int = CALLS) -> None:
    emu.enqueue(*[Reply(reasoning=f"thinking {n}", text=f"answer {n}", chunk_size=3) for n in range(count)])


def expected_texts(count: int = CALLS) -> list[str]:
    return [f"answer {n}" for n in range(count)]


# -- the core client ---------------------------------------------------------------------------------


def core_sync(client: QwenVLClient, way: str) -> list[str]:
    texts = []
    for _ in range(CALLS):
        if way == "stream":
            stream = client.stream(request(STREAMED))
            for _event in stream:
                pass
            texts.append(stream.result().text)
        else:
            texts.append(client.chat(request(STREAMED if way == "chat-streamed" else PLAIN)).text)
    return texts


async def core_async(client: QwenVLClient, way: str) -> list[str]:
    texts = []
    try:
        for _ in range(CALLS):
            if way == "stream":
                stream = client.astream(request(STREAMED))
                async for _event in stream:
                    pass
                texts.append(stream.result().text)
            else:
                texts.append((await client.achat(request(STREAMED if way == "chat-streamed" else PLAIN))).text)
    finally:
        await client.aclose()
    return texts


@PROTOCOLS
@MODES
@pytest.mark.parametrize("way", ["stream", "chat-streamed", "chat"])
def test_core_calls_in_a_row_use_one_connection(emu, protocol, mode, way) -> None:
    replies(emu)
    client = QwenVLClient(**where(emu, protocol))
    try:
        texts = core_sync(client, way) if mode == "sync" else asyncio.run(core_async(client, way))
    finally:
        client.close()
    assert texts == expected_texts()
    assert [r.connection for r in emu.requests] == [1] * CALLS
    assert emu.connections_opened == 1


# -- the adapters ------------------------------------------------------------------------------------


def langchain_calls(model: ChatQwenVL, mode: str, way: str) -> list[str]:
    messages = [HumanMessage("hi")]

    def text_of(chunks: list[Any]) -> str:
        return "".join(str(c.content) for c in chunks)

    if mode == "sync":
        if way == "stream":
            return [text_of(list(model.stream(messages))) for _ in range(CALLS)]
        return [str(model.invoke(messages).content) for _ in range(CALLS)]

    async def run() -> list[str]:
        out = []
        try:
            for _ in range(CALLS):
                if way == "stream":
                    out.append(text_of([c async for c in model.astream(messages)]))
                else:
                    out.append(str((await model.ainvoke(messages)).content))
        finally:
            await model.aclose()
        return out

    return asyncio.run(run())


def llama_index_calls(llm: QwenVL, mode: str, way: str) -> list[str]:
    messages = [ChatMessage(role="user", content="hi")]
    if mode == "sync":
        if way == "stream":
            return [list(llm.stream_chat(messages))[-1].message.content or "" for _ in range(CALLS)]
        return [llm.chat(messages).message.content or "" for _ in range(CALLS)]

    async def run() -> list[str]:
        out = []
        try:
            for _ in range(CALLS):
                if way == "stream":
                    responses = [r async for r in await llm.astream_chat(messages)]
                    out.append(responses[-1].message.content or "")
                else:
                    out.append((await llm.achat(messages)).message.content or "")
        finally:
            await llm.aclose()
        return out

    return asyncio.run(run())


ADAPTERS: dict[str, tuple[Callable[..., Any], Callable[..., list[str]]]] = {
    "langchain": (ChatQwenVL, langchain_calls),
    "llama_index": (QwenVL, llama_index_calls),
}


@PROTOCOLS
@MODES
@pytest.mark.parametrize("adapter", list(ADAPTERS))
@pytest.mark.parametrize(("way", "model"), [("stream", STREAMED), ("call", STREAMED), ("call", PLAIN)])
def test_adapter_calls_in_a_row_use_one_connection(emu, protocol, mode, adapter, way, model) -> None:
    replies(emu)
    make, calls = ADAPTERS[adapter]
    instance = make(model=model, **where(emu, protocol))
    try:
        texts = calls(instance, mode, way)
    finally:
        instance.close()
    assert texts == expected_texts()
    assert [r.connection for r in emu.requests] == [1] * CALLS
    assert emu.connections_opened == 1


# -- when the connection is closed instead ---------------------------------------------------------


@PROTOCOLS
@MODES
def test_a_consumer_that_stops_early_closes_the_connection(emu, protocol, mode) -> None:
    emu.enqueue(Reply(reasoning="x" * 400, text="done", chunk_size=2), Reply(text="next"))
    client = QwenVLClient(**where(emu, protocol))

    def sync() -> str:
        stream = client.stream(request(STREAMED))
        next(iter(stream))
        stream.close()
        return client.chat(request(PLAIN)).text

    async def run() -> str:
        try:
            stream = client.astream(request(STREAMED))
            await stream.__anext__()
            await stream.aclose()
            return (await client.achat(request(PLAIN))).text
        finally:
            await client.aclose()

    try:
        text = sync() if mode == "sync" else asyncio.run(run())
    finally:
        client.close()
    assert text == "next"
    assert [r.connection for r in emu.requests] == [1, 2]


@PROTOCOLS
@MODES
def test_a_body_that_does_not_end_after_the_end_event_is_closed_in_bounded_time(emu, protocol, mode) -> None:
    # The stall comes after the last event ([DONE], or the native final event), before the body ends.
    emu.enqueue(Reply(text="held", fault=Stall(after_chunks=1_000, seconds=3.0)), Reply(text="next"))
    client = QwenVLClient(**where(emu, protocol))

    async def run() -> tuple[str, float, str]:
        try:
            start = time.perf_counter()
            first = (await client.achat(request(STREAMED))).text
            seconds = time.perf_counter() - start
            return first, seconds, (await client.achat(request(PLAIN))).text
        finally:
            await client.aclose()

    try:
        if mode == "sync":
            start = time.perf_counter()
            first = client.chat(request(STREAMED)).text
            seconds = time.perf_counter() - start
            second = client.chat(request(PLAIN)).text
        else:
            first, seconds, second = asyncio.run(run())
    finally:
        client.close()
    assert (first, second) == ("held", "next")
    assert transport_module.DRAIN_SECONDS <= seconds < 1.5  # the drain bound, not the 3 s stall
    assert [r.connection for r in emu.requests] == [1, 2]


class FakeNetworkStream:
    """What `drain` bounds: a network stream whose reads take the timeout they are given."""

    def __init__(self) -> None:
        self.timeouts: list[float | None] = []

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        self.timeouts.append(timeout)
        return b"x"


class FakeResponse:
    def __init__(self, stream: FakeNetworkStream) -> None:
        self.extensions = {"network_stream": stream}


def test_drain_gives_up_past_its_size_bound() -> None:
    stream = FakeNetworkStream()

    def body() -> Iterator[str]:
        while True:
            stream.read(65_536, 600.0)
            yield "y" * 1_000

    assert transport_module.drain(FakeResponse(stream), body()) is False
    assert len(stream.timeouts) == transport_module.DRAIN_CHARS // 1_000 + 1
    assert all(t is not None and t <= transport_module.DRAIN_SECONDS for t in stream.timeouts)
    assert "read" not in vars(stream)  # the bound is removed afterwards


def test_drain_reads_the_end_of_a_body() -> None:
    stream = FakeNetworkStream()
    assert transport_module.drain(FakeResponse(stream), iter(["\n", ""])) is True
    assert transport_module.drain(object(), iter(["never read"])) is False  # no network stream: close instead


def test_async_drain_gives_up_past_its_size_and_time_bounds() -> None:
    async def endless(size: int, pause: float) -> Any:
        while True:
            await asyncio.sleep(pause)
            yield "z" * size

    async def run() -> tuple[bool, bool, float]:
        too_much = await transport_module.adrain(endless(1_000, 0))
        start = time.perf_counter()
        too_slow = await transport_module.adrain(endless(1, 10.0))
        return too_much, too_slow, time.perf_counter() - start

    too_much, too_slow, seconds = asyncio.run(run())
    assert (too_much, too_slow) == (False, False)
    assert transport_module.DRAIN_SECONDS <= seconds < 1.0
