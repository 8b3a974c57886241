"""`run_ray` on a local Ray instance (2 CPUs) against the emulator: same records, shared rate limit, dead workers.

Skipped when Ray is not installed (`pip install -e ".[ray]"`). One Ray instance serves the module.
"""

from __future__ import annotations

import io
import json
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ray = pytest.importorskip("ray")

from qwen_vl_core import ChatRequest, ChatResult, QwenVLClient  # noqa: E402
from qwen_vl_core.batch import BatchItem, BatchSettings, arun_realtime, read_records  # noqa: E402
from qwen_vl_core.batch.ray import ClientConfig, run_ray  # noqa: E402
from qwen_vl_core.cli import main  # noqa: E402
from qwen_vl_core.testing import DashScopeEmulator, ErrorReply, Reply  # noqa: E402
from qwen_vl_core.testing._http import RawRequest, Response  # noqa: E402
from qwen_vl_core.testing._script import Script  # noqa: E402

SETTINGS = BatchSettings("qwen3-vl-plus", "Describe it.")


@pytest.fixture(scope="module", autouse=True)
def local_ray() -> Iterator[None]:
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the workers cannot import this test module
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="warning")
    yield
    ray.shutdown()


class KeyedEmulator(DashScopeEmulator):
    """Answers each chat request with the script for its prompt (arrival order does not matter); notes
    when each arrived and the `x-worker` header it carried."""

    def __init__(self, scripts: dict[str, Script], **options: Any) -> None:
        super().__init__(**options)
        self.scripts = scripts
        self.arrivals: list[tuple[float, str]] = []
        self._prompt = ""

    def _dispatch(self, request: RawRequest, connection: int) -> Response:
        body = json.loads(request.body) if request.body.startswith(b"{") else {}
        content = body.get("messages", [{}])[-1].get("content") if isinstance(body, dict) else None
        if isinstance(content, str):
            self._prompt = content
            self.arrivals.append((time.monotonic(), request.headers.get("x-worker", "")))
        return super()._dispatch(request, connection)

    def _pop(self) -> Script:
        return self.scripts.get(self._prompt) or super()._pop()


@dataclass(frozen=True)
class TaggedConfig:
    """A client that says which worker process it lives in."""

    base_url: str
    api_key: str

    def __call__(self) -> QwenVLClient:
        return QwenVLClient(
            base_url=self.base_url, api_key=self.api_key, default_headers={"x-worker": str(os.getpid())}
        )


class DyingClient:
    """Kills its whole worker process at the prompt "die", once (the marker file remembers)."""

    def __init__(self, inner: QwenVLClient, marker: Path) -> None:
        self.inner, self.marker = inner, marker

    async def achat(self, request: ChatRequest) -> ChatResult:
        if request.messages[-1].text == "die" and not self.marker.exists():
            self.marker.write_text(str(os.getpid()))
            os._exit(1)
        return await self.inner.achat(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


@dataclass(frozen=True)
class DyingConfig:
    base_url: str
    api_key: str
    marker: str

    def __call__(self) -> DyingClient:
        return DyingClient(QwenVLClient(base_url=self.base_url, api_key=self.api_key), Path(self.marker))


def scripted(count: int) -> tuple[list[BatchItem], dict[str, Script]]:
    work = [
        BatchItem(f"item-{n:02d}", prompt=f"question {n}", options={"thinking": True} if n % 3 == 0 else {})
        for n in range(count)
    ]
    scripts: dict[str, Script] = {
        f"question {n}": ErrorReply(400, f"Bad image {n}.", request_id=f"r{n}")
        if n % 5 == 4
        else Reply(reasoning=f"looking at {n}" if n % 3 == 0 else "", text=f"answer {n}", request_id=f"r{n}")
        for n in range(count)
    }
    return work, scripts


async def test_the_same_records_as_the_realtime_runner_as_jsonl_and_parquet(tmp_path: Path) -> None:
    work, scripts = scripted(12)
    with KeyedEmulator(scripts) as emu:
        client = QwenVLClient(base_url=emu.base_url, api_key=emu.api_key, max_retries=0)
        try:
            await arun_realtime(work, tmp_path / "realtime.jsonl", client=client, settings=SETTINGS, concurrency=3)
        finally:
            await client.aclose()
        config = ClientConfig(base_url=emu.base_url, api_key=emu.api_key, max_retries=0)
        options: dict[str, Any] = {"settings": SETTINGS, "client": config, "workers": 2, "concurrency": 2}
        summary = run_ray(work, tmp_path / "ray.jsonl", batch_size=3, **options)
        parquet = run_ray(work, tmp_path / "ray.parquet", batch_size=5, **options)
    expected = sorted(read_records(tmp_path / "realtime.jsonl"), key=lambda r: r["id"])
    assert sorted(read_records(tmp_path / "ray.jsonl"), key=lambda r: r["id"]) == expected
    assert sorted(read_records(tmp_path / "ray.parquet"), key=lambda r: r["id"]) == expected
    assert [r["answer"] for r in expected[:2]] == ["answer 0", "answer 1"]
    assert expected[4]["error"]["message"] == "Bad image 4."
    assert (summary.done, summary.failed, parquet.done, parquet.failed) == (10, 2, 10, 2)
    header = (tmp_path / "realtime.jsonl").read_text().splitlines()[0]
    assert (tmp_path / "ray.jsonl").read_text().splitlines()[0] == header


async def test_the_rate_limit_holds_across_workers(tmp_path: Path) -> None:
    work = [BatchItem(f"item-{n:02d}", prompt=f"q{n}") for n in range(10)]
    with KeyedEmulator({}, default_reply=Reply(text="ok")) as emu:
        config = TaggedConfig(emu.base_url, str(emu.api_key))
        run_ray(
            work, tmp_path / "out.jsonl", settings=SETTINGS, client=config, workers=2, concurrency=4, batch_size=2,
            rpm=240,
        )  # fmt: skip
    times = sorted(at for at, _ in emu.arrivals)
    assert len({worker for _, worker in emu.arrivals}) == 2  # both workers sent requests

    # One start every 0.25 s for the two workers together: 4 in any second, 2 in any half second. A
    # limit per worker would let twice that through. (The first request of a worker may arrive late,
    # while its client warms up, so the window counts allow one start more, not the span of the run.)
    def most_in(seconds: float) -> int:
        return max(sum(1 for t in times if start <= t < start + seconds) for start in times)

    assert (most_in(0.5), most_in(1.0)) <= (3, 5)
    assert most_in(1.0) <= 5


async def test_a_worker_killed_mid_run_loses_no_finished_record(tmp_path: Path) -> None:
    work = [BatchItem(f"item-{n:02d}", prompt="die" if n == 9 else f"q{n}") for n in range(12)]
    marker = tmp_path / "killed"
    with KeyedEmulator({}, default_reply=Reply(text="ok")) as emu:
        config = DyingConfig(emu.base_url, str(emu.api_key), str(marker))
        summary = run_ray(work, tmp_path / "out.jsonl", settings=SETTINGS, client=config, workers=2, batch_size=2)
    assert marker.exists()  # a worker process did die
    records = read_records(tmp_path / "out.jsonl", latest=False)
    assert sorted(r["id"] for r in records) == [i.id for i in work]  # every record, each once
    assert all(r["error"] is None for r in records)
    assert (summary.done, summary.failed) == (12, 0)


def test_via_ray_from_the_command_line_resumes_and_supersedes(tmp_path: Path) -> None:
    manifest = tmp_path / "items.jsonl"
    manifest.write_text("".join(json.dumps({"id": f"i{n}", "prompt": f"q{n}"}) + "\n" for n in range(4)))
    out = tmp_path / "out.parquet"
    with KeyedEmulator({"q2": ErrorReply(400, "Nope.")}, default_reply=Reply(text="fine")) as emu:
        args = ["batch", "run", str(manifest), "--out", str(out), "--via", "ray", "--workers", "1"]
        connect = ["--base-url", emu.base_url, "--api-key", str(emu.api_key)]
        first = main([*args, *connect], out=io.StringIO(), err=io.StringIO())
        emu.scripts.clear()
        stdout = io.StringIO()
        second = main([*args, *connect, "--retry-failed"], out=stdout, err=io.StringIO())
    assert (first, second) == (1, 0)
    assert stdout.getvalue().startswith("items: 4 (3 already done), this run: 1 ok, 0 failed in ")
    assert [(r["id"], r["answer"], r.get("supersedes")) for r in read_records(out)] == [
        ("i0", "fine", None), ("i1", "fine", None), ("i2", "fine", 3), ("i3", "fine", None),
    ]  # fmt: skip
