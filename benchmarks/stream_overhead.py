"""CPU cost per 1,000 server events: ChatQwenVL / QwenVL next to the raw floor, framework floors and peers.

    python benchmarks/stream_overhead.py [--modes flood,paced --chunks 20000 --repeat 5 --only langchain]

Two server modes, each in its own emulator subprocess (its CPU is not counted): *flood* writes the
whole stream as fast as the socket takes it (one network read holds hundreds of events), *paced*
writes one event per write with a small gap (one event per read). Every contender is timed in this
process round-robin, then `--concurrency` concurrent async streams run for the floors and the
adapters. Prints markdown tables and writes them, with machine facts, to
benchmarks/results/stream_overhead.md. See benchmarks/README.md for what each row means.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import shlex
import subprocess
import sys
import warnings
from pathlib import Path

from _contenders_langchain import LANGCHAIN_CONTENDERS
from _contenders_llama_index import LLAMA_INDEX_CONTENDERS
from _floors import CORE_CONTENDERS, RAW_FLOOR
from _harness import Contender, Row, Server, run_async, run_sync
from _report import FLOOD_TARGET, PACED_TARGET, async_table, machine_info, sync_table, target_lines
from _spawn import start_server as spawn
from _spawn import stop_server
from _wire import native_request

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
GROUPS = {"core": CORE_CONTENDERS, "langchain": LANGCHAIN_CONTENDERS, "llama_index": LLAMA_INDEX_CONTENDERS}
TITLES = {"core": "Core (no framework)", "langchain": "LangChain", "llama_index": "LlamaIndex"}


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chunks", type=int, default=20_000, help="reasoning chunks per stream (20000)")
    parser.add_argument("--answer-chunks", type=int, default=2_000, help="answer chunks per stream (2000)")
    parser.add_argument("--modes", default="flood,paced", help="server modes to run: flood, paced or both (default)")
    parser.add_argument("--paced-chunks", type=int, default=2_000, help="reasoning chunks per paced stream (2000)")
    parser.add_argument("--paced-answer-chunks", type=int, default=200, help="answer chunks per paced stream (200)")
    parser.add_argument("--paced-delay", type=float, default=0.0005, help="seconds before each paced event")
    parser.add_argument("--repeat", type=int, default=5, help="timed rounds per contender; the median is shown")
    parser.add_argument("--only", choices=sorted(GROUPS), action="append", help="run one group (repeatable)")
    parser.add_argument("--rows", help="comma-separated substrings: keep only rows whose name matches one")
    parser.add_argument("--concurrency", type=int, default=64, help="concurrent streams in the async run (64)")
    parser.add_argument("--async-repeat", type=int, default=1, help="timed rounds of the async run (1)")
    parser.add_argument("--async-peers", action="store_true", help="also run the peers in the async run (slow)")
    parser.add_argument("--no-async", action="store_true", help="skip the concurrent async run")
    parser.add_argument(
        "--no-gc", action="store_true", help="disable the cyclic GC inside each timed run (diagnostic, not realistic)"
    )
    parser.add_argument(
        "--native",
        choices=("auto", "off"),
        default="auto",
        help="auto: list the native-protocol rows (skipped until the emulator serves the native API); off: drop them",
    )
    parser.add_argument(
        "--output",
        default=str(HERE / "results" / "stream_overhead.md"),
        help="markdown file to write ('-' for none)",
    )
    return parser.parse_args(argv)


def start_server(args: argparse.Namespace, mode: str = "flood") -> tuple[subprocess.Popen[str], Server]:
    if mode == "paced":
        options = ["--chunks", str(args.paced_chunks), "--answer-chunks", str(args.paced_answer_chunks)]
        options += ["--delay", str(args.paced_delay)]
    else:
        options = ["--chunks", str(args.chunks), "--answer-chunks", str(args.answer_chunks)]
    process, info = spawn(*options)
    server = Server(
        base_url=info["base_url"],
        native_base_url=info["native_base_url"],
        api_key=info["api_key"],
        reasoning_chunks=info["reasoning_chunks"],
        answer_chunks=info["answer_chunks"],
        reasoning_chars=info["reasoning_chars"],
        answer_chars=info["answer_chars"],
    )
    return process, server


def serves_native(server: Server) -> bool:
    """Whether the emulator answers the native multimodal-generation path (anything but a 404)."""
    import httpx

    url, headers, body = native_request(server)
    headers = {k: v for k, v in headers.items() if k != "X-DashScope-SSE"}
    body = {**body, "input": {"messages": [{"role": "user", "content": [{"text": "ping"}]}]}}
    try:
        response = httpx.post(url, json=body, headers=headers, timeout=30.0)
    except httpx.HTTPError:
        return False
    return response.status_code != 404


def select(args: argparse.Namespace) -> list[Contender]:
    groups = args.only or list(GROUPS)
    chosen: list[Contender] = [RAW_FLOOR]
    for group in groups:
        chosen += [c for c in GROUPS[group] if c is not RAW_FLOOR]
    if args.native == "off":
        chosen = [c for c in chosen if not c.native]
    if args.rows:
        wanted = [part.strip().lower() for part in args.rows.split(",") if part.strip()]
        chosen = [c for c in chosen if c.floor or any(w in c.name.lower() for w in wanted)]
    return chosen


def report(args: argparse.Namespace, runs: list[tuple[str, Server, list[Row], list[Row]]], argv: list[str]) -> str:
    command = "python benchmarks/stream_overhead.py " + shlex.join(argv)
    out = [
        "# Stream overhead: CPU per 1,000 server events, flood and paced",
        "",
        f"Command: `{command.strip()}`",
        "",
        "CPU is this process's `time.process_time()` per 1,000 content events the server sent (reasoning + "
        f"answer), median of {args.repeat} interleaved rounds after one warm-up; the emulator runs in a separate "
        "process. *Flood*: the server writes the stream as fast as it can (a network read holds hundreds of "
        "events). *Paced*: one event per write, "
        f"{args.paced_delay * 1000:g} ms apart (a read holds one event). Bold rows are the floors. `chunks`: what "
        "the consumer received per stream; `first chunk`: median ms from the call to its first chunk. "
        + ("The cyclic GC was OFF inside timed runs (`--no-gc`). " if args.no_gc else "")
        + "`full GCs`: generation-2 collections during one timed run (median).",
        "",
        *machine_info(ROOT),
    ]
    targets: list[str] = []
    for mode, _server, sync_rows, async_rows in runs:
        target = FLOOD_TARGET if mode == "flood" else PACED_TARGET
        targets += target_lines(sync_rows, f"{mode}, sync", target)
        targets += target_lines(async_rows, f"{mode}, async ×{args.concurrency}", target)
    if targets:
        out += ["", "## Targets", "", *targets]
    for mode, server, sync_rows, async_rows in runs:
        events = f"{server.reasoning_chunks:,} reasoning + {server.answer_chunks:,} answer events"
        for group in args.only or list(GROUPS):
            out += ["", f"## {mode}: {TITLES[group]}, sync `stream` ({events})", ""]
            out += sync_table(sync_rows, server, group)
        if async_rows:
            out += [
                "",
                f"## {mode}: async, {args.concurrency} concurrent streams (`astream` / `astream_chat`), "
                f"median of {args.async_repeat}",
                "",
                *async_table(async_rows, server, args.concurrency),
            ]
    return "\n".join(out) + "\n"


def run_mode(args: argparse.Namespace, mode: str) -> tuple[str, Server, list[Row], list[Row]]:
    process, server = start_server(args, mode)
    try:
        native = args.native != "off" and serves_native(server)
        server = dataclasses.replace(server, native=native)
        log(f"{mode}: server {server.base_url} ({server.chunks:,} events per stream; native served: {native})")
        contenders = select(args)
        log(f"{mode}, sync: {len(contenders)} contenders, {args.repeat} rounds")
        sync_rows = run_sync(contenders, server, args.repeat, log, gc_off=args.no_gc)
        async_rows: list[Row] = []
        if not args.no_async:
            chosen = [c for c in contenders if c.async_default or args.async_peers]
            log(f"{mode}, async: {len(chosen)} contenders x {args.concurrency} concurrent streams")
            async_rows = asyncio.run(
                run_async(chosen, server, args.concurrency, args.async_repeat, log, gc_off=args.no_gc)
            )
    finally:
        stop_server(process)
    return mode, server, sync_rows, async_rows


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    warnings.simplefilter("ignore", DeprecationWarning)  # peers' deprecation notices are not results
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    unknown = set(modes) - {"flood", "paced"}
    if unknown or not modes:
        raise SystemExit(f"--modes takes flood and/or paced; got {args.modes!r}")
    runs = [run_mode(args, mode) for mode in modes]
    text = report(args, runs, argv)
    print(text)
    if args.output != "-":
        path = Path(args.output)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        log(f"wrote {path}")


if __name__ == "__main__":
    main()
