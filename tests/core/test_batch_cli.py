"""`qwen-vl batch ...` end to end against the emulator."""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from qwen_vl_core.batch import JobManifest, read_records
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
    assert ": 1 batch(es), 3 requests; if this wait is interrupted, collect them later with: " in stderr
    assert stderr.count(f"qwen-vl batch fetch {out}.job\n") == 1


def test_submit_status_fetch_and_cancel_a_job(emu, tmp_path: Path) -> None:
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
    folder = stdout.strip()
    job = JobManifest.load(folder)
    batch_id = job.shards[0].batch_id
    assert (code, folder) == (1, f"{out}.job")  # one item could not be built
    assert stderr == (
        f"submitted 1 requests as 1 batch(es) (job {job.job_id}); later, from any machine with the key and this "
        f"folder: qwen-vl batch fetch {folder}\n1 items could not be built; their error records go to {out} on fetch\n"
    )
    key = ["--api-key", str(emu.api_key)]  # the job knows its endpoint
    code, stdout, _ = cli("batch", "status", folder, *key)
    head = f"job {job.job_id} ({folder}): 1 batch(es), 1 requests, "
    rejected = "  1 items could not be built (their error records are merged on fetch)\n"
    assert (code, stdout) == (
        0,
        f"{head}0 done, 0 failed; records go to {out}\n{rejected}"
        f"  shard 0: {batch_id}: in_progress, 0/1 done, 0 failed\n",
    )
    code, stdout, stderr = cli("batch", "fetch", folder, *key)
    assert (code, stderr) == (3, f"{batch_id}: finalizing, 1/1 done, 0 failed\n1 batch(es) not finished yet: fetch "
                                 "again later, or pass --wait\n")  # fmt: skip
    assert stdout.endswith(f"wrote 1 records to {out}\n")  # the item that could not be built
    code, stdout, _ = cli("batch", "fetch", folder, "--wait", "--poll-interval", "0", *key)
    assert (code, stdout) == (
        1,
        f"{head}1 done, 0 failed; records go to {out}\n{rejected}"
        f"  shard 0: {batch_id}: completed, 1/1 done, 0 failed, fetched\nwrote 1 records to {out}\n",
    )
    assert [(r["id"], r["answer"]) for r in read_records(out)] == [("y", None), ("x", "answer x")]
    code, stdout, _ = cli("batch", "fetch", folder, *key)
    assert (code, stdout.splitlines()[-1]) == (1, f"wrote 0 records to {out}")
    code, stdout, _ = cli("batch", "status", str(batch_id), *connect(emu))  # one batch by id still works
    assert (code, stdout.splitlines()[0]) == (0, f"{batch_id}: completed, 1/1 done, 0 failed")
    code, stdout, _ = cli("batch", "submit", str(manifest), "--out", str(tmp_path / "two.jsonl"), *connect(emu))
    second = JobManifest.load(stdout.strip())
    code, stdout, _ = cli("batch", "cancel", stdout.strip(), *key)
    assert (code, stdout.splitlines()[-1]) == (
        0,
        f"  shard 0: {second.shards[0].batch_id}: cancelling, 0/1 done, 0 failed",
    )
    code, stdout, _ = cli("batch", "status", str(second.folder), *key)
    assert stdout.splitlines()[-1] == f"  shard 0: {second.shards[0].batch_id}: cancelled, 0/1 done, 0 failed"


def test_fetch_one_batch_by_id_needs_out(emu, tmp_path: Path) -> None:
    code, _, stderr = cli("batch", "fetch", "batch_1", *connect(emu))
    assert (code, stderr) == (2, "error: fetching one batch by id needs --out (a job folder knows its output)\n")


def test_unsupported_region_or_model_is_exit_2_with_no_request(emu, photos, tmp_path: Path) -> None:
    out = str(tmp_path / "out.jsonl")
    code, _, stderr = cli(
        "batch", "run", str(photos), "--prompt", "q", "--out", out, "--via", "batch-api", *connect(emu, region="intl")
    )
    assert (code, stderr) == (
        2,
        "error: qwen3-vl-plus is batched only in Beijing (cn), not in Singapore (intl). Use --region cn with a key of "
        "that region, or --via realtime here.\n",
    )
    code, _, stderr = cli(
        "batch", "submit", str(photos), "--prompt", "q", "--model", "qvq-max", "--out", out, *connect(emu)
    )
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
    assert stderr.endswith(
        "(the Batch API for visual models runs in Beijing: --region cn with a Beijing key; qwen3.7-plus also in "
        "Singapore)\n"
    )


def test_emulator_demo(photos, tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    code, stdout, _ = cli("batch", "run", str(photos), "--prompt", "q", "--out", str(out), "--emulator")
    assert code == 0
    assert [r["answer"] for r in read_records(out)] == ["A product photo."] * 3
    assert stdout.endswith("estimated cost: no price data for this model and region\n")


def test_resuming_with_another_prompt_or_model_is_refused(emu, photos, tmp_path: Path) -> None:
    out = tmp_path / "same.jsonl"
    code, _, _ = cli("batch", "run", str(photos), "--prompt", "Label it.", "--out", str(out), *connect(emu))
    assert code == 0
    before = out.read_bytes()
    args = ["batch", "run", str(photos), "--prompt", "something else", "--model", "qvq-max", "--out", str(out)]
    code, stdout, stderr = cli(*args, *connect(emu))
    assert (code, stdout) == (2, "")
    assert stderr.startswith(
        f'error: {out} holds 3 records produced with other settings (model "qwen3-vl-plus" → "qvq-max"; prompt '
        '"Label it." → "something else"; thinking.effective false → true). Resuming would pass them off as answers '
        "to these settings. Run with the same settings, write to another --out, or pass --new-settings to start "
        f"{tmp_path}/same-"
    )
    assert (out.read_bytes(), len(emu.requests)) == (before, 3)
    emu.enqueue(*(Reply(reasoning="hm", text=f"other {n}") for n in range(3)))
    code, stdout, stderr = cli(*args, "--new-settings", *connect(emu))
    separate = next(p for p in tmp_path.iterdir() if p.name.startswith("same-"))
    assert (code, stdout.splitlines()[-1]) == (0, f"records: {separate}")
    assert stderr.startswith(f"settings differ from {out} (model ")
    # items run concurrently, so which item got which scripted answer depends on arrival order
    assert sorted(r["answer"] for r in read_records(separate)) == ["other 0", "other 1", "other 2"]
    assert out.read_bytes() == before


def test_retry_failed_supersedes_the_failed_record(emu, photos, tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    args = ["batch", "run", str(photos), "--prompt", "q", "--out", str(out), "--concurrency", "1", *connect(emu)]
    emu.enqueue(Reply(text="fine"), ErrorReply(400, "Bad image."), Reply(text="fine"))
    assert cli(*args)[0] == 1
    emu.enqueue(Reply(text="fine now"))
    code, stdout, _ = cli(*args, "--retry-failed")
    assert (code, stdout.splitlines()[0]) == (0, "items: 3 (2 already done), this run: 1 ok, 0 failed in 0s")
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(line.get("id"), line.get("supersedes")) for line in lines] == [
        (None, None), ("a.png", None), ("b.png", None), ("shelf/c.png", None), ("b.png", 3),
    ]  # fmt: skip
    assert [(r["id"], r["answer"]) for r in read_records(out)] == [
        ("a.png", "fine"), ("b.png", "fine now"), ("shelf/c.png", "fine"),
    ]  # fmt: skip


def test_ray_options_need_via_ray_and_via_ray_needs_ray(photos, tmp_path: Path, monkeypatch) -> None:
    out = str(tmp_path / "o.jsonl")
    code, _, stderr = cli("batch", "run", str(photos), "--prompt", "q", "--out", out, "--workers", "4")
    assert (code, stderr) == (2, "error: --workers and --ray-address apply to --via ray only.\n")
    monkeypatch.setitem(sys.modules, "ray", None)  # as if Ray were not installed
    monkeypatch.delitem(sys.modules, "qwen_vl_core.batch.ray", raising=False)
    code, _, stderr = cli("batch", "run", str(photos), "--prompt", "q", "--out", out, "--via", "ray")
    assert (code, stderr.startswith("error: --via ray needs Ray: pip install 'qwen-vl-reasoning[ray]' (")) == (2, True)
    assert not Path(out).exists()
