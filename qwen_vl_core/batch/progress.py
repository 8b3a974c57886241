"""Progress while a batch runs, and the closing summary.

On a terminal: one line redrawn in place (bar, done, failed, rate, tokens, ETA), at most ~10 times
a second. Otherwise (a log file, CI): a plain line every `interval` seconds and at the end.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TextIO

from .pricing import PRICES_NOTE, CostEstimate, CostMeter
from .ratelimit import Clock

__all__ = ["Progress", "RunSummary", "format_duration", "format_summary"]


@dataclass
class RunSummary:
    """Counts and token totals of one run (records written by this run only)."""

    total: int = 0
    """Items in the input."""
    skipped: int = 0
    """Already in the output file (resumed)."""
    done: int = 0
    failed: int = 0
    input_tokens: int = 0
    image_tokens: int = 0
    video_tokens: int = 0
    reasoning_tokens: int = 0
    output_tokens: int = 0
    elapsed: float = 0.0
    cost: CostEstimate | None = field(default=None, repr=False)
    output: str | None = None
    """The file the records went to (differs from the one asked for with `new_settings`)."""

    @property
    def answer_tokens(self) -> int:
        return self.output_tokens - self.reasoning_tokens

    @property
    def tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    def add(self, record: Mapping[str, Any]) -> None:
        if record.get("error") is not None:
            self.failed += 1
        else:
            self.done += 1
        usage = record.get("usage") or {}
        self.input_tokens += usage.get("input_tokens") or 0
        self.image_tokens += usage.get("image_tokens") or 0
        self.video_tokens += usage.get("video_tokens") or 0
        self.reasoning_tokens += usage.get("reasoning_tokens") or 0
        self.output_tokens += usage.get("output_tokens") or 0


def format_duration(seconds: float) -> str:
    seconds = max(0, int(seconds + 0.5))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


class Progress:
    """Feeds `RunSummary` and reports it; `stream=None` reports nothing."""

    def __init__(
        self,
        total: int,
        stream: TextIO | None,
        *,
        skipped: int = 0,
        meter: CostMeter | None = None,
        tty: bool | None = None,
        interval: float = 10.0,
        clock: Clock = time.monotonic,
    ) -> None:
        self.summary = RunSummary(total=total, skipped=skipped)
        self.meter = meter
        self._stream = stream
        self._tty = stream is not None and (stream.isatty() if tty is None else tty)
        self._interval = 0.1 if self._tty else interval
        self._clock = clock
        self._start = clock()
        self._last = self._start
        self._drawn = False

    @property
    def todo(self) -> int:
        return self.summary.total - self.summary.skipped

    def line(self) -> str:
        s = self.summary
        finished = s.done + s.failed
        elapsed = self._clock() - self._start
        rate = finished / elapsed if elapsed > 0 else 0.0
        eta = format_duration((self.todo - finished) / rate) if rate > 0 else "?"
        text = (
            f"{finished:,}/{self.todo:,} done, {s.failed:,} failed, {rate:.1f} items/s, {s.tokens:,} tokens, ETA {eta}"
        )
        if self._tty:
            width = 20
            filled = width * finished // self.todo if self.todo else width
            text = f"[{'#' * filled}{'.' * (width - filled)}] {text}"
        return text

    def record(self, record: Mapping[str, Any]) -> None:
        self.summary.add(record)
        if self.meter is not None:
            self.meter.add(record.get("usage"))
        now = self._clock()
        if self._stream is not None and now - self._last >= self._interval:
            self._last = now
            self._draw()

    def note(self, message: str) -> None:
        """A message line (kept above the progress bar on a terminal)."""
        if self._stream is None:
            return
        if self._drawn:
            self._stream.write("\r\x1b[K")
        self._stream.write(message + "\n")
        self._drawn = False
        self._stream.flush()

    def _draw(self) -> None:
        assert self._stream is not None
        if self._tty:
            self._stream.write("\r" + self.line() + "\x1b[K")
            self._drawn = True
        else:
            self._stream.write(self.line() + "\n")
        self._stream.flush()

    def finish(self) -> RunSummary:
        self.summary.elapsed = self._clock() - self._start
        if self.meter is not None:
            self.summary.cost = self.meter.estimate()
        if self._stream is not None and self.todo > 0:
            self._draw()
            if self._tty:
                self._stream.write("\n")
                self._drawn = False
        return self.summary


def _money(amount: float, currency: str) -> str:
    return f"{amount:,.4f} {currency}"


def format_summary(summary: RunSummary, *, region_label: str | None = None) -> str:
    """The closing summary: counts, token totals and the estimated cost breakdown."""
    s = summary
    lines = [
        f"items: {s.total:,} ({s.skipped:,} already done), this run: {s.done:,} ok, {s.failed:,} failed"
        f" in {format_duration(s.elapsed)}",
        f"tokens: input {s.input_tokens:,} (images {s.image_tokens:,}, video {s.video_tokens:,}), "
        f"reasoning {s.reasoning_tokens:,}, answer {s.answer_tokens:,}, total {s.tokens:,}",
    ]
    cost = s.cost
    if cost is None:
        lines.append("estimated cost: no price data for this model and region")
    else:
        where = f" ({region_label})" if region_label else ""
        discount = ", Batch API half price" if cost.batch_api else ""
        lines.append(
            f"estimated cost{where}{discount}: input {_money(cost.input, cost.currency)} "
            f"(images/video {_money(cost.image, cost.currency)}), reasoning {_money(cost.reasoning, cost.currency)}, "
            f"answer {_money(cost.answer, cost.currency)}, total {_money(cost.total, cost.currency)}"
        )
        lines.append(f"  {PRICES_NOTE}")
    return "\n".join(lines) + "\n"
