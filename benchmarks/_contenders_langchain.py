"""LangChain rows: the framework floor, the peers, and `ChatQwenVL`, all consumed through `.stream()`.

Every import of a peer happens inside its builder, so a missing package only skips its row.
"""

from __future__ import annotations

import importlib
import time
import warnings
from collections.abc import AsyncIterable, Callable, Iterable
from typing import Any

from _harness import MODEL, PROMPT, AsyncRun, Contender, Outcome, Server, Skip, SyncRun

__all__ = ["LANGCHAIN_CONTENDERS"]


def _content_chars(content: Any) -> int:
    if isinstance(content, str):
        return len(content)
    # ChatTongyi's VL content is a list of `{"text": ...}` blocks without a type.
    return sum(len(b) if isinstance(b, str) else len(b.get("text") or "") for b in content)


def _consume(chunks: Iterable[Any]) -> Outcome:
    reasoning_chars = answer_chars = items = 0
    tokens = first = None
    start = time.perf_counter()
    for chunk in chunks:
        if first is None:
            first = time.perf_counter() - start
        items += 1
        reasoning = chunk.additional_kwargs.get("reasoning_content")
        if reasoning:
            reasoning_chars += len(reasoning)
        if chunk.content:
            answer_chars += _content_chars(chunk.content)
        if chunk.usage_metadata:
            tokens = chunk.usage_metadata["output_tokens"]
    return Outcome(reasoning_chars, answer_chars, tokens, items, first)


async def _aconsume(chunks: AsyncIterable[Any]) -> Outcome:
    reasoning_chars = answer_chars = items = 0
    tokens = first = None
    start = time.perf_counter()
    async for chunk in chunks:
        if first is None:
            first = time.perf_counter() - start
        items += 1
        reasoning = chunk.additional_kwargs.get("reasoning_content")
        if reasoning:
            reasoning_chars += len(reasoning)
        if chunk.content:
            answer_chars += _content_chars(chunk.content)
        if chunk.usage_metadata:
            tokens = chunk.usage_metadata["output_tokens"]
    return Outcome(reasoning_chars, answer_chars, tokens, items, first)


def _sync(make: Callable[[Server], Any]) -> Callable[[Server], SyncRun]:
    def build(server: Server) -> SyncRun:
        from langchain_core.messages import HumanMessage

        model = make(server)
        messages = [HumanMessage(PROMPT)]
        return lambda: _consume(model.stream(messages))

    return build


def _async(make: Callable[[Server], Any]) -> Callable[[Server], AsyncRun]:
    def build(server: Server) -> AsyncRun:
        from langchain_core.messages import HumanMessage

        model = make(server)
        messages = [HumanMessage(PROMPT)]
        return lambda: _aconsume(model.astream(messages))

    return build


def _module(module: str, package: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise Skip(f"{package} is not installed ({exc})") from exc


def _import(module: str, name: str, package: str) -> Any:
    return getattr(_module(module, package), name)


# -- the models ------------------------------------------------------------------------------------


def _floor(server: Server) -> Any:
    try:
        from _floor_langchain import RawHttpxChatModel
    except ImportError as exc:
        raise Skip(f"langchain-core is not installed ({exc})") from exc
    return RawHttpxChatModel(base_url=server.base_url, api_key=server.api_key)


def _chat_openai(server: Server) -> Any:
    cls = _import("langchain_openai", "ChatOpenAI", "langchain-openai")
    return cls(model=MODEL, base_url=server.base_url, api_key=server.api_key, stream_usage=True, max_retries=0)


def _chat_deepseek(server: Server) -> Any:
    cls = _import("langchain_deepseek", "ChatDeepSeek", "langchain-deepseek")
    return cls(model=MODEL, api_base=server.base_url, api_key=server.api_key, stream_usage=True, max_retries=0)


def _chat_qwen(server: Server) -> Any:
    cls = _import("langchain_qwq", "ChatQwen", "langchain-qwq")
    return cls(model=MODEL, api_base=server.base_url, api_key=server.api_key, max_retries=0)


def _chat_qwen_vl(server: Server) -> Any:
    from langchain_qwen_vl import ChatQwenVL

    return ChatQwenVL(model=MODEL, base_url=server.base_url, api_key=server.api_key, max_retries=0)


def _chat_qwen_vl_native(server: Server) -> Any:
    from langchain_qwen_vl import ChatQwenVL

    if "protocol" not in ChatQwenVL.model_fields:
        raise Skip("ChatQwenVL has no `protocol` field yet")
    return ChatQwenVL(
        model=MODEL, base_url=server.native_base_url, api_key=server.api_key, protocol="dashscope", max_retries=0
    )


_TONGYI_MODEL = "qwen3-vl-plus"  # ChatTongyi sends qvq-* to the text endpoint (peer doc B11); "vl" routes right


def _chat_tongyi(server: Server) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # langchain-community announces its sunset
        cls = _import("langchain_community.chat_models", "ChatTongyi", "langchain-community")
    dashscope = _module("dashscope", "dashscope")
    dashscope.base_http_api_url = server.native_base_url  # the SDK's base URL is module state
    # streaming=True: without it ChatTongyi.stream() falls back to one invoke (peer doc B10).
    return cls(
        model=_TONGYI_MODEL,
        dashscope_api_key=server.api_key,
        streaming=True,
        model_kwargs={"enable_thinking": True, "incremental_output": True},
    )


def _row(name: str, sent: str, make: Callable[[Server], Any], **options: Any) -> Contender:
    return Contender(name, "langchain", sent, build=_sync(make), abuild=_async(make), **options)


_USAGE = f"{MODEL}, stream_usage=True"

LANGCHAIN_CONTENDERS = [
    _row(
        "minimal BaseChatModel (framework floor)",
        f"{MODEL}, stream_options.include_usage",
        _floor,
        floor="framework",
        async_default=True,
    ),
    _row("ChatOpenAI", _USAGE, _chat_openai),
    _row("ChatDeepSeek", _USAGE, _chat_deepseek),
    _row("ChatQwen (langchain-qwq)", f"{MODEL} (ChatQwen forces include_usage)", _chat_qwen),
    _row("ChatQwenVL", f"{MODEL} (include_usage by the core)", _chat_qwen_vl, async_default=True),
    _row(
        "ChatQwenVL protocol=dashscope",
        f"{MODEL}, native",
        _chat_qwen_vl_native,
        native=True,
        async_default=True,
    ),
    _row(
        "ChatTongyi (native, dashscope SDK)",
        f"{_TONGYI_MODEL}, enable_thinking, streaming=True",
        _chat_tongyi,
        native=True,
    ),
]
