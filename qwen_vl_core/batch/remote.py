"""The Model Studio Batch API (OpenAI-compatible Files + Batches) through the openai SDK.

`BatchAPIClient` is the transport: upload a file, create, watch, cancel a batch, stream its result
and error lines, and find a file or batch again after an interrupted submit. Jobs of any size
(sharding, the local manifest) are built on it in `jobs`; results map to records in `records`.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, TypeVar

from pydantic import SecretStr

from ..errors import APIConnectionError, APITimeoutError, NotFoundError, QwenVLError, error_from_body, parse_error_body
from ..regions import Endpoint, require_api_key, resolve_api_key, resolve_endpoint
from .ratelimit import Sleep
from .shards import BATCH_ENDPOINT
from .support import region_of

if TYPE_CHECKING:
    import openai

__all__ = ["TERMINAL_STATUSES", "BatchAPIClient", "BatchFailedError", "BatchStatus"]

COMPLETION_WINDOW: Final = "24h"
TERMINAL_STATUSES = frozenset({"completed", "failed", "expired", "cancelled"})
_CLOCK_SKEW: Final = 3600  # seconds of clock difference tolerated when searching batches by creation time
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
    """Upload, create, watch, fetch and cancel batches. Construction needs no key and no network.

    `region` picks the endpoint (`cn` Beijing or `intl` Singapore; see `support` for what each
    batches); with an explicit `base_url` it states the region that URL belongs to (None: not
    checked). `check_support=False` skips the local model/region check. Polling starts at
    `poll_interval` seconds and backs off by half each time up to `max_poll_interval`.
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

    # -- files and batches ----------------------------------------------------------------------

    async def aupload(self, path: str | os.PathLike[str], filename: str) -> str:
        """Upload one input file (purpose `batch`); returns its file id."""
        handle = Path(path).open("rb")  # noqa: ASYNC230, SIM115 - a local file, opened at once; the upload streams it
        try:
            upload = (filename, handle, "application/jsonl")
            file = await _call(self._openai().files.create(file=upload, purpose="batch"))
        finally:
            handle.close()
        return str(file.id)

    async def afind_file(self, filename: str, size: int) -> str | None:
        """The id of an uploaded batch file with this name and size (an upload cut short before its id was saved)."""
        import openai  # on first use: the SDK is most of the import time of the library

        client = self._openai()
        try:
            async for file in client.files.list(purpose="batch"):
                if file.filename == filename and file.bytes == size:
                    return str(file.id)
        except openai.APIError as exc:
            raise _map_error(exc) from exc
        return None

    async def acreate(self, file_id: str, *, metadata: Mapping[str, str] | None = None) -> BatchStatus:
        """Create a batch from an uploaded input file."""
        import openai  # on first use: the SDK is most of the import time of the library

        batch = await _call(
            self._openai().batches.create(
                input_file_id=file_id,
                endpoint=BATCH_ENDPOINT,
                completion_window=COMPLETION_WINDOW,
                metadata=dict(metadata) if metadata else openai.omit,
            )
        )
        return BatchStatus.from_batch(batch)

    async def afind_batch(self, file_id: str, *, since: int | None = None) -> BatchStatus | None:
        """The batch created from `file_id` (newest first, down to `since`, epoch seconds), or None.

        How a submit interrupted between creating a batch and saving its id avoids a duplicate.
        """
        import openai  # on first use: the SDK is most of the import time of the library

        client = self._openai()
        try:
            async for batch in client.batches.list(limit=100):
                if batch.input_file_id == file_id:
                    return BatchStatus.from_batch(batch)
                if since is not None and batch.created_at < since - _CLOCK_SKEW:
                    return None
        except openai.APIError as exc:
            raise _map_error(exc) from exc
        return None

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
