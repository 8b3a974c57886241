"""Markdown tables and machine facts for the stream-overhead results."""

from __future__ import annotations

import datetime
import os
import platform
import statistics
import subprocess
from importlib import metadata
from pathlib import Path

from _harness import Row, Server

__all__ = ["FLOOD_TARGET", "PACED_TARGET", "async_table", "machine_info", "sync_table", "target_lines"]

_PACKAGES = (
    "qwen-vl-reasoning",
    "httpx",
    "openai",
    "pydantic",
    "langchain-core",
    "langchain-openai",
    "langchain-deepseek",
    "langchain-qwq",
    "langchain-community",
    "dashscope",
    "llama-index-core",
    "llama-index-llms-openai",
    "llama-index-llms-openai-like",
    "llama-index-llms-dashscope",
)
FLOOD_TARGET = 0.5
"""Issue #14, flood mode: the adapter at most half its framework floor (coalesced chunks)."""
PACED_TARGET = 1.2
"""Issue #14, paced mode (one event per read): no worse than before, within 1.2x of the floor."""


def _per_1k(seconds: float, chunks: int) -> float:
    return seconds * 1e6 / chunks  # ms per 1,000 chunks


def _find(rows: list[Row], floor: str, group: str | None = None) -> Row | None:
    for row in rows:
        c = row.contender
        if c.floor == floor and (group is None or c.group == group) and row.ok:
            return row
    return None


def _ratio(row: Row, floor: Row | None) -> str:
    if floor is None or not row.ok:
        return "—"
    return f"{row.median_cpu() / floor.median_cpu():.2f}×"


def _status(row: Row) -> str:
    if row.skipped:
        return f"skipped: {row.skipped}"
    if row.error and not row.cpu:
        return f"error: {row.error}"
    status = "✓" if not row.problems else "✗ " + "; ".join(row.problems)
    return status + (f" (then error: {row.error})" if row.error else "")


def _full_gcs(row: Row) -> str:
    """Median full (generation-2) GC passes per timed run: the main source of spread in LangChain rows."""
    if not row.ok:
        return "—"
    return f"{statistics.median(row.full_gcs):g}"


def _chunks(row: Row) -> str:
    return f"{row.outcome.items:,}" if row.ok and row.outcome is not None else "—"


def _first(row: Row) -> str:
    return f"{statistics.median(row.first_chunks) * 1000:.1f}" if row.ok and row.first_chunks else "—"


def _name(row: Row) -> str:
    return f"**{row.contender.name}**" if row.contender.floor else row.contender.name


def sync_table(rows: list[Row], server: Server, group: str) -> list[str]:
    """One group's table; ratios use the raw floor and this group's framework floor."""
    raw, framework = _find(rows, "raw"), _find(rows, "framework", group)
    lines = [
        "| contender | sent | CPU ms / 1k events (median) | min–max | × raw floor | × framework floor "
        "| wall ms / 1k events | chunks | first chunk ms | full GCs | reasoning + usage intact? |",
        "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|---|",
    ]
    for row in rows:
        if row.contender.group != group and row.contender.floor != "raw":
            continue
        if row.ok:
            cpu = f"{_per_1k(row.median_cpu(), server.chunks):.1f}"
            spread = f"{_per_1k(min(row.cpu), server.chunks):.1f}–{_per_1k(max(row.cpu), server.chunks):.1f}"
            wall = f"{_per_1k(row.median_wall(), server.chunks):.1f}"
        else:
            cpu = spread = wall = "—"
        fw = _ratio(row, framework) if group != "core" else "—"
        lines.append(
            f"| {_name(row)} | {row.contender.sent} | {cpu} | {spread} | {_ratio(row, raw)} | {fw} | {wall} "
            f"| {_chunks(row)} | {_first(row)} | {_full_gcs(row)} | {_status(row)} |"
        )
    return lines


def async_table(rows: list[Row], server: Server, concurrency: int) -> list[str]:
    """Concurrent streams: total CPU per 1,000 chunks over all streams, wall time of the whole batch."""
    raw = _find(rows, "raw")
    chunks = server.chunks * concurrency
    lines = [
        "| contender | streams | CPU ms / 1k events | × raw floor (async) | × framework floor (async) "
        "| wall s (all streams) | chunks / stream | first chunk ms | full GCs | reasoning + usage intact? |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|---|",
    ]
    for row in rows:
        framework = _find(rows, "framework", row.contender.group)
        cpu = f"{_per_1k(row.median_cpu(), chunks):.1f}" if row.ok else "—"
        wall = f"{row.median_wall():.1f}" if row.ok else "—"
        lines.append(
            f"| {_name(row)} | {concurrency} | {cpu} | {_ratio(row, raw)} | {_ratio(row, framework)} | {wall} "
            f"| {_chunks(row)} | {_first(row)} | {_full_gcs(row)} | {_status(row)} |"
        )
    return lines


_ADAPTERS = {
    "langchain": ("ChatQwenVL", "ChatQwenVL protocol=dashscope"),
    "llama_index": ("QwenVL", "QwenVL protocol=dashscope"),
}


def target_lines(rows: list[Row], label: str, target: float) -> list[str]:
    """One line per adapter row: its multiple of the framework floor against `target`."""
    out = []
    for group, names in _ADAPTERS.items():
        framework = _find(rows, "framework", group)
        for row in rows:
            if row.contender.name not in names or not row.ok or framework is None:
                continue
            ratio = row.median_cpu() / framework.median_cpu()
            verdict = "met" if ratio <= target and not row.problems else "NOT met"
            out.append(
                f"- {label}: {row.contender.name} = {ratio:.2f}× its framework floor (target ≤ {target}×): {verdict}"
            )
    return out


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _git_revision(root: Path) -> str:
    try:
        rev = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return rev + (" (with uncommitted changes)" if dirty else "")


def machine_info(root: Path) -> list[str]:
    versions = []
    for name in _PACKAGES:
        try:
            versions.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            versions.append(f"{name} (not installed)")
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return [
        f"- date: {now}; repo revision: {_git_revision(root)}",
        f"- python {platform.python_version()} ({platform.python_implementation()}), {platform.platform()}",
        f"- CPU: {_cpu_model()}; cpu_count {os.cpu_count()}, usable {affinity}",
        "- packages: " + ", ".join(versions),
    ]
