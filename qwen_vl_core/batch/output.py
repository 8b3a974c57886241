"""The output JSONL: a settings header, then append-only records, one durable write per record, resumable.

Each record is written whole in one `write`, flushed and `fsync`ed before the item counts as done,
so a Ctrl-C, a crash or a power cut loses at most the items still in flight. A crash in the middle
of a write can leave a torn last line (no newline): resuming drops it and that item runs again, so
the file never holds a duplicate or a broken line. `GroupSync` is the async form: the write and
flush happen at once, the `fsync` runs on a worker thread and covers every record written before
it started (group commit), so the event loop never blocks on the disk and concurrent items share
one `fsync`.

A record that replaces an earlier failed record of the same item (`--retry-failed`) carries
`"supersedes": <line number of that record>`; readers keep the latest record of each id.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

__all__ = ["HEADER_KEY", "GroupSync", "OutputState", "RecordWriter", "is_parquet", "read_records", "scan_output"]

HEADER_KEY = "qwen_vl_batch"
"""The key of the settings header, the first line of an output (see `fingerprint`)."""


@dataclass
class OutputState:
    """What an existing output file already holds."""

    ok: set[str] = field(default_factory=set)
    """Ids whose latest record succeeded."""
    failed: dict[str, int] = field(default_factory=dict)
    """Ids whose latest record is an error → that record's line number (1-based)."""
    valid_bytes: int = 0
    """Length of the whole-line prefix; anything after it is a torn last line."""
    torn: bool = False
    header: dict[str, Any] | None = None
    """The settings header (the value under `HEADER_KEY` on line 1), if any."""
    records: int = 0
    """Record lines (the header and unreadable lines not counted)."""
    lines: int = 0
    """Whole lines, the header included."""

    def done(self, *, retry_failed: bool = False) -> set[str]:
        """Ids to skip: every recorded id, or only the successful ones with `retry_failed`."""
        return set(self.ok) if retry_failed else self.ok | set(self.failed)


def _lines(path: Path) -> Iterator[tuple[bytes, int]]:
    """(line, end offset) for every line of the file, the last one maybe without a newline."""
    offset = 0
    with path.open("rb") as handle:
        for line in handle:
            offset += len(line)
            yield line, offset


def is_parquet(path: str | os.PathLike[str]) -> bool:
    """A `.parquet` output is a folder of Parquet parts (see `parquet`), written by the Ray runner."""
    return Path(path).suffix == ".parquet"


def _parquet() -> Any:
    try:
        from . import parquet
    except ImportError as exc:
        raise ValueError(f"Parquet output needs pyarrow: pip install 'qwen-vl-reasoning[ray]' ({exc})") from None
    return parquet


def scan_output(path: str | os.PathLike[str]) -> OutputState:
    """Read the ids already recorded; a missing file is an empty one."""
    if is_parquet(path):
        return _parquet().scan_parquet(path)  # type: ignore[no-any-return]
    state = OutputState()
    target = Path(path)
    if not target.exists():
        return state
    for line, end in _lines(target):
        if not line.endswith(b"\n"):
            state.torn = True
            break
        state.valid_bytes = end
        state.lines += 1
        try:
            record = json.loads(line)
        except ValueError:
            continue  # a corrupt line in the middle (edited by hand?): its item simply runs again
        if state.lines == 1 and isinstance(record, dict) and isinstance(record.get(HEADER_KEY), dict):
            state.header = record[HEADER_KEY]
            continue
        if not isinstance(record, dict) or not isinstance(record.get("id"), str):
            continue
        state.records += 1
        item_id = record["id"]
        if record.get("error") is None:
            state.ok.add(item_id)
            state.failed.pop(item_id, None)
        else:
            state.failed[item_id] = state.lines
            state.ok.discard(item_id)
    return state


def read_records(path: str | os.PathLike[str], *, latest: bool = True) -> list[dict[str, Any]]:
    """The records in a file (torn or corrupt lines skipped); with `latest`, one per id (the last one)."""
    if is_parquet(path):
        return _parquet().read_parquet_records(path, latest=latest)  # type: ignore[no-any-return]
    records: list[dict[str, Any]] = []
    target = Path(path)
    if not target.exists():
        return records
    for line, _ in _lines(target):
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if line.endswith(b"\n") and isinstance(record, dict) and isinstance(record.get("id"), str):
            records.append(record)
    if not latest:
        return records
    by_id = {record["id"]: record for record in records}
    return list(by_id.values())


class RecordWriter:
    """Appends records durably; opening it drops a torn last line left by a crash.

    With `header` (a settings header line) and no record in the file yet, the file starts over with
    that header. A record for an id whose latest record is an error gets `supersedes`.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        state: OutputState | None = None,
        durable: bool = True,
        header: dict[str, Any] | None = None,
    ) -> None:
        self.path = Path(path)
        state = state if state is not None else scan_output(self.path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._line = state.lines
        self._failed = dict(state.failed)
        if header is not None and not state.records:
            self.path.write_bytes(json.dumps(header, ensure_ascii=False).encode() + b"\n")
            self._line = 1
        elif state.torn:
            with self.path.open("r+b") as handle:
                handle.truncate(state.valid_bytes)
        self._file: IO[bytes] | None = self.path.open("ab")
        self._durable = durable
        self.written = 0

    @property
    def durable(self) -> bool:
        return self._durable

    def append(self, record: dict[str, Any]) -> None:
        """Write and flush one record (the OS has it: safe from Ctrl-C and crashes), without `fsync`."""
        if self._file is None:
            raise ValueError("the writer is closed")
        self._line += 1
        item_id = record.get("id")
        replaced = self._failed.pop(item_id, None) if isinstance(item_id, str) else None
        if replaced is not None:
            record = {**record, "supersedes": replaced}
        if record.get("error") is not None and isinstance(item_id, str):
            self._failed[item_id] = self._line
        self._file.write(json.dumps(record, ensure_ascii=False).encode() + b"\n")
        self._file.flush()
        self.written += 1

    def write(self, record: dict[str, Any]) -> None:
        """Append one record and, when durable, `fsync` it before returning."""
        self.append(record)
        if self._durable:
            self.sync()

    def sync(self) -> None:
        if self._file is not None:
            os.fsync(self._file.fileno())

    def close(self) -> None:
        if self._file is not None:
            if self._durable:
                self.sync()
            self._file.close()
            self._file = None

    def __enter__(self) -> RecordWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class GroupSync:
    """`await commit(record)`: appended at once, returns once an `fsync` covering it has finished."""

    def __init__(self, writer: RecordWriter) -> None:
        self._writer = writer
        self._waiting: list[asyncio.Future[None]] = []
        self._task: asyncio.Task[None] | None = None

    async def commit(self, record: dict[str, Any]) -> None:
        self._writer.append(record)
        if not self._writer.durable:
            return
        waiter = asyncio.get_running_loop().create_future()
        self._waiting.append(waiter)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._sync())
        await waiter

    async def _sync(self) -> None:
        while self._waiting:
            batch, self._waiting = self._waiting, []
            try:
                await asyncio.to_thread(self._writer.sync)
            except Exception as exc:  # the disk failed: every item waiting on it fails the run
                batch += self._waiting
                self._waiting = []
                for waiter in batch:
                    if not waiter.done():
                        waiter.set_exception(exc)
                return
            except BaseException:  # cancelled (Ctrl-C): `aclose` still syncs what was written
                for waiter in batch:
                    waiter.cancel()
                raise
            for waiter in batch:
                if not waiter.done():
                    waiter.set_result(None)

    async def aclose(self) -> None:
        """Wait for the last `fsync` (if the loop still runs it), then close the writer (which syncs)."""
        task = self._task
        if task is not None and not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        self._writer.close()
