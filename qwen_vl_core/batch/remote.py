"""The Model Studio Batch API (OpenAI-compatible Files + Batches) through the openai SDK.

    api = BatchAPIClient(region="cn")
    status = api.submit(items, BatchSettings(model="qwen3-vl-plus", prompt="Label this photo."))
    ...                                   # tomorrow, on any machine with the key:
    BatchAPIClient(region="cn").fetch(status.id, "labels.jsonl", wait=True)

Each line is built like a real-time request (`build_request`, then `prepare_media` and
`build_compat_body`: same checks, same policies, images inline as data URLs within the 10 MiB limit),
without streaming. Support (model and region) and the file limits are checked before anything is
uploaded. Results map to the same records as the real-time path; `fetch` needs only the batch id,
because every line's `custom_id` is the item id.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any, Final, TypeVar

from pydantic import SecretStr

if TYPE_CHECKING:
    import openai

from ..catalog import get_spec
from ..errors import APIConnectionError, APITimeoutError, NotFoundError, QwenVLError, error_from_body, parse_error_body
from ..media import prepare_media
from ..regions import Endpoint, require_api_key, resolve_api_key, resolve_endpoint
from ..request_compat import build_compat_body
from ..types import ChatRequest
from .build import BatchSettings, build_request
from .items import BatchItem
from .ratelimit import Sleep
from .records import record_from_error
from .support import MAX_BATCH_BYTES, MAX_BATCH_REQUESTS, check_batch_support, region_of

__all__ = [
    "BATCH_ENDPOINT",
    "TERMINAL_STATUSES",
    "BatchAPIClient",
    "BatchFailedError",
    "BatchStatus",
    "PreparedBatch",
    "build_batch_line",
]

BATCH_ENDPOINT: Final = "/v1/chat/completions"
COMPLETION_WINDOW: Final = "24h"
TERMINAL_STATUSES = frozenset({"completed", "failed", "expired", "cancelled"})
T = TypeVar("T")


class BatchFailedError(QwenVLError):
    """The batch itself failed (its input was rejected); no item ran."""


@dataclass(frozen=True)
class BatchStatus:
    """The parts of a batch object a caller acts on."""

    id: str
    status: str
    total: int = 0
    completed: int = 0
    failed: int = 0
    output_file_id: str | None = None
    error_file_id: str | None = None
    errors: tuple[str, ...] = ()
    created_at: int | None = None

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES

    @classmethod
    def from_batch(cls, batch: Any) -> BatchStatus:
        counts = batch.request_counts
        errors = tuple(
            f"line {e.line}: {e.message}" if getattr(e, "line", None) else str(e.message)
            for e in ((batch.errors.data or []) if batch.errors is not None else [])
        )
        return cls(
            id=batch.id,
            status=batch.status,
            total=counts.total if counts else 0,
            completed=counts.completed if counts else 0,
            failed=counts.failed if counts else 0,
            output_file_id=batch.output_file_id or None,
            error_file_id=batch.error_file_id or None,
            errors=errors,
            created_at=batch.created_at,
        )

    def describe(self) -> str:
        text = f"{self.id}: {self.status}, {self.completed:,}/{self.total:,} done, {self.failed:,} failed"
        return text + "".join(f"\n  error: {e}" for e in self.errors)


def build_batch_line(item_id: str, request: ChatRequest, *, downscale: bool = True) -> dict[str, Any]:
    """One input-file line: the compat body the real-time path would send, minus streaming."""
    spec = get_spec(request.model)
    body = build_compat_body(prepare_media(request, spec, downscale=downscale), spec, stream=False, batch=True)
    if body.get("stream"):
        raise ValueError(f"item {item_id!r}: Batch API requests cannot stream; remove 'stream' from extra_body.")
    return {"custom_id": item_id, "method": "POST", "url": BATCH_ENDPOINT, "body": body}


@dataclass
class PreparedBatch:
    """The JSONL input file (in a temporary file), its item ids, and the items that failed to build."""

    model: str
    file: IO[bytes]
    ids: list[str] = field(default_factory=list)
    rejected: list[dict[str, Any]] = field(default_factory=list)
    size: int = 0

    def close(self) -> None:
        self.file.close()


def _map_error(exc: Exception) -> QwenVLError:
    import openai  # on first use: the SDK is most of the import time of the library

    if isinstance(exc, openai.APIStatusError):
        response = exc.response
        rid = response.headers.get("x-request-id")
        if response.status_code == 404:  # the core's hint is about model names; here it is an id
            payload = parse_error_body(response.text) or {}
            inner = payload.get("error")
            message = inner.get("message") if isinstance(inner, Mapping) else payload.get("message")
            return NotFoundError(
                f"{message or 'Not found.'} Check the batch or file id, and that the key is for the region "
                "(and workspace) the batch was created in.",
                status=404,
                code="not_found",
                request_id=rid,
            )
        return error_from_body(response.status_code, response.text, request_id=rid)
    if isinstance(exc, openai.APITimeoutError):
        return APITimeoutError(f"The Batch API did not answer in time: {exc}")
    if isinstance(exc, openai.APIConnectionError):
        return APIConnectionError(f"Could not reach the Batch API: {exc.__cause__ or exc}")
    raise exc


async def _call(awaitable: Awaitable[T]) -> T:
    import openai  # on first use: the SDK is most of the import time of the library

    try:
        return await awaitable
    except openai.APIError as exc:
        raise _map_error(exc) from exc


class BatchAPIClient:
    """Submit, watch, fetch and cancel batches. Construction needs no key and no network.

    `region` picks the endpoint (`cn` for Beijing, the only region that batches Qwen-VL); with an
    explicit `base_url` it states the region that URL belongs to (None: not checked). Polling
    starts at `poll_interval` seconds and backs off by half each time up to `max_poll_interval`.
    """

    def __init__(
        self,
        *,
        api_key: SecretStr | str | None = None,
        region: str | None = None,
        base_url: str | None = None,
        timeout: float = 300.0,
        max_retries: int = 2,
        poll_interval: float = 5.0,
        max_poll_interval: float = 60.0,
        check_support: bool = True,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.endpoint: Endpoint = resolve_endpoint(region=region, base_url=base_url)
        declared = region.strip().lower() if region and base_url else None
        self.region = self.endpoint.region or region_of(self.endpoint.base_url) or declared
        self.check_support = check_support
        self.poll_interval, self.max_poll_interval = poll_interval, max_poll_interval
        self._api_key = api_key
        self._options: dict[str, Any] = {"timeout": timeout, "max_retries": max_retries}
        self._sleep = sleep
        self._client: openai.AsyncOpenAI | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _key(self) -> SecretStr:
        explicit = resolve_api_key(self._api_key, env={})
        if explicit is not None:
            return explicit
        if not self.endpoint.is_dashscope:
            return SecretStr("EMPTY")  # DASHSCOPE_API_KEY is never sent anywhere else
        return require_api_key(resolve_api_key(None), self.endpoint)

    def _openai(self) -> openai.AsyncOpenAI:
        import openai  # on first use: the SDK is most of the import time of the library

        loop = asyncio.get_running_loop()
        if self._client is None or self._loop is not loop:
            key = self._key().get_secret_value()
            self._client = openai.AsyncOpenAI(api_key=key, base_url=self.endpoint.base_url, **self._options)
            self._loop = loop
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.close()
            self._client = None

    def _sync(self, work: Callable[[], Awaitable[T]]) -> T:
        async def main() -> T:
            try:
                return await work()
            finally:
                await self.aclose()

        return asyncio.run(main())

    # -- building --------------------------------------------------------------------------------

    def prepare(
        self,
        items: Iterable[BatchItem],
        settings: BatchSettings,
        *,
        skip: Collection[str] = (),
        include_reasoning: bool = True,
    ) -> PreparedBatch:
        """Check support, then build the input file; items that fail to build become error records."""
        if self.check_support:
            check_batch_support(settings.model, self.region)
        prepared = PreparedBatch(settings.model, tempfile.TemporaryFile())  # noqa: SIM115 - closed by its owner
        try:
            for item in items:
                if item.id in skip:
                    continue
                try:
                    line = build_batch_line(item.id, build_request(item, settings))
                except Exception as exc:  # this item only: recorded, never uploaded
                    prepared.rejected.append(record_from_error(item.id, exc, include_reasoning=include_reasoning))
                    continue
                prepared.size += prepared.file.write(json.dumps(line, ensure_ascii=False).encode() + b"\n")
                prepared.ids.append(item.id)
            if self.check_support and len(prepared.ids) > MAX_BATCH_REQUESTS:
                raise ValueError(
                    f"{len(prepared.ids):,} requests is over the Batch API's {MAX_BATCH_REQUESTS:,} per file; "
                    "split the input (a manifest per batch)."
                )
            if self.check_support and prepared.size > MAX_BATCH_BYTES:
                raise ValueError(
                    f"The batch file would be {prepared.size:,} bytes (images inline), over {MAX_BATCH_BYTES:,}; "
                    "split the input, or use http(s) image URLs."
                )
        except BaseException:
            prepared.close()
            raise
        prepared.file.seek(0)
        return prepared

    # -- the API ---------------------------------------------------------------------------------

    async def asubmit_prepared(
        self, prepared: PreparedBatch, *, metadata: Mapping[str, str] | None = None
    ) -> BatchStatus:
        """Upload the input file and create the batch."""
        if not prepared.ids:
            raise ValueError("Nothing to submit: every item is already done or failed to build.")
        import openai

        client = self._openai()
        upload = ("qwen-vl-batch.jsonl", prepared.file, "application/jsonl")
        file = await _call(client.files.create(file=upload, purpose="batch"))
        batch = await _call(
            client.batches.create(
                input_file_id=file.id,
                endpoint=BATCH_ENDPOINT,
                completion_window=COMPLETION_WINDOW,
                metadata=dict(metadata) if metadata else openai.omit,
            )
        )
        return BatchStatus.from_batch(batch)

    async def asubmit(
        self, items: Iterable[BatchItem], settings: BatchSettings, *, metadata: Mapping[str, str] | None = None
    ) -> tuple[BatchStatus, list[dict[str, Any]]]:
        """Build, upload and create; returns the new batch and the records of items that failed to build."""
        prepared = self.prepare(items, settings)
        try:
            return await self.asubmit_prepared(prepared, metadata=metadata), prepared.rejected
        finally:
            prepared.close()

    def submit(
        self, items: Iterable[BatchItem], settings: BatchSettings, *, metadata: Mapping[str, str] | None = None
    ) -> tuple[BatchStatus, list[dict[str, Any]]]:
        return self._sync(lambda: self.asubmit(items, settings, metadata=metadata))

    async def astatus(self, batch_id: str) -> BatchStatus:
        return BatchStatus.from_batch(await _call(self._openai().batches.retrieve(batch_id)))

    def status(self, batch_id: str) -> BatchStatus:
        return self._sync(lambda: self.astatus(batch_id))

    async def acancel(self, batch_id: str) -> BatchStatus:
        return BatchStatus.from_batch(await _call(self._openai().batches.cancel(batch_id)))

    def cancel(self, batch_id: str) -> BatchStatus:
        return self._sync(lambda: self.acancel(batch_id))

    async def await_batch(
        self, batch_id: str, *, on_status: Callable[[BatchStatus], None] | None = None
    ) -> BatchStatus:
        """Poll until the batch ends (completed, failed, expired or cancelled), backing off."""
        delay = self.poll_interval
        last: BatchStatus | None = None
        while True:
            status = await self.astatus(batch_id)
            if on_status is not None and status != last:
                on_status(status)
            last = status
            if status.terminal:
                return status
            await self._sleep(delay)
            delay = min(self.max_poll_interval, max(delay * 1.5, 0.0))

    def wait(self, batch_id: str, *, on_status: Callable[[BatchStatus], None] | None = None) -> BatchStatus:
        return self._sync(lambda: self.await_batch(batch_id, on_status=on_status))

    async def result_lines(self, status: BatchStatus) -> AsyncIterator[dict[str, Any]]:
        """Every line of the result file, then of the error file (streamed, not held in memory)."""
        import openai

        client = self._openai()
        for file_id in (status.output_file_id, status.error_file_id):
            if not file_id:
                continue
            try:
                async with client.files.with_streaming_response.content(file_id) as response:
                    async for text in response.iter_lines():
                        if text.strip():
                            yield json.loads(text)
            except openai.APIError as exc:
                raise _map_error(exc) from exc
