"""Calls in a row: time to first token and total wall time when every new connection costs a handshake.

    python benchmarks/sequential_latency.py [--calls 20 --connection-delay 0.15 --repeat 3]

The emulator runs in a subprocess with `new_connection_delay` (slept once before the first answer on
every new TCP connection: the TCP and TLS round trips to a far region). Each contender makes
`--calls` streamed calls in a row (a short answer, reasoning included) on one client or model, as an
agent or a chain does; the table shows the median time to the first content chunk over all calls,
the total wall time of the row, and the connections the server accepted for it. A client that keeps
its connection pays the delay once per run; one that drops it pays it on every call.
"""

from __future__ import annotations

import argparse
import asyncio
import shlex
import statistics
import subprocess
import sys
import time
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

from _harness import MODEL, PROMPT  # noqa: E402
from _report import machine_info  # noqa: E402
from _spawn import start_server as spawn  # noqa: E402
from _spawn import stop_server  # noqa: E402


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@dataclass
class Result:
    name: str
    first_chunks: list[float] = field(default_factory=list)
    walls: list[float] = field(default_factory=list)
    connections: list[int] = field(default_factory=list)
    error: str | None = None


# -- the contenders: each returns a function making one streamed call, and timing its first chunk ------

Call = Callable[[], float]
"""One streamed call, consumed whole; returns the seconds to its first content chunk."""


def _first(chunks: Iterable[Any], has_content: Callable[[Any], bool], start: float | None = None) -> float:
    start = time.perf_counter() if start is None else start
    first = None
    for chunk in chunks:
        if first is None and has_content(chunk):
            first = time.perf_counter() - start
    if first is None:
        raise RuntimeError("the stream carried no content")
    return first


def _lc_content(chunk: Any) -> bool:
    return bool(chunk.content or chunk.additional_kwargs.get("reasoning_content"))


def chat_qwen_vl(info: dict[str, Any]) -> Call:
    from langchain_core.messages import HumanMessage

    from langchain_qwen_vl import ChatQwenVL

    model = ChatQwenVL(model=MODEL, base_url=info["base_url"], api_key=info["api_key"], max_retries=0)
    return lambda: _first(model.stream([HumanMessage(PROMPT)]), _lc_content)


def qwen_vl(info: dict[str, Any]) -> Call:
    from llama_index.core.base.llms.types import ChatMessage

    from llama_index_qwen_vl import QwenVL

    llm = QwenVL(model=MODEL, base_url=info["base_url"], api_key=info["api_key"], max_retries=0)
    messages = [ChatMessage(role="user", content=PROMPT)]
    return lambda: _first(
        llm.stream_chat(messages), lambda r: bool(r.delta or r.additional_kwargs.get("thinking_delta"))
    )


def core(info: dict[str, Any]) -> Call:
    from qwen_vl_core import ChatRequest, Message, QwenVLClient, ReasoningDelta, TextDelta, TextPart

    client = QwenVLClient(base_url=info["base_url"], api_key=info["api_key"], max_retries=0)
    request = ChatRequest(model=MODEL, messages=(Message("user", (TextPart(PROMPT),)),))
    return lambda: _first(client.stream(request), lambda e: type(e) in (ReasoningDelta, TextDelta))


def core_native(info: dict[str, Any]) -> Call:
    from qwen_vl_core import ChatRequest, Message, QwenVLClient, ReasoningDelta, TextDelta, TextPart

    client = QwenVLClient(
        base_url=info["native_base_url"], api_key=info["api_key"], protocol="dashscope", max_retries=0
    )
    request = ChatRequest(model=MODEL, messages=(Message("user", (TextPart(PROMPT),)),))
    return lambda: _first(client.stream(request), lambda e: type(e) in (ReasoningDelta, TextDelta))


def openai_sdk(info: dict[str, Any]) -> Call:
    import openai

    client = openai.OpenAI(base_url=info["base_url"], api_key=info["api_key"], max_retries=0)

    def has_content(chunk: Any) -> bool:
        if not chunk.choices:
            return False
        delta = chunk.choices[0].delta
        return bool(delta.content or (delta.model_extra or {}).get("reasoning_content"))

    def call() -> float:
        start = time.perf_counter()  # create() returns once the response headers are in
        stream = client.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": PROMPT}], stream=True
        )
        return _first(stream, has_content, start)

    return call


def chat_qwen(info: dict[str, Any]) -> Call:
    from langchain_core.messages import HumanMessage
    from langchain_qwq import ChatQwen

    model = ChatQwen(model=MODEL, api_base=info["base_url"], api_key=info["api_key"], max_retries=0)
    return lambda: _first(model.stream([HumanMessage(PROMPT)]), _lc_content)


def chat_openai(info: dict[str, Any]) -> Call:
    from langchain_core.messages import HumanMessage
    from langchain_openai import ChatOpenAI

    model = ChatOpenAI(model=MODEL, base_url=info["base_url"], api_key=info["api_key"], max_retries=0)
    # ChatOpenAI drops reasoning_content: its first chunk with content is the answer's.
    return lambda: _first(model.stream([HumanMessage(PROMPT)]), lambda c: bool(c.content))


CONTENDERS: list[tuple[str, Callable[[dict[str, Any]], Call]]] = [
    ("ChatQwenVL.stream", chat_qwen_vl),
    ("QwenVL.stream_chat", qwen_vl),
    ("QwenVLClient.stream (core)", core),
    ("QwenVLClient.stream protocol=dashscope", core_native),
    ("openai SDK", openai_sdk),
    ("ChatQwen (langchain-qwq)", chat_qwen),
    ("ChatOpenAI", chat_openai),
]


async def _astream_first(chunks: Any, has_content: Callable[[Any], bool]) -> float:
    start = time.perf_counter()
    first = None
    async for chunk in chunks:
        if first is None and has_content(chunk):
            first = time.perf_counter() - start
    if first is None:
        raise RuntimeError("the stream carried no content")
    return first


def async_rows(info: dict[str, Any], calls: int) -> list[tuple[str, Callable[[], list[float]]]]:
    """`astream` rows: all calls in one event loop, as an async agent makes them."""
    from langchain_core.messages import HumanMessage
    from llama_index.core.base.llms.types import ChatMessage

    from langchain_qwen_vl import ChatQwenVL
    from llama_index_qwen_vl import QwenVL

    def lc() -> list[float]:
        model = ChatQwenVL(model=MODEL, base_url=info["base_url"], api_key=info["api_key"], max_retries=0)

        async def run() -> list[float]:
            try:
                return [await _astream_first(model.astream([HumanMessage(PROMPT)]), _lc_content) for _ in range(calls)]
            finally:
                await model.aclose()

        return asyncio.run(run())

    def li() -> list[float]:
        llm = QwenVL(model=MODEL, base_url=info["base_url"], api_key=info["api_key"], max_retries=0)
        messages = [ChatMessage(role="user", content=PROMPT)]

        async def run() -> list[float]:
            try:
                out = []
                for _ in range(calls):
                    gen = await llm.astream_chat(messages)
                    out.append(
                        await _astream_first(gen, lambda r: bool(r.delta or r.additional_kwargs.get("thinking_delta")))
                    )
                return out
            finally:
                await llm.aclose()

        return asyncio.run(run())

    return [("ChatQwenVL.astream", lc), ("QwenVL.astream_chat", li)]


# -- the server ---------------------------------------------------------------------------------------


def start_server(delay: float) -> tuple[subprocess.Popen[str], dict[str, Any]]:
    return spawn("--chunks", "30", "--answer-chunks", "10", "--new-connection-delay", str(delay))


def run(args: argparse.Namespace) -> list[Result]:
    results: list[Result] = []
    for rep in range(args.repeat):
        process, info = start_server(args.connection_delay)
        try:
            rows: list[tuple[str, Callable[[], list[float]]]] = []
            for name, build in CONTENDERS:
                try:
                    call = build(info)
                except ImportError as exc:
                    log(f"  {name}: skipped ({exc})")
                    continue
                rows.append((name, lambda call=call: [call() for _ in range(args.calls)]))
            rows += async_rows(info, args.calls)
            for index, (name, make_calls) in enumerate(rows):
                if index >= len(results):
                    results.append(Result(name))
                result = next(r for r in results if r.name == name)
                before = _accepted(process)
                start = time.perf_counter()
                try:
                    firsts = make_calls()
                except Exception as exc:  # a peer that fails is a row with the reason
                    result.error = f"{type(exc).__name__}: {str(exc)[:200]}"
                    continue
                result.walls.append(time.perf_counter() - start)
                result.first_chunks += firsts
                result.connections.append(_accepted(process) - before)
                log(f"  round {rep + 1}: {name}: {result.walls[-1]:.2f} s")
        finally:
            stop_server(process)
    return results


def _accepted(process: subprocess.Popen[str]) -> int:
    """Ask the server process how many connections it has accepted (one line on its stdin/stdout)."""
    assert process.stdin is not None
    assert process.stdout is not None
    process.stdin.write("connections\n")
    process.stdin.flush()
    return int(process.stdout.readline())


def report(args: argparse.Namespace, results: list[Result], argv: list[str]) -> str:
    command = "python benchmarks/sequential_latency.py " + shlex.join(argv)
    out = [
        "# Calls in a row: time to first token with a connection delay",
        "",
        f"Command: `{command.strip()}`",
        "",
        f"{args.calls} streamed calls in a row per row ({MODEL}, 30 reasoning + 10 answer events each) against the "
        f"emulator in a separate process with `new_connection_delay={args.connection_delay:g}` s (slept before the "
        f"first answer on every new connection); {args.repeat} rounds, each on a fresh server. `first chunk`: "
        "median over all calls of the time from the call to its first content chunk; `wall`: median total time "
        "of the row's calls; `connections`: new connections the server accepted per row (median).",
        "",
        *machine_info(ROOT),
        "",
        "| contender | first chunk ms (median) | first chunk ms (max) | wall s for all calls | connections |",
        "|---|--:|--:|--:|--:|",
    ]
    for r in results:
        if r.error and not r.walls:
            out.append(f"| {r.name} | — | — | — | error: {r.error} |")
            continue
        out.append(
            f"| {r.name} | {statistics.median(r.first_chunks) * 1000:.1f} | {max(r.first_chunks) * 1000:.1f} "
            f"| {statistics.median(r.walls):.2f} | {statistics.median(r.connections):g} |"
        )
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=20, help="streamed calls in a row per contender (20)")
    parser.add_argument("--connection-delay", type=float, default=0.15, help="seconds per new connection (0.15)")
    parser.add_argument("--repeat", type=int, default=3, help="rounds (3), each on a fresh server")
    parser.add_argument(
        "--output", default=str(HERE / "results" / "sequential_latency.md"), help="markdown file ('-' for none)"
    )
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore", DeprecationWarning)
    results = run(args)
    text = report(args, results, argv)
    print(text)
    if args.output != "-":
        Path(args.output).write_text(text, encoding="utf-8")
        log(f"wrote {args.output}")


if __name__ == "__main__":
    main()
