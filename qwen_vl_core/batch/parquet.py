"""Records as Parquet: a folder (`labels.parquet/`) of part files, written and resumed like the JSONL output.

Needs pyarrow (installed with the `ray` extra). Each `sync()` writes the records gathered since the
last one as a new part file (`part-00000.parquet`, ...: written to a temporary name, fsynced, then
renamed), so a part is either whole or absent. Every part carries the settings header in its schema
metadata (key `qwen_vl_batch`, the JSON of the JSONL header's value). Columns: `id`, `answer`,
`reasoning` (when recorded), `tool_calls` (the JSON of the record's list), `finish_reason`, `model`,
`usage` (a struct of the token counts), `request_id`, `error` (a struct, null on success) and
`supersedes` (the 1-based row number, across the parts in name order, of the failed record this one
replaces). `read_parquet_records` gives back the same dicts as the JSONL output.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from .output import HEADER_KEY, OutputState

__all__ = ["ParquetWriter", "read_parquet_records", "scan_parquet"]

_USAGE = ("input_tokens", "output_tokens", "total_tokens", "reasoning_tokens", "image_tokens", "video_tokens",
          "cached_tokens")  # fmt: skip
_ERROR = pa.struct(
    [("type", pa.string()), ("message", pa.string()), ("code", pa.string()), ("status", pa.int64()),
     ("request_id", pa.string())]
)  # fmt: skip
_META = HEADER_KEY.encode()


def _schema(reasoning: bool, header: dict[str, Any] | None) -> pa.Schema:
    fields = [("id", pa.string()), ("answer", pa.string())]
    if reasoning:
        fields.append(("reasoning", pa.string()))
    fields += [
        ("tool_calls", pa.string()),
        ("finish_reason", pa.string()),
        ("model", pa.string()),
        ("usage", pa.struct([(name, pa.int64()) for name in _USAGE])),
        ("request_id", pa.string()),
        ("error", _ERROR),
        ("supersedes", pa.int64()),
    ]
    metadata = {_META: json.dumps(header[HEADER_KEY], ensure_ascii=False).encode()} if header else None
    return pa.schema(fields, metadata=metadata)


def _parts(folder: Path) -> list[Path]:
    return sorted(folder.glob("part-*.parquet")) if folder.is_dir() else []


def scan_parquet(path: str | os.PathLike[str]) -> OutputState:
    """What a Parquet output folder already holds (a missing folder is an empty one)."""
    state = OutputState()
    for part in _parts(Path(path)):
        file = pq.ParquetFile(part)
        meta = file.schema_arrow.metadata or {}
        if state.header is None and _META in meta:
            state.header = json.loads(meta[_META])
        table = file.read(columns=["id", "error"])
        for item_id, error in zip(table.column("id").to_pylist(), table.column("error").to_pylist(), strict=True):
            state.lines += 1
            state.records += 1
            if error is None:
                state.ok.add(item_id)
                state.failed.pop(item_id, None)
            else:
                state.failed[item_id] = state.lines
                state.ok.discard(item_id)
    return state


def read_parquet_records(path: str | os.PathLike[str], *, latest: bool = True) -> list[dict[str, Any]]:
    """The records of a Parquet output folder, as the JSONL output holds them; with `latest`, one per id."""
    records: list[dict[str, Any]] = []
    for part in _parts(Path(path)):
        for row in pq.read_table(part).to_pylist():
            row["tool_calls"] = json.loads(row["tool_calls"]) if row["tool_calls"] is not None else []
            if row["supersedes"] is None:
                del row["supersedes"]
            records.append(row)
    if not latest:
        return records
    return list({record["id"]: record for record in records}.values())


class ParquetWriter:
    """`append` records, `sync` writes them as one new part file; the same interface as `RecordWriter`."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        state: OutputState,
        header: dict[str, Any] | None,
        include_reasoning: bool = True,
    ) -> None:
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        if not state.records:
            for stale in self.path.glob("part-*"):
                stale.unlink()
        self._schema = _schema(include_reasoning, header)
        self._rows: list[dict[str, Any]] = []
        self._line = state.lines
        self._failed = dict(state.failed)
        self._next = len(_parts(self.path))
        self.written = 0

    def append(self, record: dict[str, Any]) -> None:
        self._line += 1
        item_id = record["id"]
        row = {name: record.get(name) for name in self._schema.names}
        row["tool_calls"] = json.dumps(record.get("tool_calls") or [], ensure_ascii=False)
        row["supersedes"] = self._failed.pop(item_id, None)
        if record.get("error") is not None:
            self._failed[item_id] = self._line
        self._rows.append(row)
        self.written += 1

    def sync(self) -> None:
        if not self._rows:
            return
        table = pa.Table.from_pylist(self._rows, schema=self._schema)
        target = self.path / f"part-{self._next:05d}.parquet"
        temporary = target.with_name(target.name + ".tmp")
        with temporary.open("wb") as handle:
            pq.write_table(table, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, target)
        directory = os.open(self.path, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
        self._next += 1
        self._rows = []

    def close(self) -> None:
        self.sync()
