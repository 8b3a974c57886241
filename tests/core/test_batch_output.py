"""The output file: durable appends, resume state, torn last lines; and the rate limiter."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import pytest

from qwen_vl_core.batch import RateLimiter, RecordWriter, read_records, scan_output
from qwen_vl_core.batch.output import GroupSync, OutputState


def ok(item_id: str, answer: str = "x") -> dict[str, object]:
    return {"id": item_id, "answer": answer, "error": None}


def failed(item_id: str) -> dict[str, object]:
    return {"id": item_id, "answer": None, "error": {"type": "ServerError", "message": "boom"}}


def test_missing_file_is_empty(tmp_path: Path) -> None:
    assert scan_output(tmp_path / "none.jsonl") == OutputState()
    assert read_records(tmp_path / "none.jsonl") == []


def test_writer_appends_one_line_per_record_and_creates_folders(tmp_path: Path) -> None:
    out = tmp_path / "deep" / "out.jsonl"
    with RecordWriter(out) as writer:
        writer.write(ok("a", "猫"))
        writer.write(failed("b"))
        assert writer.written == 2
    with RecordWriter(out) as writer:
        writer.write(ok("c"))
    assert out.read_text(encoding="utf-8").splitlines() == [
        '{"id": "a", "answer": "猫", "error": null}',
        '{"id": "b", "answer": null, "error": {"type": "ServerError", "message": "boom"}}',
        '{"id": "c", "answer": "x", "error": null}',
    ]
    with pytest.raises(ValueError, match="the writer is closed"):
        writer.write(ok("d"))


def test_scan_knows_ok_failed_and_the_latest_record_wins(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    lines = [ok("a"), failed("b"), failed("c"), ok("c"), ok("d"), failed("d")]
    out.write_text("".join(json.dumps(r) + "\n" for r in lines) + "garbage line\n[1]\n")
    state = scan_output(out)
    assert (state.ok, state.failed, state.torn, state.valid_bytes, state.header, state.records, state.lines) == (
        {"a", "c"},
        {"b": 2, "d": 6},
        False,
        out.stat().st_size,
        None,
        6,
        8,
    )
    assert state.done() == {"a", "b", "c", "d"}
    assert state.done(retry_failed=True) == {"a", "c"}
    assert read_records(out) == [ok("a"), failed("b"), ok("c"), failed("d")]
    assert read_records(out, latest=False) == lines


def test_torn_last_line_is_dropped_when_resuming(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    whole = json.dumps(ok("a")) + "\n"
    out.write_text(whole + '{"id": "b", "answ')
    state = scan_output(out)
    assert (state.ok, state.torn, state.valid_bytes) == ({"a"}, True, len(whole))
    assert read_records(out) == [ok("a")]
    with RecordWriter(out, state=state) as writer:
        writer.write(ok("b"))
    assert out.read_text() == whole + json.dumps(ok("b")) + "\n"


HEADER = {"qwen_vl_batch": {"version": 1, "fingerprint": "f" * 16, "settings": {"model": "m"}}}


def test_header_is_written_first_and_skipped_by_readers(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    with RecordWriter(out, header=HEADER) as writer:
        writer.write(ok("a"))
    with RecordWriter(out, header=HEADER) as writer:  # records exist: the header is not written again
        writer.write(ok("b"))
    assert out.read_text().splitlines() == [json.dumps(HEADER), json.dumps(ok("a")), json.dumps(ok("b"))]
    state = scan_output(out)
    assert (state.header, state.records, state.lines, state.ok) == (HEADER["qwen_vl_batch"], 2, 3, {"a", "b"})
    assert read_records(out) == [ok("a"), ok("b")]


def test_a_file_with_only_a_header_starts_over_with_the_new_one(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    out.write_text(json.dumps({"qwen_vl_batch": {"version": 1, "settings": {"model": "old"}}}) + "\n" + '{"id": "to')
    with RecordWriter(out, header=HEADER) as writer:
        writer.write(ok("a"))
    assert out.read_text().splitlines() == [json.dumps(HEADER), json.dumps(ok("a"))]


def test_a_retried_record_supersedes_the_failed_one_by_line_number(tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    with RecordWriter(out, header=HEADER) as writer:
        for record in (ok("a"), failed("b"), failed("c")):
            writer.write(record)
    with RecordWriter(out) as writer:
        writer.write(ok("b"))  # line 5 replaces line 3
        writer.write(failed("c"))  # failed again: line 6 replaces line 4
        writer.write(ok("c"))  # line 7 replaces line 6
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [line.get("supersedes") for line in lines] == [None, None, None, None, 3, 4, 6]
    assert read_records(out) == [ok("a"), {**ok("b"), "supersedes": 3}, {**ok("c"), "supersedes": 6}]
    assert (scan_output(out).ok, scan_output(out).failed) == ({"a", "b", "c"}, {})


class FakeClock:
    """A clock that only moves when someone sleeps on it."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


async def test_rpm_spaces_starts_evenly() -> None:
    clock = FakeClock()
    limiter = RateLimiter(rpm=120, clock=clock, sleep=clock.sleep)
    starts = []
    for _ in range(6):
        await limiter.acquire()
        starts.append(clock.now)
    assert starts == [0.0, 0.5, 1.0, 1.5, 2.0, 2.5]


async def test_tpm_holds_the_token_rate_and_settle_corrects_the_estimate() -> None:
    clock = FakeClock()
    limiter = RateLimiter(tpm=6000, clock=clock, sleep=clock.sleep)  # 100 tokens/s, one second of burst
    await limiter.acquire(100)
    assert clock.now == 0.0
    await limiter.acquire(300)  # more than a burst: waits for a full bucket, then goes into debt
    assert clock.now == 1.0
    await limiter.acquire(50)  # the 200-token debt plus 50 tokens: 2.5 s more
    assert clock.now == 3.5
    limiter.settle(estimated=50, actual=250)  # the server reported 200 more tokens: 2 s of debt
    await limiter.acquire(10)
    assert clock.now == pytest.approx(5.6)
    limiter.settle(estimated=1000, actual=10)  # an overestimate gives tokens back, up to one burst
    await limiter.acquire(100)
    assert clock.now == pytest.approx(5.6)


async def test_both_limits_and_pause() -> None:
    clock = FakeClock()
    limiter = RateLimiter(rpm=60, tpm=60_000, clock=clock, sleep=clock.sleep)
    await limiter.acquire(2000)
    await limiter.acquire(10)  # requests allow one a second; the 1,000-token debt plus 10 tokens: 1.01 s
    assert clock.now == pytest.approx(1.01)
    await limiter.acquire(10)  # now only the request spacing holds it back
    assert clock.now == pytest.approx(2.01)
    limiter.pause(30)
    await limiter.acquire(10)
    assert clock.now == pytest.approx(32.01)
    assert not RateLimiter().active
    with pytest.raises(ValueError, match="rpm must be positive, got 0"):
        RateLimiter(rpm=0)


async def test_group_sync_shares_one_fsync_between_concurrent_records(tmp_path: Path, monkeypatch) -> None:
    synced: list[int] = []
    real_fsync = os.fsync

    def counting_fsync(fd: int) -> None:
        synced.append(fd)
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", counting_fsync)
    out = tmp_path / "out.jsonl"
    group = GroupSync(RecordWriter(out))
    await asyncio.gather(*(group.commit(ok(str(n))) for n in range(10)))
    assert len(synced) == 1  # ten records, one fsync
    await group.commit(ok("10"))
    assert len(synced) == 2
    await group.aclose()
    assert len(synced) == 3  # closing syncs once more
    assert [r["id"] for r in read_records(out)] == [str(n) for n in range(11)]


async def test_group_sync_reports_a_failing_disk(tmp_path: Path, monkeypatch) -> None:
    def broken_fsync(fd: int) -> None:
        raise OSError(28, "No space left on device")

    group = GroupSync(RecordWriter(tmp_path / "out.jsonl"))
    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="No space left on device"):
        await group.commit(ok("a"))
    monkeypatch.undo()
    await group.aclose()


async def test_group_sync_without_durability_never_syncs(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(os, "fsync", lambda fd: pytest.fail("fsync called"))
    group = GroupSync(RecordWriter(tmp_path / "out.jsonl", durable=False))
    await group.commit(ok("a"))
    await group.aclose()
    assert read_records(tmp_path / "out.jsonl") == [ok("a")]
