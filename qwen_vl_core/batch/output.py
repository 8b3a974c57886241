"""The output JSONL: append-only, one durable write per record, resumable.

Each record is written whole in one `write`, flushed and `fsync`ed before the item counts as done,
so a Ctrl-C, a crash or a power cut loses at most the items still in flight. A crash in the middle
of a write can leave a torn last line (no newline): resuming drops it and that item runs again, so
the file never holds a duplicate or a broken line. `GroupSync` is the async form: the write and
flush happen at once, the `fsync` runs on a worker thread and covers every record written before
it started (group commit), so the event loop never blocks on the disk and concurrent items share
one `fsync`.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

__all__ = ["GroupSync", "OutputState", "RecordWriter", "read_records", "scan_output"]


@dataclass
class OutputState:
    """What an existing output file already holds."""

    ok: set[str] = field(default_factory=set)
    """Ids whose latest record succeeded."""
    failed: set[str] = field(default_factory=set)
    """Ids whose latest record is an error."""
    valid_bytes: int = 0
    """Length of the whole-line prefix; anything after it is a torn last line."""
    torn: bool = False

    def done(self, *, retry_failed: bool = False) -> set[str]:
        """Ids to skip: every recorded id, or only the successful ones with `retry_failed`."""
        return set(self.ok) if retry_failed else self.ok | self.failed


def _lines(path: Path) -> Iterator[tuple[bytes, int]]:
    """(line, end offset) for every line of the file, the last one maybe without a newline."""
    offset = 0
    with path.open("rb") as handle:
        for line in handle:
            offset += len(line)
            yield line, offset


def scan_output(path: str | os.PathLike[str]) -> OutputState:
    """Read the ids already recorded; a missing file is an empty one."""
    state = OutputState()
    target = Path(path)
    if not target.exists():
        return state
    for line, end in _lines(target):
        if not line.endswith(b"\n"):
            state.torn = True
            break
        state.valid_bytes = end
        try:
            record = json.loads(line)
        except ValueError:
            continue  # a corrupt line in the middle (edited by hand?): its item simply runs again
        if not isinstance(record, dict) or not isinstance(record.get("id"), str):
            continue
        item_id = record["id"]
        if record.get("error") is None:
            state.ok.add(item_id)
            state.failed.discard(item_id)
        else:
            state.failed.add(item_id)
            state.ok.discard(item_id)
    return state


def read_records(path: str | os.PathLike[str], *, latest: bool = True) -> list[dict[str, Any]]:
    """The records in a file (torn or corrupt lines skipped); with `latest`, one per id (the last one)."""
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
    """Appends records durably; opening it drops a torn last line left by a crash."""

    def __init__(self, path: str | os.PathLike[str], *, state: OutputState | None = None, durable: bool = True) -> None:
        self.path = Path(path)
        state = state if state is not None else scan_output(self.path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if state.torn:
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
