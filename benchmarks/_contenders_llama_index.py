"""LlamaIndex rows: the framework floor, the peers, and `QwenVL`, consumed through `stream_chat`.

Every import of a peer happens inside its builder, so a missing package only skips its row.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import AsyncIterable, Callable, Iterable
from typing import Any

from _harness import MODEL, PROMPT, AsyncRun, Contender, Outcome, Server, Skip, SyncRun

__all__ = ["LLAMA_INDEX_CONTENDERS"]


def _raw_tokens(raw: Any) -> int | None:
    """Output tokens from a response's `raw` (a dict, an SDK chunk, or a dashscope response)."""
    usage = raw.get("usage") if isinstance(raw, dict) else getattr(raw, "usage", None)
    if not usage:
        return None
    for key in ("completion_tokens", "output_tokens"):
        value = usage.get(key) if hasattr(usage, "get") else getattr(usage, key, None)
        if isinstance(value, int):
            return value
    return None


def _tokens(last: Any) -> int | None:
    """Usage is intact when the last response carries token counts (additional_kwargs, else raw)."""
    if last is None:
        return None
    value = last.additional_kwargs.get("completion_tokens")
    return value if isinstance(value, int) else _raw_tokens(last.raw)


def _consume(responses: Iterable[Any]) -> Outcome:
    reasoning_chars = answer_chars = items = 0
    last = first = None
    start = time.perf_counter()
    for last in responses:
        if first is None:
            first = time.perf_counter() - start
        items += 1
        thinking = last.additional_kwargs.get("thinking_delta")
        if thinking:
            reasoning_chars += len(thinking)
        if last.delta:
            answer_chars += len(last.delta)
    return Outcome(reasoning_chars, answer_chars, _tokens(last), items, first)


async def _aconsume(responses: AsyncIterable[Any]) -> Outcome:
    reasoning_chars = answer_chars = items = 0
    last = first = None
    start = time.perf_counter()
    async for last in responses:
        if first is None:
            first = time.perf_counter() - start
        items += 1
        thinking = last.additional_kwargs.get("thinking_delta")
        if thinking:
            reasoning_chars += len(thinking)
        if last.delta:
            answer_chars += len(last.delta)
    return Outcome(reasoning_chars, answer_chars, _tokens(last), items, first)


def _messages() -> list[Any]:
    from llama_index.core.base.llms.types import ChatMessage

    return [ChatMessage(role="user", content=PROMPT)]


def _sync(make: Callable[[Server], Any]) -> Callable[[Server], SyncRun]:
    def build(server: Server) -> SyncRun:
        llm, messages = make(server), _messages()
        return lambda: _consume(llm.stream_chat(messages))

    return build


def _async(make: Callable[[Server], Any]) -> Callable[[Server], AsyncRun]:
    def build(server: Server) -> AsyncRun:
        llm, messages = make(server), _messages()

        async def run() -> Outcome:
            return await _aconsume(await llm.astream_chat(messages))

        return run

    return build


def _module(module: str, package: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise Skip(f"{package} is not installed ({exc})") from exc


# -- the models ------------------------------------------------------------------------------------


def _floor(server: Server) -> Any:
    _module("llama_index.core", "llama-index-core")
    from _floor_llama_index import RawHttpxLLM

    return RawHttpxLLM(base_url=server.base_url, api_key=server.api_key)


def _openai_like(server: Server) -> Any:
    cls = _module("llama_index.llms.openai_like", "llama-index-llms-openai-like").OpenAILike
    return cls(
        model=MODEL,
        api_base=server.base_url,
        api_key=server.api_key,
        is_chat_model=True,
        max_retries=0,
        additional_kwargs={"stream_options": {"include_usage": True}},
    )


def _dashscope(server: Server) -> Any:
    cls = _module("llama_index.llms.dashscope", "llama-index-llms-dashscope").DashScope
    _module("dashscope", "dashscope").base_http_api_url = server.native_base_url  # module state in the SDK
    return cls(model_name=MODEL, api_key=server.api_key)


def _qwen_vl(server: Server) -> Any:
    from llama_index_qwen_vl import QwenVL

    return QwenVL(model=MODEL, base_url=server.base_url, api_key=server.api_key, max_retries=0)


def _qwen_vl_native(server: Server) -> Any:
    from llama_index_qwen_vl import QwenVL

    if "protocol" not in QwenVL.model_fields:
        raise Skip("QwenVL has no `protocol` field yet")
    return QwenVL(
        model=MODEL, base_url=server.native_base_url, api_key=server.api_key, protocol="dashscope", max_retries=0
    )


def _row(name: str, sent: str, make: Callable[[Server], Any], **options: Any) -> Contender:
    return Contender(name, "llama_index", sent, build=_sync(make), abuild=_async(make), **options)


_USAGE = f"{MODEL}, stream_options.include_usage"

LLAMA_INDEX_CONTENDERS = [
    _row("minimal LLM (framework floor)", _USAGE, _floor, floor="framework", async_default=True),
    _row("OpenAILike", f"{_USAGE}, is_chat_model=True", _openai_like),
    _row(
        "DashScope (llms-dashscope, native)",
        f"{MODEL} via dashscope.Generation (native text endpoint)",
        _dashscope,
        native=True,
    ),
    _row("QwenVL", f"{MODEL} (include_usage by the core)", _qwen_vl, async_default=True),
    _row("QwenVL protocol=dashscope", f"{MODEL}, native", _qwen_vl_native, native=True, async_default=True),
]
