"""`qwen-vl batch ...` end to end against the emulator."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from qwen_vl_core.batch import read_records
from qwen_vl_core.cli import main
from qwen_vl_core.testing import DashScopeEmulator, ErrorReply, Reply


@pytest.fixture
def emu() -> Iterator[DashScopeEmulator]:
    with DashScopeEmulator() as emulator:
        yield emulator


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    folder = tmp_path / "photos"
    (folder / "shelf").mkdir(parents=True)
    for name in ("b.png", "a.png", "shelf/c.png"):
        Image.new("RGB", (64, 48), (10, 200, 10)).save(folder / name, "PNG")
    return folder


def cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def connect(emu: DashScopeEmulator, *, region: str = "cn") -> list[str]:
    return ["--base-url", emu.base_url, "--api-key", str(emu.api_key), "--region", region]


def test_run_realtime_over_a_folder_then_resume(emu, photos, tmp_path: Path) -> None:
    emu.enqueue(*(Reply(text=f"answer {n}", reasoning="look", request_id=f"r{n}") for n in range(3)))
    out = tmp_path / "out.jsonl"
    args = ["batch", "run", str(photos), "--prompt", "What is on the shelf?", "--out", str(out), "--concurrency", "1"]
    code, stdout, stderr = cli(*args, *connect(emu), "--no-reasoning")
    assert code == 0, stderr
    records = read_records(out)
    assert [(r["id"], r["answer"], r["request_id"], "reasoning" in r) for r in records] == [
        ("a.png", "answer 0", "r0", False),
        ("b.png", "answer 1", "r1", False),
        ("shelf/c.png", "answer 2", "r2", False),
    ]
    assert stdout == (
        "items: 3 (0 already done), this run: 3 ok, 0 failed in 0s\n"
        # the emulator counts each 64x48 PNG as 2x2 Qwen3-VL tokens + 2, the text as 6
        "tokens: input 36 (images 18, video 0), reasoning 3, answer 3, total 42\n"
        "estimated cost (Beijing (cn)): input 0.0000 CNY (images/video 0.0000 CNY), reasoning 0.0000 CNY, "
        "answer 0.0000 CNY, total 0.0001 CNY\n"
        "  list prices as of 2026-01 (see qwen_vl_core/batch/pricing.py); an estimate, not a bill\n"
    )
    sent = emu.requests[0].body["messages"][0]["content"]
    assert (sent[0]["type"], sent[0]["image_url"]["url"][:22], sent[1]) == (
        "image_url",
        "data:image/png;base64,",
        {"type": "text", "text": "What is on the shelf?"},
    )
    code, stdout, _ = cli(*args, *connect(emu))
    assert (code, stdout.splitlines()[0]) == (0, "items: 3 (3 already done), this run: 0 ok, 0 failed in 0s")
    assert len(emu.requests) == 3


def test_run_records_item_failures_and_exits_1(emu, photos, tmp_path: Path) -> None:
    emu.enqueue(Reply(text="fine"), ErrorReply(400, "Bad image."), Reply(text="fine"))
    out = tmp_path / "out.jsonl"
    code, stdout, _ = cli(
        "batch", "run", str(photos), "--prompt", "q", "--out", str(out), "--concurrency", "1", *connect(emu)
    )
    assert code == 1
    assert "this run: 2 ok, 1 failed" in stdout
    assert [r["error"]["message"] if r["error"] else None for r in read_records(out)] == [None, "Bad image.", None]


def test_run_via_batch_api(emu, photos, tmp_path: Path) -> None:
    emu.enqueue(*(Reply(text=f"label {n}", request_id=f"r{n}") for n in range(3)))
    out = tmp_path / "out.jsonl"
    code, stdout, stderr = cli(
        "batch", "run", str(photos), "--prompt", "Label it.", "--out", str(out), "--via", "batch-api",
        "--poll-interval", "0", *connect(emu),
    )  # fmt: skip
    assert code == 0, stderr
    assert [(r["id"], r["answer"]) for r in read_records(out)] == [
        ("a.png", "label 0"),
        ("b.png", "label 1"),
        ("shelf/c.png", "label 2"),
    ]
    assert "Batch API half price" in stdout
    assert "submitted batch batch_" in stderr
    assert f"--out {out}" in stderr


def test_submit_status_fetch_and_cancel(emu, tmp_path: Path) -> None:
    manifest = tmp_path / "m.jsonl"
    manifest.write_text(
        json.dumps({"id": "x", "prompt": "one"})
        + "\n"
        + json.dumps({"id": "y", "image": "missing.png", "prompt": "two"})
        + "\n"
    )
    out = tmp_path / "out.jsonl"
    emu.enqueue(Reply(text="answer x", request_id="rx"))
    code, stdout, stderr = cli("batch", "submit", str(manifest), "--out", str(out), *connect(emu))
    batch_id = stdout.strip()
    assert (code, batch_id.startswith("batch_")) == (1, True)  # one item could not be built
    assert f"not submitted: y: The image file '{tmp_path / 'missing.png'}' does not exist" in stderr
    assert [r["id"] for r in read_records(out)] == ["y"]
    code, stdout, _ = cli("batch", "status", batch_id, *connect(emu))
    assert (code, stdout) == (0, f"{batch_id}: in_progress, 0/1 done, 0 failed\n")
    code, _, stderr = cli("batch", "fetch", batch_id, "--out", str(out), *connect(emu))
    assert (code, stderr) == (
        3,
        f"{batch_id}: finalizing, 1/1 done, 0 failed\nnot finished yet: fetch again later, or pass --wait\n",
    )
    code, stdout, _ = cli(
        "batch", "fetch", batch_id, "--out", str(out), "--wait", "--poll-interval", "0", *connect(emu)
    )
    assert (code, stdout) == (0, f"{batch_id}: completed, 1/1 done, 0 failed\nwrote 1 records to {out}\n")
    assert [(r["id"], r["answer"]) for r in read_records(out)] == [("y", None), ("x", "answer x")]
    code, stdout, _ = cli("batch", "fetch", batch_id, "--out", str(out), *connect(emu))
    assert stdout.endswith("wrote 0 records to " + str(out) + " (1 already there)\n")
    code, stdout, _ = cli("batch", "submit", str(manifest), *connect(emu))
    second = stdout.strip()
    code, stdout, _ = cli("batch", "cancel", second, *connect(emu))
    assert (code, stdout) == (0, f"{second}: cancelling, 0/0 done, 0 failed\n")
    code, stdout, _ = cli("batch", "status", second, *connect(emu))
    assert stdout == f"{second}: cancelled, 0/0 done, 0 failed\n"


def test_unsupported_region_or_model_is_exit_2_with_no_request(emu, photos, tmp_path: Path) -> None:
    out = str(tmp_path / "out.jsonl")
    code, _, stderr = cli(
        "batch", "run", str(photos), "--prompt", "q", "--out", out, "--via", "batch-api", *connect(emu, region="intl")
    )
    assert (code, stderr) == (
        2,
        "error: The Model Studio Batch API runs Qwen-VL models only in the Beijing region (cn); this endpoint is in "
        "Singapore (intl). Use --region cn with a Beijing API key, or --via realtime here.\n",
    )
    code, _, stderr = cli("batch", "submit", str(photos), "--prompt", "q", "--model", "qvq-max", *connect(emu))
    assert code == 2
    assert stderr.startswith("error: qvq-max answers only streaming requests")
    assert emu.requests == []


def test_input_errors_are_exit_2(tmp_path: Path, photos) -> None:
    code, _, stderr = cli(
        "batch", "run", str(photos), "--out", str(tmp_path / "o.jsonl"), "--base-url", "http://127.0.0.1:9/v1"
    )
    assert (code, stderr) == (2, "error: a folder of images needs --prompt (what to ask about each image)\n")
    assert not (tmp_path / "o.jsonl").exists()
    code, _, stderr = cli("batch", "run", str(tmp_path / "nothing"), "--out", "o.jsonl")
    assert (code, stderr) == (
        2,
        f"error: {str(tmp_path / 'nothing')!r} is neither a folder of images nor a JSONL manifest.\n",
    )


def test_pacing_options_with_the_batch_api_are_exit_2(tmp_path: Path, photos) -> None:
    code, _, stderr = cli(
        "batch", "run", str(photos), "--prompt", "?", "--out", str(tmp_path / "o.jsonl"), "--via", "batch-api",
        "--rpm", "60", "--region", "cn",
    )  # fmt: skip
    assert (code, stderr) == (
        2,
        "error: --concurrency, --rpm and --tpm pace real-time runs; the Batch API schedules the requests itself. "
        "Drop them, or use --via realtime.\n",
    )
    assert not (tmp_path / "o.jsonl").exists()


def test_without_a_key_the_batch_api_says_what_to_set(monkeypatch) -> None:
    monkeypatch.delenv("DASHSCOPE_API_KEY", raising=False)
    code, _, stderr = cli("batch", "status", "batch_1", "--region", "cn")
    assert code == 2
    assert stderr.startswith("error: No DashScope API key: set the DASHSCOPE_API_KEY environment variable")
    assert stderr.endswith("(the Batch API for Qwen-VL runs in Beijing: --region cn with a Beijing key)\n")


def test_emulator_demo(photos, tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    code, stdout, _ = cli("batch", "run", str(photos), "--prompt", "q", "--out", str(out), "--emulator")
    assert code == 0
    assert [r["answer"] for r in read_records(out)] == ["A product photo."] * 3
    assert stdout.endswith("estimated cost: no price data for this model and region\n")
