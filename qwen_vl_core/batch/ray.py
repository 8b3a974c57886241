"""Many machines: the same items, records and output as the real-time runner, over Ray Data (the `ray` extra).

    from qwen_vl_core.batch import BatchSettings, load_items
    from qwen_vl_core.batch.ray import ClientConfig, run_ray

    summary = run_ray(load_items("photos/"), "labels.jsonl", settings=BatchSettings("qwen3-vl-flash", "Label it."),
                      client=ClientConfig(region="intl"), workers=8, concurrency=16, rpm=6000)

The items become a Ray Data dataset (their descriptions: paths and URLs, not image bytes read
here). `map_batches` hands each block to a pool of `workers` actors; each actor keeps one client
and one event loop, reads and downscales the images of its block where it runs (next to the
data), and runs up to `concurrency` items at a time through the real-time runner's `ItemRunner`
(same requests, retries and records). One `RateLimiter` in a Ray actor holds the cluster-wide
`rpm` / `tpm` budget: every request reserves its start there and waits on its worker. The driver
writes each block's records as it comes back, one fsync per block, to a `.jsonl` file (the same
resumable file, settings header and supersession as the real-time runner) or a `.parquet` folder.
A worker that dies is restarted by Ray and its block runs again; blocks come back once, so records
already written stay and none is written twice.

On a cluster: start Ray on every machine (`ray start --head` on one, `ray start
--address=HEAD:6379` on the others), make this package and the input files (or URLs) reachable
from every node, set DASHSCOPE_API_KEY in the workers' environment (or pass `api_key`, which then
travels in the actors' constructor arguments), and pass `address="auto"` on the head node or
`address="ray://HEAD:10001"` (Ray Client) from elsewhere; `qwen-vl batch run ... --via ray
--ray-address ADDRESS` does the same. The output is written where the driver runs.
"""

from __future__ import annotations

import asyncio
import json
import os
import pickle
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TextIO

import pyarrow as pa
import ray
import ray.data
from pydantic import SecretStr

from ..client import QwenVLClient
from .build import BatchSettings
from .items import BatchItem
from .output import RecordWriter, is_parquet
from .parquet import ParquetWriter
from .pricing import CostMeter
from .progress import Progress, RunSummary
from .ratelimit import RateLimiter
from .realtime import DEFAULT_CONCURRENCY, ChatClient, ItemRunner, open_output

__all__ = ["ClientConfig", "run_ray"]


@dataclass(frozen=True)
class ClientConfig:
    """How each worker builds its `QwenVLClient` (picklable; any zero-argument callable returning a client works)."""

    api_key: SecretStr | str | None = None
    region: str | None = None
    base_url: str | None = None
    protocol: str = "openai"
    timeout: float | None = 600.0
    max_retries: int = 2

    def __call__(self) -> QwenVLClient:
        return QwenVLClient(
            api_key=self.api_key,
            region=self.region,
            base_url=self.base_url,
            protocol=self.protocol,
            timeout=self.timeout,
            max_retries=self.max_retries,
        )


class _Budget:
    """The cluster-wide rate limiter, run as one Ray actor."""

    def __init__(self, rpm: float | None, tpm: float | None) -> None:
        self.limiter = RateLimiter(rpm, tpm)

    def reserve(self, tokens: int) -> float:
        return self.limiter.reserve(tokens)

    def settle(self, estimated: int, actual: int) -> None:
        self.limiter.settle(estimated, actual)

    def pause(self, seconds: float) -> None:
        self.limiter.pause(seconds)


class _SharedLimiter:
    """The worker's view of `_Budget`: reserve there, wait here."""

    active = True

    def __init__(self, budget: Any) -> None:
        self.budget = budget

    async def acquire(self, tokens: int = 0) -> None:
        delay = await self.budget.reserve.remote(tokens)
        if delay > 0:
            await asyncio.sleep(delay)

    def settle(self, estimated: int, actual: int) -> None:
        self.budget.settle.remote(estimated, actual)

    def pause(self, seconds: float) -> None:
        self.budget.pause.remote(seconds)


class _Worker:
    """One actor of the pool: a client and an event loop kept for its whole life."""

    def __init__(
        self,
        settings: BatchSettings,
        factory: Callable[[], ChatClient],
        budget: Any,
        concurrency: int,
        include_reasoning: bool,
        item_retries: int,
    ) -> None:
        self.loop = asyncio.new_event_loop()
        self.client = factory()
        warm_up = getattr(self.client, "warm_up", None)
        if callable(warm_up):
            # A start is counted when the shared limiter grants it: the first request must not then
            # wait for the SDK's import, or the next starts would bunch up behind it.
            warm_up()
        limiter = _SharedLimiter(budget) if budget is not None else RateLimiter()
        self.runner = ItemRunner(
            self.client, settings, limiter, include_reasoning=include_reasoning, item_retries=item_retries
        )
        self.concurrency = concurrency

    async def _run(self, items: list[BatchItem]) -> list[dict[str, Any]]:
        gate = asyncio.Semaphore(self.concurrency)

        async def one(item: BatchItem) -> dict[str, Any]:
            async with gate:
                return await self.runner.process(item)

        return list(await asyncio.gather(*(one(item) for item in items)))

    def __call__(self, batch: pa.Table) -> pa.Table:
        items = [pickle.loads(raw) for raw in batch.column("item").to_pylist()]
        records = self.loop.run_until_complete(self._run(items))
        return pa.table(
            {"id": [r["id"] for r in records], "record": [json.dumps(r, ensure_ascii=False) for r in records]}
        )


def _connect(address: str | None, init: Mapping[str, Any] | None) -> bool:
    """Connect to (or start) Ray unless already connected; True when this call started it."""
    started = not ray.is_initialized()
    if started:
        ray.init(address=address, **{"include_dashboard": False, **(init or {})})
    with warnings.catch_warnings():  # Ray 2.60's DataContext() warns about its own default settings
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"ray\.data\.context")
        ray.data.DataContext.get_current()
    return started


def run_ray(
    items: Sequence[BatchItem],
    out: str | os.PathLike[str],
    *,
    settings: BatchSettings,
    client: Callable[[], ChatClient] | None = None,
    workers: int = 2,
    concurrency: int = DEFAULT_CONCURRENCY,
    rpm: float | None = None,
    tpm: float | None = None,
    batch_size: int | None = None,
    num_cpus: float = 1.0,
    include_reasoning: bool = True,
    retry_failed: bool = False,
    new_settings: bool = False,
    item_retries: int = 1,
    progress: TextIO | None = None,
    tty: bool | None = None,
    cost_region: str | None = None,
    address: str | None = None,
    ray_init: Mapping[str, Any] | None = None,
) -> RunSummary:
    """Run every item not yet in `out` on a Ray cluster and write its record; returns this run's summary.

    `client` builds each worker's client (default `ClientConfig()`: the environment's key and region).
    `workers` actors of `num_cpus` each run `concurrency` items at a time, fed blocks of `batch_size`
    items (default 4 x concurrency); `rpm` / `tpm` hold for all workers together. `out` ending in
    `.parquet` is written as a Parquet folder, anything else as JSONL. `address` is passed to
    `ray.init` (None: a local Ray instance), with `ray_init` as further arguments; a Ray already
    connected is used as it is, and one started here is shut down at the end.
    """
    for name, value in (("workers", workers), ("concurrency", concurrency)):
        if value < 1:
            raise ValueError(f"{name} must be at least 1, got {value}")
    factory = client if client is not None else ClientConfig()
    protocol = str(getattr(factory, "protocol", "openai"))
    path, state, header, note = open_output(out, settings, protocol=protocol, new_settings=new_settings)
    skip = state.done(retry_failed=retry_failed)
    todo = [item for item in items if item.id not in skip]
    meter = CostMeter(settings.model, cost_region) if cost_region else None
    reporter = Progress(len(items), progress, skipped=len(items) - len(todo), meter=meter, tty=tty)
    if note:
        reporter.note(note)
    if skip and todo:
        reporter.note(f"resuming: {len(items) - len(todo):,} of {len(items):,} items already in {path}")
    writer: RecordWriter | ParquetWriter
    if is_parquet(path):
        writer = ParquetWriter(path, state=state, header=header, include_reasoning=include_reasoning)
    else:
        writer = RecordWriter(path, state=state, header=header)
    started = False
    try:
        if todo:
            started = _connect(address, ray_init)
            budget = ray.remote(num_cpus=0, max_restarts=-1)(_Budget).remote(rpm, tpm) if rpm or tpm else None
            rows = [{"id": item.id, "item": pickle.dumps(item)} for item in todo]
            size = batch_size or 4 * concurrency
            dataset = ray.data.from_items(rows, override_num_blocks=max(1, min(len(rows) // size, 10_000)))
            mapped = dataset.map_batches(
                _Worker,
                batch_size=size,
                batch_format="pyarrow",
                num_cpus=num_cpus,
                compute=ray.data.ActorPoolStrategy(size=workers),
                fn_constructor_args=(settings, factory, budget, concurrency, include_reasoning, item_retries),
            )  # fmt: skip  (Ray Data restarts a dead actor and retries its blocks by default)
            for table in mapped.iter_batches(batch_format="pyarrow", batch_size=None):
                for text in table.column("record").to_pylist():
                    record = json.loads(text)
                    writer.append(record)
                    reporter.record(record)
                writer.sync()
    finally:
        writer.close()
        if started:
            ray.shutdown()
    summary = reporter.finish()
    summary.output = os.fspath(path)
    return summary
