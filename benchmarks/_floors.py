"""The "core" group: the raw httpx floor, the openai SDK, and `QwenVLClient.stream` without a framework."""

from __future__ import annotations

import time
from typing import Any

from _harness import MODEL, PROMPT, AsyncRun, Contender, Outcome, Server, SyncRun
from _wire import (
    acompat_deltas,
    anative_deltas,
    compat_deltas,
    compat_request,
    consume_deltas,
    native_deltas,
    native_request,
)

__all__ = ["CORE_CONTENDERS", "RAW_FLOOR"]

_TIMEOUT = 600.0
_COMPAT_SENT = f"{MODEL}, stream_options.include_usage"


# -- raw httpx: POST, iter_lines, json.loads per data line ---------------------------------------


def _raw(server: Server, native: bool = False) -> SyncRun:
    import httpx

    url, headers, body = native_request(server) if native else compat_request(server)
    deltas = native_deltas if native else compat_deltas
    client = httpx.Client(timeout=_TIMEOUT)

    def run() -> Outcome:
        start = time.perf_counter()
        with client.stream("POST", url, json=body, headers=headers) as response:
            response.raise_for_status()
            return consume_deltas(deltas(response.iter_lines()), start)

    return run


def _araw(server: Server, native: bool = False) -> AsyncRun:
    import httpx

    url, headers, body = native_request(server) if native else compat_request(server)
    deltas = anative_deltas if native else acompat_deltas
    client = httpx.AsyncClient(timeout=_TIMEOUT, limits=httpx.Limits(max_connections=None))

    async def run() -> Outcome:
        reasoning_chars = answer_chars = items = 0
        tokens = first = None
        start = time.perf_counter()
        async with client.stream("POST", url, json=body, headers=headers) as response:
            response.raise_for_status()
            async for reasoning, text, usage in deltas(response.aiter_lines()):
                if first is None:
                    first = time.perf_counter() - start
                items += 1
                if reasoning:
                    reasoning_chars += len(reasoning)
                if text:
                    answer_chars += len(text)
                if usage:
                    tokens = usage["output_tokens"]
        return Outcome(reasoning_chars, answer_chars, tokens, items, first)

    return run


# -- the openai SDK: typed chunks, reasoning from model_extra -------------------------------------


def _sdk_outcome_step(chunk: Any) -> tuple[str | None, str | None, int | None]:
    choices = chunk.choices
    usage = chunk.usage
    tokens = usage.completion_tokens if usage is not None else None
    if not choices:
        return None, None, tokens
    delta = choices[0].delta
    extra = delta.model_extra
    return (extra.get("reasoning_content") if extra else None), delta.content, tokens


def _openai_sdk(server: Server) -> SyncRun:
    import openai

    client = openai.OpenAI(base_url=server.base_url, api_key=server.api_key, max_retries=0)
    messages = [{"role": "user", "content": PROMPT}]

    def run() -> Outcome:
        reasoning_chars = answer_chars = items = 0
        tokens = first = None
        start = time.perf_counter()
        stream = client.chat.completions.create(
            model=MODEL, messages=messages, stream=True, stream_options={"include_usage": True}
        )
        for chunk in stream:
            if first is None:
                first = time.perf_counter() - start
            items += 1
            reasoning, text, usage_tokens = _sdk_outcome_step(chunk)
            if reasoning:
                reasoning_chars += len(reasoning)
            if text:
                answer_chars += len(text)
            if usage_tokens is not None:
                tokens = usage_tokens
        return Outcome(reasoning_chars, answer_chars, tokens, items, first)

    return run


def _aopenai_sdk(server: Server) -> AsyncRun:
    import openai

    client = openai.AsyncOpenAI(base_url=server.base_url, api_key=server.api_key, max_retries=0)
    messages = [{"role": "user", "content": PROMPT}]

    async def run() -> Outcome:
        reasoning_chars = answer_chars = items = 0
        tokens = first = None
        start = time.perf_counter()
        stream = await client.chat.completions.create(
            model=MODEL, messages=messages, stream=True, stream_options={"include_usage": True}
        )
        async for chunk in stream:
            if first is None:
                first = time.perf_counter() - start
            items += 1
            reasoning, text, usage_tokens = _sdk_outcome_step(chunk)
            if reasoning:
                reasoning_chars += len(reasoning)
            if text:
                answer_chars += len(text)
            if usage_tokens is not None:
                tokens = usage_tokens
        return Outcome(reasoning_chars, answer_chars, tokens, items, first)

    return run


# -- qwen_vl_core.QwenVLClient: neutral events, no framework --------------------------------------


def _core_client(server: Server, native: bool) -> tuple[Any, Any]:
    from qwen_vl_core import ChatRequest, Message, QwenVLClient, TextPart

    if native:
        client = QwenVLClient(
            base_url=server.native_base_url, api_key=server.api_key, protocol="dashscope", max_retries=0
        )
    else:
        client = QwenVLClient(base_url=server.base_url, api_key=server.api_key, max_retries=0)
    request = ChatRequest(model=MODEL, messages=(Message(role="user", content=(TextPart(PROMPT),)),))
    return client, request


def _core(server: Server, native: bool = False) -> SyncRun:
    from qwen_vl_core import ReasoningDelta, TextDelta, UsageUpdate

    client, request = _core_client(server, native)

    def run() -> Outcome:
        reasoning_chars = answer_chars = items = 0
        tokens = first = None
        start = time.perf_counter()
        for event in client.stream(request):
            if first is None:
                first = time.perf_counter() - start
            items += 1
            kind = type(event)
            if kind is ReasoningDelta:
                reasoning_chars += len(event.text)
            elif kind is TextDelta:
                answer_chars += len(event.text)
            elif kind is UsageUpdate:
                tokens = event.usage.output_tokens
        return Outcome(reasoning_chars, answer_chars, tokens, items, first)

    return run


def _acore(server: Server, native: bool = False) -> AsyncRun:
    from qwen_vl_core import ReasoningDelta, TextDelta, UsageUpdate

    client, request = _core_client(server, native)

    async def run() -> Outcome:
        reasoning_chars = answer_chars = items = 0
        tokens = first = None
        start = time.perf_counter()
        async for event in client.astream(request):
            if first is None:
                first = time.perf_counter() - start
            items += 1
            kind = type(event)
            if kind is ReasoningDelta:
                reasoning_chars += len(event.text)
            elif kind is TextDelta:
                answer_chars += len(event.text)
            elif kind is UsageUpdate:
                tokens = event.usage.output_tokens
        return Outcome(reasoning_chars, answer_chars, tokens, items, first)

    return run


RAW_FLOOR = Contender(
    "raw httpx (floor)",
    "core",
    _COMPAT_SENT,
    build=_raw,
    abuild=_araw,
    floor="raw",
    async_default=True,
)

CORE_CONTENDERS = [
    RAW_FLOOR,
    Contender("openai SDK", "core", _COMPAT_SENT, build=_openai_sdk, abuild=_aopenai_sdk),
    Contender(
        "QwenVLClient.stream (core)",
        "core",
        f"{MODEL} (include_usage by the core)",
        build=_core,
        abuild=_acore,
        async_default=True,
    ),
    Contender(
        "raw httpx native",
        "core",
        f"{MODEL}, native, incremental_output",
        build=lambda s: _raw(s, native=True),
        abuild=lambda s: _araw(s, native=True),
        native=True,
    ),
    Contender(
        "QwenVLClient.stream protocol=dashscope",
        "core",
        f"{MODEL}, native",
        build=lambda s: _core(s, native=True),
        abuild=lambda s: _acore(s, native=True),
        native=True,
    ),
]
