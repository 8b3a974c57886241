"""Real-time batch throughput: `arun_realtime` next to a naive `asyncio.gather` over `ChatQwenVL.ainvoke`.

    python benchmarks/batch_realtime.py [--items 2000 --concurrency 1,16,64 --output results/batch_realtime.md]

Starts the emulator in a subprocess (its CPU is not counted; `_server.py`, every reply a short
8-piece answer), then, for each concurrency, runs the same small items (a 32x32 PNG inline plus a
one-line prompt, no thinking) through:

- `arun_realtime`: bounded concurrency, one durable (fsynced) JSONL record per item, resumable;
- naive: `asyncio.gather` over `ChatQwenVL.ainvoke` behind an `asyncio.Semaphore(concurrency)`,
  results kept in a list (no output file, no rate limiting, no resume).

Reports items/s (wall), client CPU per item (`time.process_time()` of this process: user + system)
and resident memory (RSS sampled every 50 ms from /proc) at the first quarter and the end of the
run, the "flat" check being their difference. Prints a table and writes it, with machine facts.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import io
import os
import shlex
import subprocess
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _report import machine_info
from _spawn import start_server as spawn
from _spawn import stop_server

from qwen_vl_core import ChatRequest, ChatResult, QwenVLClient
from qwen_vl_core.batch import BatchItem, BatchSettings, arun_realtime

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
MODEL = "qwen3-vl-plus"
PROMPT = "What colour is this square?"
Runner = Callable[..., Awaitable[int]]
TIMEOUT = 30.0
"""Seconds between reads before a request counts as failed (a lost reply shows as ok < items, not a hang)."""


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=2000, help="items per run (2000)")
    parser.add_argument("--concurrency", default="1,16,64", help="comma-separated concurrency levels (1,16,64)")
    parser.add_argument("--warmup", type=int, default=50, help="untimed items before each run (50)")
    parser.add_argument("--no-naive", action="store_true", help="skip the ChatQwenVL.ainvoke rows")
    parser.add_argument("--output", default=str(HERE / "results" / "batch_realtime.md"), help="'-' for none")
    return parser.parse_args(argv)


def tiny_png_url() -> str:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (32, 32), (20, 120, 220)).save(buffer, "PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def start_server() -> tuple[subprocess.Popen[str], dict[str, object]]:
    return spawn("--chunks", "0", "--answer-chunks", "8")


def rss_bytes() -> int:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@dataclass
class Sampler:
    """RSS every 50 ms on a thread, tagged with the number of items finished so far."""

    total: int
    done: Callable[[], int]
    samples: list[tuple[int, int]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    def __enter__(self) -> Sampler:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            self.samples.append((self.done(), rss_bytes()))

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.samples.append((self.done(), rss_bytes()))

    def at_quarter(self) -> int:
        return next((rss for done, rss in self.samples if done >= self.total // 4), self.samples[-1][1])


@dataclass
class Row:
    name: str
    concurrency: int
    items: int
    wall: float
    cpu: float
    rss_quarter: int
    rss_end: int
    ok: int

    @property
    def items_per_s(self) -> float:
        return self.items / self.wall

    @property
    def cpu_ms_per_item(self) -> float:
        return self.cpu * 1000 / self.items


async def measure(name: str, concurrency: int, count: int, run: Callable[[Callable[[], None]], Awaitable[int]]) -> Row:
    finished = 0

    def tick() -> None:
        nonlocal finished
        finished += 1

    with Sampler(count, lambda: finished) as sampler:
        wall, cpu = time.perf_counter(), time.process_time()
        ok = await run(tick)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return Row(name, concurrency, count, wall, cpu, sampler.at_quarter(), sampler.samples[-1][1], ok)


class Ticking:
    """Wraps a client so the sampler knows how far the runner got (one attribute bump per item)."""

    def __init__(self, inner: QwenVLClient, tick: Callable[[], None]) -> None:
        self.inner, self.tick = inner, tick

    async def achat(self, request: ChatRequest) -> ChatResult:
        result = await self.inner.achat(request)
        self.tick()
        return result


async def run_batch(info: dict[str, object], items: list[BatchItem], concurrency: int, folder: Path) -> Runner:
    settings = BatchSettings(MODEL, PROMPT)

    async def go(tick: Callable[[], None], work: list[BatchItem] = items) -> int:
        out = folder / f"out-{concurrency}-{len(work)}-{time.monotonic_ns()}.jsonl"
        client = QwenVLClient(
            base_url=str(info["base_url"]), api_key=str(info["api_key"]), max_retries=0, timeout=TIMEOUT
        )
        try:
            summary = await arun_realtime(
                work, out, client=Ticking(client, tick), settings=settings, concurrency=concurrency
            )
        finally:
            await client.aclose()
        with out.open("rb") as records:
            assert sum(1 for _ in records) == len(work)  # streamed: the check itself must not hold memory
        return summary.done

    return go


async def run_naive(info: dict[str, object], items: list[BatchItem], concurrency: int) -> Runner:
    from langchain_core.messages import HumanMessage

    from langchain_qwen_vl import ChatQwenVL

    async def go(tick: Callable[[], None], work: list[BatchItem] = items) -> int:
        llm = ChatQwenVL(
            model=MODEL, base_url=str(info["base_url"]), api_key=str(info["api_key"]), max_retries=0, timeout=TIMEOUT
        )
        gate = asyncio.Semaphore(concurrency)

        async def one(item: BatchItem) -> str:
            content: list[str | dict[str, Any]] = [
                {"type": "image_url", "image_url": {"url": item.images[0]}},
                {"type": "text", "text": PROMPT},
            ]
            async with gate:
                try:
                    message = await llm.ainvoke([HumanMessage(content=content)])
                finally:
                    tick()
            return str(message.content)

        try:
            answers = await asyncio.gather(*(one(item) for item in work), return_exceptions=True)
        finally:
            # A client dropped unclosed inside a running loop can make a later client's requests hang
            # (a lost reply, seen here at x16): close it, as any long-running program should.
            await llm.aclose()
        failures = [a for a in answers if isinstance(a, BaseException)]
        if failures:
            log(f"naive x{concurrency}: {len(failures)} failed, first: {type(failures[0]).__name__}: {failures[0]}")
        return sum(1 for a in answers if isinstance(a, str) and a)

    return go


def table(rows: list[Row]) -> list[str]:
    lines = [
        "| runner | concurrency | items | items/s | client CPU ms/item | RSS at 25% | RSS at end | growth | ok |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        growth = (r.rss_end - r.rss_quarter) / 2**20
        lines.append(
            f"| {r.name} | {r.concurrency} | {r.items:,} | {r.items_per_s:,.0f} | {r.cpu_ms_per_item:.2f} | "
            f"{r.rss_quarter / 2**20:.1f} MiB | {r.rss_end / 2**20:.1f} MiB | {growth:+.1f} MiB | {r.ok:,} |"
        )
    return lines


async def main_async(args: argparse.Namespace, info: dict[str, object], folder: Path) -> list[Row]:
    image = tiny_png_url()
    items = [BatchItem(f"item-{n:05d}", (image,), prompt=PROMPT) for n in range(args.items)]
    warm = items[: args.warmup]
    rows: list[Row] = []
    for concurrency in [int(c) for c in args.concurrency.split(",")]:
        runners = [("`arun_realtime`", await run_batch(info, items, concurrency, folder))]
        if not args.no_naive:
            runners.append(("naive `gather` + `ChatQwenVL.ainvoke`", await run_naive(info, items, concurrency)))
        for name, go in runners:
            await go(lambda: None, warm)
            row = await measure(name, concurrency, len(items), go)
            log(f"{name} x{concurrency}: {row.items_per_s:,.0f} items/s, {row.cpu_ms_per_item:.2f} ms CPU/item")
            rows.append(row)
    return rows


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    warnings.simplefilter("ignore", DeprecationWarning)
    process, info = start_server()
    try:
        with tempfile.TemporaryDirectory() as folder:
            rows = asyncio.run(main_async(args, info, Path(folder)))
    finally:
        stop_server(process)
    text = "\n".join(
        [
            "# Real-time batch: throughput, client CPU and memory",
            "",
            f"Command: `{shlex.join(['python', 'benchmarks/batch_realtime.py', *argv])}`",
            "",
            f"{args.items:,} items per run, each a 32x32 PNG (inline data URL) and a one-line prompt to {MODEL} "
            "(no thinking, non-streaming); every reply is 8 short answer pieces from the emulator in a separate "
            f"process. {args.warmup} untimed items first. `arun_realtime` writes and fsyncs one JSONL record per "
            "item; the naive row keeps its answers in a list. CPU is this process's `time.process_time()`; RSS "
            "is sampled every 50 ms; growth = RSS at the end minus RSS when a quarter of the items were done.",
            "",
            *machine_info(ROOT),
            "",
            *table(rows),
        ]
    )
    print(text)
    if args.output != "-":
        path = Path(args.output)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text + "\n", encoding="utf-8")
        log(f"wrote {path}")


if __name__ == "__main__":
    main()
