"""Real-time batch on one process vs `run_ray` on a local Ray instance: throughput, CPU per item, memory.

    python benchmarks/batch_ray.py [--items 20000 --concurrency 32 --workers 2 --output results/batch_ray.md]

Needs the `ray` extra. Starts the emulator in a subprocess (its CPU is not counted; `_server.py`,
every reply a short 8-piece answer), then runs the same small items (a 32x32 PNG inline plus a
one-line prompt, no thinking) through:

- `arun_realtime` in this process at `--concurrency` requests in flight;
- `run_ray` with `--workers` actors of `--concurrency / workers` requests each, on a local Ray
  started with `num_cpus=workers` (its start-up, ~5 s here, is not timed; the actors' start is).

Both write one JSONL record per item (the Ray driver fsyncs once per returned block). CPU is the
client side: for `arun_realtime` this process's `time.process_time()`; for Ray, this process plus
every Ray process it started (GCS, raylet, workers: user + system time from /proc, reaped children
included). RSS is sampled every 50 ms (0.5 s with Ray): this process, plus the Ray processes; growth is
RSS at the end minus RSS when a quarter of the items were done.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shlex
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from _report import machine_info
from _spawn import stop_server
from batch_realtime import MODEL, PROMPT, Sampler, Ticking, rss_bytes, start_server, tiny_png_url

from qwen_vl_core import QwenVLClient
from qwen_vl_core.batch import BatchItem, BatchSettings, arun_realtime

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
_TICK = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=20_000, help="items per run (20000)")
    parser.add_argument("--concurrency", type=int, default=32, help="requests in flight in total (32)")
    parser.add_argument("--workers", type=int, default=2, help="Ray worker actors (2)")
    parser.add_argument("--output", default=str(HERE / "results" / "batch_ray.md"), help="'-' for none")
    return parser.parse_args(argv)


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as handle:
                    parent = int(handle.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            tree.setdefault(parent, []).append(int(entry))
    return tree


def descendants(root: int, skip: set[int]) -> list[int]:
    tree, found, todo = _children(), [], [root]
    while todo:
        for child in tree.get(todo.pop(), []):
            if child not in skip:
                found.append(child)
                todo.append(child)
    return found


def cpu_seconds(pids: list[int]) -> float:
    """User + system time of these processes and of their reaped children."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
            total += sum(int(v) for v in fields[11:15])
        except (OSError, ValueError):
            continue
    return total / _TICK


def rss_of(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/statm") as handle:
                total += int(handle.read().split()[1]) * _PAGE
        except (OSError, ValueError):
            continue
    return total


@dataclass
class Row:
    name: str
    items: int
    wall: float
    cpu: float
    rss_quarter: int
    rss_end: int
    ok: int

    def line(self) -> str:
        growth = (self.rss_end - self.rss_quarter) / 2**20
        return (
            f"| {self.name} | {self.items:,} | {self.wall:.1f} s | {self.items / self.wall:,.0f} | {self.cpu:.1f} s | "
            f"{self.cpu * 1000 / self.items:.2f} | {self.rss_quarter / 2**20:.0f} MiB | {self.rss_end / 2**20:.0f} MiB "
            f"| {growth:+.0f} MiB | {self.ok:,} |"
        )


def by_size(path: Path, bytes_per_item: float) -> Callable[[], int]:
    """Items done, from the output's size (cheap enough to sample; reading the file would cost CPU)."""

    def done() -> int:
        try:
            return int(path.stat().st_size / bytes_per_item)
        except OSError:
            return 0

    return done


def run_realtime(info: dict[str, object], items: list[BatchItem], concurrency: int, folder: Path) -> Row:
    out = folder / "realtime.jsonl"
    client = QwenVLClient(base_url=str(info["base_url"]), api_key=str(info["api_key"]), max_retries=0)
    finished = 0

    def tick() -> None:
        nonlocal finished
        finished += 1

    async def go() -> int:
        try:
            summary = await arun_realtime(
                items, out, client=Ticking(client, tick), settings=BatchSettings(MODEL, PROMPT), concurrency=concurrency
            )
        finally:
            await client.aclose()
        return summary.done

    with Sampler(len(items), lambda: finished) as sampler:
        wall, cpu = time.perf_counter(), time.process_time()
        ok = asyncio.run(go())
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return Row("`arun_realtime`, 1 process", len(items), wall, cpu, sampler.at_quarter(), sampler.samples[-1][1], ok)


class TreeSampler:
    """RSS of this process and its descendants (the server excluded) every 0.5 s, tagged with items done."""

    def __init__(self, done: Callable[[], int], server: int) -> None:
        self.done, self.server = done, server
        self.samples: list[tuple[int, int]] = []
        self._stop = threading.Event()

    def __enter__(self) -> TreeSampler:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def sample(self) -> None:
        self.samples.append((self.done(), rss_bytes() + rss_of(descendants(os.getpid(), {self.server}))))

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            self.sample()

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def at(self, fraction: float, total: int) -> int:
        return next((rss for n, rss in self.samples if n >= total * fraction), self.samples[-1][1])


def run_on_ray(
    info: dict[str, object], items: list[BatchItem], args: argparse.Namespace, folder: Path, server: int
) -> Row:
    import ray

    from qwen_vl_core.batch.ray import ClientConfig, run_ray

    ray.init(num_cpus=args.workers, include_dashboard=False, log_to_driver=False, logging_level="error")
    try:
        out = folder / "ray.jsonl"
        config = ClientConfig(base_url=str(info["base_url"]), api_key=str(info["api_key"]), max_retries=0)
        per_item = (folder / "realtime.jsonl").stat().st_size / len(items)
        with TreeSampler(by_size(out, per_item), server) as sampler:
            before = cpu_seconds(descendants(os.getpid(), {server})) + time.process_time()
            wall = time.perf_counter()
            summary = run_ray(
                items, out, settings=BatchSettings(MODEL, PROMPT), client=config, workers=args.workers,
                concurrency=max(1, args.concurrency // args.workers),
            )  # fmt: skip
            wall = time.perf_counter() - wall
            after = cpu_seconds(descendants(os.getpid(), {server})) + time.process_time()
        name = f"`run_ray`, {args.workers} workers (local Ray)"
        return Row(name, len(items), wall, after - before, sampler.at(0.25, len(items)), sampler.at(0.999, len(items)),
                   summary.done)  # fmt: skip
    finally:
        ray.shutdown()


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    warnings.simplefilter("ignore", DeprecationWarning)
    process, info = start_server()
    image = tiny_png_url()
    items = [BatchItem(f"item-{n:05d}", (image,), prompt=PROMPT) for n in range(args.items)]
    try:
        with tempfile.TemporaryDirectory() as folder:
            rows = [run_realtime(info, items, args.concurrency, Path(folder))]
            print(rows[-1].line(), file=sys.stderr, flush=True)
            rows.append(run_on_ray(info, items, args, Path(folder), process.pid))
            print(rows[-1].line(), file=sys.stderr, flush=True)
    finally:
        stop_server(process)
    per_worker = max(1, args.concurrency // args.workers)
    text = "\n".join(
        [
            "# Real-time batch: one process vs local Ray",
            "",
            f"Command: `{shlex.join(['python', 'benchmarks/batch_ray.py', *argv])}`",
            "",
            f"{args.items:,} items, each a 32x32 PNG (inline data URL) and a one-line prompt to {MODEL}; every reply "
            "is 8 short answer pieces from the emulator in a separate process (not counted). Total concurrency "
            f"{args.concurrency} in both rows (Ray: {args.workers} workers x {per_worker}). Client CPU: this process "
            "for `arun_realtime`; this process plus every Ray process (GCS, raylet, "
            "workers, reaped children included) for `run_ray`. RSS: the same processes, sampled every 50 ms "
            "(0.5 s for Ray).",
            "",
            *machine_info(ROOT),
            f"- ray {metadata.version('ray')}, pyarrow {metadata.version('pyarrow')}",
            "",
            "| runner | items | wall | items/s | client CPU | CPU ms/item | RSS at 25% | RSS at end | growth | ok |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
            *(row.line() for row in rows),
        ]
    )
    print(text)
    if args.output != "-":
        path = Path(args.output)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
