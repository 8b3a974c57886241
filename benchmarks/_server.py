"""The benchmark server: a `DashScopeEmulator` in its own process, so its CPU time is not the client's.

    python benchmarks/_server.py --chunks 20000 --answer-chunks 2000

prints one JSON line (base URLs, key, the expected totals) and serves until stdin closes or it is
killed. Every request gets the same stream: `--chunks` reasoning pieces, then `--answer-chunks`
answer pieces, 2-6 characters each, mixed CJK and ASCII like real Qwen output; `include_usage`
is honoured (the emulator adds the usage chunk only when the request asks for it). `--delay`
paces the stream (each event its own write, after that pause); `--new-connection-delay` is slept
once before the first answer on every new connection (a handshake to a far region).
"""

from __future__ import annotations

import argparse
import json
import random
import sys

from qwen_vl_core.testing import DashScopeEmulator, Reply

API_KEY = "bench-key"
COMPAT_SUFFIX = "/compatible-mode/v1"
NATIVE_SUFFIX = "/api/v1"
NATIVE_PATH = "/services/aigc/multimodal-generation/generation"

_WORDS = (
    "the", "cat", "is", "on", "a", "red", "mat", "so", "I", "think", "which", "means",
    "图像", "中", "有", "一只", "猫", "它", "在", "红色", "垫子", "上", "所以", "我认为", "，", "。",
    "x", "=", "3", "+", "42", "的", "面积", "是", "cm²", "\n",
)  # fmt: skip


def make_pieces(count: int, seed: int) -> list[str]:
    """`count` deterministic pieces of 2-6 characters built from real-looking words."""
    rng = random.Random(seed)
    pieces: list[str] = []
    for _ in range(count):
        size = rng.randint(2, 6)
        text = ""
        while len(text) < size:
            text += rng.choice(_WORDS) + (" " if rng.random() < 0.4 else "")
        pieces.append(text[:size])
    return pieces


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--chunks", type=int, default=20_000, help="reasoning chunks per stream")
    parser.add_argument("--answer-chunks", type=int, default=2_000, help="answer chunks per stream")
    parser.add_argument(
        "--delay", type=float, default=0.0, help="paced mode: seconds before each event, one event per write (0: flood)"
    )
    parser.add_argument(
        "--new-connection-delay", type=float, default=0.0, help="seconds slept before the first answer on a connection"
    )
    args = parser.parse_args(argv)
    reasoning = make_pieces(args.chunks, seed=1)
    text = make_pieces(args.answer_chunks, seed=2)
    emulator = DashScopeEmulator(
        api_key=API_KEY,
        default_reply=Reply(reasoning=reasoning, text=text, delay=args.delay),
        new_connection_delay=args.new_connection_delay,
    )
    with emulator:
        compat = emulator.base_url
        root = compat[: -len(COMPAT_SUFFIX)]
        info = {
            "base_url": compat,
            "native_base_url": getattr(emulator, "native_base_url", root + NATIVE_SUFFIX),
            "api_key": API_KEY,
            "reasoning_chunks": len(reasoning),
            "answer_chunks": len(text),
            "reasoning_chars": sum(map(len, reasoning)),
            "answer_chars": sum(map(len, text)),
        }
        print(json.dumps(info), flush=True)
        # Serve until the parent closes our stdin (or kills us); "connections" asks how many were accepted.
        for line in sys.stdin:
            if line.strip() == "connections":
                print(emulator.connections_opened, flush=True)


if __name__ == "__main__":
    main()
