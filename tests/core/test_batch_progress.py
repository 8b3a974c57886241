"""Progress display, the closing summary and the cost estimate."""

from __future__ import annotations

import io

import pytest

from qwen_vl_core.batch import CostMeter, RunSummary, format_summary
from qwen_vl_core.batch.pricing import CostEstimate, price_for
from qwen_vl_core.batch.progress import Progress, format_duration


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def record(ok: bool = True, **usage: int) -> dict[str, object]:
    return {"id": "x", "error": None if ok else {"type": "E"}, "usage": usage or None}


def test_terminal_progress_redraws_one_line_with_a_bar() -> None:
    clock, stream = Clock(), io.StringIO()
    progress = Progress(5, stream, skipped=1, tty=True, clock=clock)
    clock.now += 1.0
    progress.record(record(input_tokens=100, output_tokens=20))
    clock.now += 0.05  # within 0.1 s: no redraw
    progress.record(record(ok=False))
    progress.note("a message")
    clock.now += 1.0
    summary = progress.finish()
    assert stream.getvalue() == (
        "\r[#####...............] 1/4 done, 0 failed, 1.0 items/s, 120 tokens, ETA 3s\x1b[K"
        "\r\x1b[Ka message\n"
        "\r[##########..........] 2/4 done, 1 failed, 1.0 items/s, 120 tokens, ETA 2s\x1b[K\n"
    )
    assert (summary.done, summary.failed, summary.elapsed, summary.tokens) == (1, 1, pytest.approx(2.05), 120)


def test_plain_progress_logs_every_interval_and_nothing_without_a_stream() -> None:
    clock, stream = Clock(), io.StringIO()
    progress = Progress(3, stream, tty=False, interval=10.0, clock=clock)
    for _ in range(3):
        clock.now += 6.0
        progress.record(record())
    progress.finish()
    assert stream.getvalue() == (
        "2/3 done, 0 failed, 0.2 items/s, 0 tokens, ETA 6s\n3/3 done, 0 failed, 0.2 items/s, 0 tokens, ETA 0s\n"
    )
    silent = Progress(1, None, clock=clock)
    silent.record(record())
    silent.note("ignored")
    assert silent.finish().done == 1


@pytest.mark.parametrize(("seconds", "text"), [(0.2, "0s"), (59.6, "1m00s"), (61, "1m01s"), (3725, "1h02m")])
def test_durations(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


def test_cost_uses_the_tier_of_each_request_and_the_batch_discount() -> None:
    assert price_for("qwen3-vl-plus-2025-09-23", "cn", 40_000) is not None
    meter = CostMeter("qwen3-vl-plus", "cn")  # CNY per million: 1 / 10 up to 32K input, 1.5 / 15, then 3 / 30
    meter.add({"input_tokens": 20_000, "image_tokens": 10_000, "output_tokens": 10_000, "reasoning_tokens": 4_000})
    meter.add({"input_tokens": 100_000, "output_tokens": 0})
    meter.add({"input_tokens": 200_000, "output_tokens": 1_000})
    meter.add(None)
    estimate = meter.estimate()
    assert estimate is not None
    assert (estimate.currency, estimate.batch_api) == ("CNY", False)
    assert [estimate.input, estimate.image, estimate.reasoning, estimate.answer] == pytest.approx(
        [0.02 + 0.15 + 0.6, 0.01, 0.04, 0.06 + 0.03]
    )
    half = CostMeter("qwen3-vl-flash", "intl", batch_api=True)
    half.add({"input_tokens": 2_000_000, "output_tokens": 1_000_000})
    halved = half.estimate()
    assert halved is not None
    assert halved.currency == "USD"
    assert (halved.input, halved.answer, halved.total) == pytest.approx((0.05, 0.2, 0.25))
    none = CostMeter("qvq-max", "us")
    none.add({"input_tokens": 10})
    assert (none.priced, none.estimate()) == (False, None)


def test_summary_text() -> None:
    summary = RunSummary(
        total=10, skipped=2, done=7, failed=1, input_tokens=5000, image_tokens=4000, video_tokens=0,
        reasoning_tokens=300, output_tokens=500, elapsed=75.0,
        cost=CostEstimate("CNY", 0.005, 0.004, 0.003, 0.002, batch_api=True),
    )  # fmt: skip
    assert format_summary(summary, region_label="Beijing (cn)") == (
        "items: 10 (2 already done), this run: 7 ok, 1 failed in 1m15s\n"
        "tokens: input 5,000 (images 4,000, video 0), reasoning 300, answer 200, total 5,500\n"
        "estimated cost (Beijing (cn)), Batch API half price: input 0.0050 CNY (images/video 0.0040 CNY), "
        "reasoning 0.0030 CNY, answer 0.0020 CNY, total 0.0100 CNY\n"
        "  list prices as of 2026-01 (see qwen_vl_core/batch/pricing.py); an estimate, not a bill\n"
    )
