"""The local job manifest: every shard of a Batch API job and how far it got, saved before and after each step.

A job is a folder (by default `<out>.job/`) holding `manifest.json`, the shard files while they
wait to be uploaded (`shard-NNNNN.jsonl`, deleted once their batch exists), each shard's ids
(`shard-NNNNN.ids`, one JSON string a line) and the records of items that could not be built
(`rejected.jsonl`). `manifest.json`:

    {"format": "qwen-vl-batch-job", "version": 1, "job_id": "...", "created_at": "...",
     "out": "/abs/labels.jsonl", "base_url": "...", "region": "cn", "model": "qwen3-vl-plus",
     "settings": {...}, "fingerprint": "...", "include_reasoning": true, "retry_failed": false,
     "limits": {"max_requests": 50000, "max_bytes": 500000000, "max_line_bytes": 6000000},
     "built": true, "items": 120000, "skipped": 0, "rejected": 2, "rejected_merged": false,
     "shards": [{"index": 0, "requests": 50000, "bytes": 123456789, "sha256": "...", "downscaled": [],
                 "step": "created", "file_id": "file-batch-...", "batch_id": "batch_...",
                 "creating_since": 1767225600, "status": "in_progress",
                 "counts": {"total": 50000, "completed": 1200, "failed": 3}}, ...]}

`step` moves built → uploading → uploaded → creating → created → fetched (or cancelled, for a shard
cancelled before its batch existed). Saving writes a temporary file, fsyncs it and renames it over
the old one, so the manifest on disk is always a whole one.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Final

__all__ = ["JOB_FORMAT", "JobManifest", "ShardState"]

JOB_FORMAT: Final = "qwen-vl-batch-job"
_MANIFEST: Final = "manifest.json"
_MAX_MANIFEST_BYTES: Final = 64 * 1024 * 1024
STEPS: Final = ("built", "uploading", "uploaded", "creating", "created", "fetched", "cancelled")


@dataclass
class ShardState:
    index: int
    requests: int
    bytes: int
    sha256: str
    downscaled: list[str] = field(default_factory=list)
    step: str = "built"
    file_id: str | None = None
    batch_id: str | None = None
    creating_since: int | None = None
    status: str | None = None
    counts: dict[str, int] = field(default_factory=lambda: {"total": 0, "completed": 0, "failed": 0})
    errors: list[str] = field(default_factory=list)

    @property
    def terminal(self) -> bool:
        """Nothing more will happen remotely (its batch ended, or it was cancelled before it existed)."""
        return self.step in ("fetched", "cancelled") or self.status in ("completed", "failed", "expired", "cancelled")


@dataclass
class JobManifest:
    job_id: str
    created_at: str
    out: str
    base_url: str
    region: str | None
    model: str
    settings: dict[str, Any]
    fingerprint: str
    include_reasoning: bool = True
    retry_failed: bool = False
    limits: dict[str, int] = field(default_factory=dict)
    built: bool = False
    items: int = 0
    skipped: int = 0
    rejected: int = 0
    rejected_merged: bool = False
    shards: list[ShardState] = field(default_factory=list)
    folder: Path = field(default=Path("."), repr=False, compare=False)

    # -- files -----------------------------------------------------------------------------------

    def shard_path(self, index: int) -> Path:
        return self.folder / f"shard-{index:05d}.jsonl"

    def ids_path(self, index: int) -> Path:
        return self.folder / f"shard-{index:05d}.ids"

    @property
    def rejected_path(self) -> Path:
        return self.folder / "rejected.jsonl"

    def upload_name(self, index: int) -> str:
        """The file name a shard is uploaded under (how an upload cut short is found again)."""
        return f"qwen-vl-{self.job_id}-{index:05d}.jsonl"

    def shard_ids(self, index: int) -> list[str]:
        with self.ids_path(index).open(encoding="utf-8") as lines:
            return [json.loads(line) for line in lines if line.strip()]

    # -- state -----------------------------------------------------------------------------------

    @property
    def done(self) -> bool:
        """Built, every shard fetched or cancelled, and the local errors merged: nothing left to do."""
        return self.built and self.rejected_merged and all(s.step in ("fetched", "cancelled") for s in self.shards)

    def save(self) -> None:
        data = {"format": JOB_FORMAT, "version": 1, **asdict(self)}
        del data["folder"]
        self.folder.mkdir(parents=True, exist_ok=True)
        target = self.folder / _MANIFEST
        temporary = target.with_name(_MANIFEST + ".tmp")
        with temporary.open("wb") as handle:
            handle.write(json.dumps(data, indent=1, ensure_ascii=False).encode())
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, target)
        directory = os.open(self.folder, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)

    @classmethod
    def exists(cls, folder: str | os.PathLike[str]) -> bool:
        return (Path(folder) / _MANIFEST).is_file()

    @classmethod
    def load(cls, folder: str | os.PathLike[str]) -> JobManifest:
        """Read a job folder (or its manifest.json); ValueError saying what is wrong."""
        path = Path(folder)
        if path.name == _MANIFEST:
            path = path.parent
        target = path / _MANIFEST
        if not target.is_file():
            raise ValueError(f"{str(path)!r} is not a batch job folder (no {_MANIFEST} in it).")
        if target.stat().st_size > _MAX_MANIFEST_BYTES:
            raise ValueError(f"{target} is larger than {_MAX_MANIFEST_BYTES:,} bytes; it is not a job manifest.")
        try:
            data = json.loads(target.read_bytes())
        except ValueError as exc:
            raise ValueError(f"{target} is not valid JSON ({exc}).") from None
        if not isinstance(data, dict) or data.get("format") != JOB_FORMAT or data.get("version") != 1:
            raise ValueError(f"{target} is not a version 1 {JOB_FORMAT} manifest.")
        names = {f.name for f in fields(cls)} - {"folder", "shards"}
        try:
            shards = [ShardState(**shard) for shard in data.get("shards", [])]
            manifest = cls(**{k: v for k, v in data.items() if k in names}, shards=shards)
        except TypeError as exc:
            raise ValueError(f"{target} is missing fields or has unknown ones ({exc}).") from None
        manifest.folder = path
        return manifest
