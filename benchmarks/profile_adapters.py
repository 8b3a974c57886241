"""Profile where a row's per-chunk CPU goes: one sync stream under cProfile (or pyinstrument).

    python benchmarks/profile_adapters.py [--rows ChatQwenVL,QwenVL] [--tool cprofile|pyinstrument]

Uses the same server, contenders and stream as stream_overhead.py. cProfile's per-call overhead
inflates small functions, so read its numbers as shares, and compare against a floor row profiled
the same way (the framework floors are included by default). The cyclic GC is off while profiling
(`--gc` keeps it): a collection is charged to whatever function happened to allocate, which scatters
its cost at random; `stream_overhead.py` measures with it on.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import io
import pstats
import sys
import warnings

from _harness import Contender
from stream_overhead import GROUPS, start_server, stop_server

DEFAULT_ROWS = "minimal BaseChatModel,ChatQwenVL,minimal LLM,QwenVL"


def find(names: list[str]) -> list[Contender]:
    every = {c.name: c for group in GROUPS.values() for c in group}
    chosen = []
    for wanted in names:
        matches = [c for name, c in every.items() if name == wanted or name.startswith(wanted + " (")]
        if not matches:
            raise SystemExit(f"no row named {wanted!r}; rows: {sorted(every)}")
        chosen += matches
    return chosen


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", default=DEFAULT_ROWS, help="comma-separated row names (prefix before ' (')")
    parser.add_argument("--tool", choices=("cprofile", "pyinstrument"), default="cprofile")
    parser.add_argument("--chunks", type=int, default=20_000)
    parser.add_argument("--answer-chunks", type=int, default=2_000)
    parser.add_argument("--top", type=int, default=25, help="functions to list per row (cProfile)")
    parser.add_argument("--gc", action="store_true", help="keep the cyclic GC on while profiling")
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore", DeprecationWarning)
    process, server = start_server(args)
    try:
        for contender in find([n.strip() for n in args.rows.split(",") if n.strip()]):
            assert contender.build is not None
            run = contender.build(server)
            run()  # warm-up
            print(f"\n=== {contender.name}: one stream of {server.chunks:,} chunks ===")
            gc.collect()
            if not args.gc:
                gc.disable()
            if args.tool == "pyinstrument":
                from pyinstrument import Profiler

                profiler = Profiler(interval=0.0005)
                profiler.start()
                run()
                profiler.stop()
                gc.enable()
                print(profiler.output_text(unicode=True, color=False, show_all=False))
                continue
            profile = cProfile.Profile()
            profile.runcall(run)
            gc.enable()
            buffer = io.StringIO()
            stats = pstats.Stats(profile, stream=buffer)
            stats.sort_stats("tottime").print_stats(args.top)
            print(buffer.getvalue())
    finally:
        stop_server(process)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
