"""Time to prepare a large Batch API job: build and write the shard files of 100,000 items (no upload).

    python benchmarks/batch_prepare.py [--items 100000 --images 200 --output results/batch_prepare.md]

Writes `--images` distinct small photos (96x64 PNG, noisy, a few KB each) and a JSONL manifest of
`--items` lines, each naming one of them and a prompt; then loads the manifest (`load_items`) and
builds the job's input files with `write_shards` at the documented limits (50,000 requests and
500 MB per file, 6 MB per line): every item is read, checked and encoded inline exactly as it would
be uploaded. Reports seconds (manifest load, shard build), items/s, bytes written, shards, and the
peak resident memory. The upload itself is network-bound and not measured.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import shlex
import sys
import tempfile
import time
from pathlib import Path

from _report import machine_info

from qwen_vl_core.batch import BatchSettings, load_items
from qwen_vl_core.batch.shards import write_shards

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--items", type=int, default=100_000, help="items in the job (100000)")
    parser.add_argument("--images", type=int, default=200, help="distinct image files the items name (200)")
    parser.add_argument("--output", default=str(HERE / "results" / "batch_prepare.md"), help="'-' for none")
    return parser.parse_args(argv)


def make_inputs(folder: Path, items: int, images: int) -> Path:
    from PIL import Image

    rng = random.Random(7)
    for n in range(images):
        pixels = bytes(rng.getrandbits(8) for _ in range(96 * 64 * 3))
        Image.frombytes("RGB", (96, 64), pixels).save(folder / f"photo-{n:04d}.png", "PNG")
    manifest = folder / "items.jsonl"
    with manifest.open("w", encoding="utf-8") as lines:
        for n in range(items):
            line = {"id": f"sku-{n:07d}", "image": f"photo-{n % images:04d}.png", "prompt": f"Label product {n}."}
            lines.write(json.dumps(line) + "\n")
    return manifest


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        manifest = make_inputs(root, args.items, args.images)
        started = time.perf_counter()
        items = load_items(manifest)
        loaded = time.perf_counter() - started
        job = root / "job"
        job.mkdir()
        started, cpu = time.perf_counter(), time.process_time()
        shards, rejected = write_shards(items, BatchSettings("qwen3-vl-plus", None), job)
        built, cpu = time.perf_counter() - started, time.process_time() - cpu
        written = sum(s.bytes for s in shards)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    rows = [
        "| items | load manifest | build shards | items/s | CPU | bytes written | shards (requests) | rejected "
        "| peak RSS |",
        "|---:|---:|---:|---:|---:|---:|---|---:|---:|",
        f"| {args.items:,} | {loaded:.2f} s | {built:.1f} s | {args.items / built:,.0f} | {cpu:.1f} s | "
        f"{written:,} ({written / 1e6:,.1f} MB) | {len(shards)} ({', '.join(f'{s.requests:,}' for s in shards)}) | "
        f"{len(rejected)} | {peak:,.0f} MiB |",
    ]
    text = "\n".join(
        [
            "# Preparing a Batch API job: shard files for 100,000 items",
            "",
            f"Command: `{shlex.join(['python', 'benchmarks/batch_prepare.py', *argv])}`",
            "",
            f"{args.items:,} manifest lines, each a 96x64 noisy PNG ({args.images} distinct files) and its own prompt, "
            "to qwen3-vl-plus; shards at the documented limits (50,000 requests / 500 MB per file, 6 MB per line). "
            "Build = read, check and inline every image, serialize every line, write and fsync the shard and id "
            "files (`write_shards`). No upload.",
            "",
            *machine_info(ROOT),
            "",
            *rows,
        ]
    )
    print(text)
    if args.output != "-":
        path = Path(args.output)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
