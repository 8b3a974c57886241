"""The least work that reads a stream: SSE `data:` lines → (reasoning, text, usage) with `json.loads`.

Shared by the raw floors and the framework floors, so the framework floors cost exactly the raw
floor plus the framework. Usage is normalised to `{"input_tokens", "output_tokens", "total_tokens"}`.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator
from typing import Any

from _harness import MODEL, PROMPT, Outcome, Server

__all__ = [
    "Delta",
    "acompat_deltas",
    "anative_deltas",
    "compat_body",
    "compat_deltas",
    "compat_request",
    "consume_deltas",
    "native_deltas",
    "native_request",
]

NATIVE_PATH = "/services/aigc/multimodal-generation/generation"

Delta = tuple[str | None, str | None, dict[str, int] | None]
"""One chunk's reasoning piece, answer piece, and (on the last one) the usage."""


def compat_body() -> dict[str, Any]:
    return {
        "model": MODEL,
        "messages": [{"role": "user", "content": PROMPT}],
        "stream": True,
        "stream_options": {"include_usage": True},
    }


def compat_request(server: Server) -> tuple[str, dict[str, str], dict[str, Any]]:
    """URL, headers and body of the compat streaming request every raw contender sends."""
    headers = {"Authorization": f"Bearer {server.api_key}"}
    return server.base_url + "/chat/completions", headers, compat_body()


def native_request(server: Server) -> tuple[str, dict[str, str], dict[str, Any]]:
    headers = {"Authorization": f"Bearer {server.api_key}", "X-DashScope-SSE": "enable", "Accept": "text/event-stream"}
    body = {
        "model": MODEL,
        "input": {"messages": [{"role": "user", "content": [{"text": PROMPT}]}]},
        "parameters": {"incremental_output": True},
    }
    return server.native_base_url + NATIVE_PATH, headers, body


def _compat_usage(usage: dict[str, Any]) -> dict[str, int]:
    return {
        "input_tokens": usage["prompt_tokens"],
        "output_tokens": usage["completion_tokens"],
        "total_tokens": usage["total_tokens"],
    }


def compat_deltas(lines: Iterable[str]) -> Iterator[Delta]:
    loads = json.loads
    for line in lines:
        if not line.startswith("data:"):
            continue
        data = line[5:]  # json.loads skips the space after the colon
        if len(data) < 10 and data.strip() == "[DONE]":
            return
        chunk = loads(data)
        choices = chunk["choices"]
        if choices:
            delta = choices[0]["delta"]
            yield delta.get("reasoning_content"), delta.get("content"), None
        usage = chunk.get("usage")
        if usage:
            yield None, None, _compat_usage(usage)


async def acompat_deltas(lines: AsyncIterable[str]) -> AsyncIterator[Delta]:
    loads = json.loads
    async for line in lines:
        if not line.startswith("data:"):
            continue
        data = line[5:]  # json.loads skips the space after the colon
        if len(data) < 10 and data.strip() == "[DONE]":
            return
        chunk = loads(data)
        choices = chunk["choices"]
        if choices:
            delta = choices[0]["delta"]
            yield delta.get("reasoning_content"), delta.get("content"), None
        usage = chunk.get("usage")
        if usage:
            yield None, None, _compat_usage(usage)


def _native_delta(line: str) -> tuple[Delta, bool]:
    """One native `data:` line → its delta, and whether it is the finishing event (with the usage)."""
    payload = json.loads(line[5:])
    choice = payload["output"]["choices"][0]
    message = choice["message"]
    content = message.get("content")
    text = "".join(part["text"] for part in content if "text" in part) if isinstance(content, list) else content
    finished = choice.get("finish_reason") not in (None, "null")
    usage = payload.get("usage") if finished else None
    normalised = None
    if usage:
        normalised = {k: usage[k] for k in ("input_tokens", "output_tokens", "total_tokens")}
    return (message.get("reasoning_content"), text or None, normalised), finished


def native_deltas(lines: Iterable[str]) -> Iterator[Delta]:
    for line in lines:
        if line.startswith("data:"):
            delta, finished = _native_delta(line)
            yield delta
            if finished:
                return


async def anative_deltas(lines: AsyncIterable[str]) -> AsyncIterator[Delta]:
    async for line in lines:
        if line.startswith("data:"):
            delta, finished = _native_delta(line)
            yield delta
            if finished:
                return


def consume_deltas(deltas: Iterable[Delta], start: float | None = None) -> Outcome:
    reasoning_chars = answer_chars = items = 0
    tokens = first = None
    start = time.perf_counter() if start is None else start
    for reasoning, text, usage in deltas:
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
