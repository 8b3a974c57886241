"""Batch API input files for jobs of any size: lines built like real-time requests, split within the limits.

Each line is the body the real-time path would send (`build_request`, `prepare_media`,
`build_compat_body`: the same checks and policies, images inline as data URLs), without streaming,
and with `enable_thinking` written out for hybrid models (see `thinking`). A line over the per-line
limit is rebuilt with its images downscaled (to 1/2, 1/4, 1/8, then 1/16 of their pixels); an item
that still does not fit is that item's error, never a failed batch. Lines are written to shard
files of at most `max_requests` lines and `max_bytes` bytes, each with its ids beside it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO, Any, Final

from ..catalog import ModelSpec, get_spec
from ..imaging import fit_image, image_size
from ..media import prepare_media
from ..request_compat import build_compat_body
from ..tokens import ImageBudget, image_budget
from ..types import ChatRequest, ImagePart, Message
from .build import BatchSettings, build_request
from .items import BatchItem
from .records import record_from_error
from .support import MAX_FILE_BYTES, MAX_FILE_REQUESTS, MAX_LINE_BYTES
from .thinking import line_thinking

__all__ = [
    "BATCH_ENDPOINT",
    "DEFAULT_LIMITS",
    "ShardInfo",
    "ShardLimits",
    "build_batch_line",
    "encode_line",
    "write_shards",
]

BATCH_ENDPOINT: Final = "/v1/chat/completions"
_SHRINK: Final = (2, 4, 8, 16)


@dataclass(frozen=True)
class ShardLimits:
    """Per-file and per-line limits (the documented ones by default; smaller ones for tests)."""

    max_requests: int = MAX_FILE_REQUESTS
    max_bytes: int = MAX_FILE_BYTES
    max_line_bytes: int = MAX_LINE_BYTES

    def __post_init__(self) -> None:
        for name in ("max_requests", "max_bytes", "max_line_bytes"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")


DEFAULT_LIMITS = ShardLimits()
"""The documented limits."""


def build_batch_line(item_id: str, request: ChatRequest, *, downscale: bool = True) -> dict[str, Any]:
    """One input-file line: the compat body the real-time path would send, minus streaming."""
    spec = get_spec(request.model)
    send = line_thinking(request.model, request.thinking.enable).send
    if send != request.thinking.enable:
        request = replace(request, thinking=replace(request.thinking, enable=send))
    body = build_compat_body(prepare_media(request, spec, downscale=downscale), spec, stream=False, batch=True)
    if body.get("stream"):
        raise ValueError(f"item {item_id!r}: Batch API requests cannot stream; remove 'stream' from extra_body.")
    return {"custom_id": item_id, "method": "POST", "url": BATCH_ENDPOINT, "body": body}


def _dump(line: dict[str, Any]) -> bytes:
    return json.dumps(line, ensure_ascii=False).encode() + b"\n"


def _smaller(part: ImagePart, spec: ModelSpec, divisor: int) -> ImagePart | None:
    """The image with 1/divisor of its pixels, re-encoded; None when that is not possible here."""
    if part.url is None or not part.url.startswith("data:"):
        return None
    head, _, payload = part.url.partition(",")
    data = base64.b64decode(payload)
    size = image_size(data)
    mime = head[5:].split(";", 1)[0]
    if size is None:
        return None
    base = image_budget(spec)
    budget = ImageBudget(base.factor, base.min_pixels, max(base.min_pixels, size[0] * size[1] // divisor))
    fitted = fit_image(data, mime, budget, force_encode=True)
    return None if fitted is None else ImagePart(data=fitted.data, mime=fitted.mime, label=part.label)


def _shrink(request: ChatRequest, spec: ModelSpec, divisor: int) -> ChatRequest | None:
    messages: list[Message] = []
    changed = False
    for message in request.messages:
        parts = []
        for part in message.content:
            smaller = _smaller(part, spec, divisor) if isinstance(part, ImagePart) else None
            changed = changed or smaller is not None
            parts.append(smaller if smaller is not None else part)
        messages.append(replace(message, content=tuple(parts)))
    return replace(request, messages=tuple(messages)) if changed else None


def encode_line(item: BatchItem, settings: BatchSettings, max_line_bytes: int = MAX_LINE_BYTES) -> tuple[bytes, bool]:
    """The item's line (JSON and newline) within `max_line_bytes`, and whether its images were downscaled.

    ValueError (naming the item) when it cannot be built or cannot fit.
    """
    request = build_request(item, settings)
    line = _dump(build_batch_line(item.id, request))
    if len(line) - 1 <= max_line_bytes:
        return line, False
    size = len(line) - 1
    spec = get_spec(request.model, warn=False)
    prepared = prepare_media(request, spec)
    for divisor in _SHRINK:
        smaller = _shrink(prepared, spec, divisor)
        if smaller is None:
            break
        line = _dump(build_batch_line(item.id, smaller))
        if len(line) - 1 <= max_line_bytes:
            return line, True
    else:
        raise ValueError(
            f"item {item.id!r}: its Batch API line is {size:,} bytes, over the limit of {max_line_bytes:,} per line, "
            f"even with its images downscaled to 1/{_SHRINK[-1]} of their pixels. Give its images as http(s) URLs "
            "(the service fetches them), or run it with --via realtime."
        )
    raise ValueError(
        f"item {item.id!r}: its Batch API line is {size:,} bytes, over the limit of {max_line_bytes:,} per line, "
        "and it has no inline image to downscale. Shorten it, give media as http(s) URLs, or run it with "
        "--via realtime."
    )


@dataclass
class ShardInfo:
    """One written shard file: its lines, size, digest, and the items whose images were downscaled to fit."""

    index: int
    requests: int = 0
    bytes: int = 0
    sha256: str = ""
    downscaled: list[str] = field(default_factory=list)


class _Open:
    def __init__(self, folder: Path, index: int) -> None:
        self.info = ShardInfo(index)
        self.lines: IO[bytes] = (folder / f"shard-{index:05d}.jsonl").open("wb")
        self.ids: IO[bytes] = (folder / f"shard-{index:05d}.ids").open("wb")
        self.digest = hashlib.sha256()

    def add(self, item_id: str, line: bytes) -> None:
        self.lines.write(line)
        self.digest.update(line)
        self.ids.write(json.dumps(item_id, ensure_ascii=False).encode() + b"\n")
        self.info.requests += 1
        self.info.bytes += len(line)

    def close(self) -> ShardInfo:
        for handle in (self.lines, self.ids):
            handle.flush()
            os.fsync(handle.fileno())
            handle.close()
        self.info.sha256 = self.digest.hexdigest()
        return self.info


def write_shards(
    items: Iterable[BatchItem],
    settings: BatchSettings,
    folder: str | os.PathLike[str],
    *,
    limits: ShardLimits = DEFAULT_LIMITS,
    skip: Collection[str] = (),
    include_reasoning: bool = True,
    on_shard: Callable[[ShardInfo], None] | None = None,
) -> tuple[list[ShardInfo], list[dict[str, Any]]]:
    """Write `shard-NNNNN.jsonl` (+ `.ids`) files into `folder`; returns the shards and the error records
    of the items that could not be built (each closed shard is fsynced, then passed to `on_shard`)."""
    target = Path(folder)
    shards: list[ShardInfo] = []
    rejected: list[dict[str, Any]] = []
    current: _Open | None = None

    def finish() -> None:
        nonlocal current
        if current is not None:
            info = current.close()
            shards.append(info)
            current = None
            if on_shard is not None:
                on_shard(info)

    try:
        for item in items:
            if item.id in skip:
                continue
            try:
                line, downscaled = encode_line(item, settings, min(limits.max_line_bytes, limits.max_bytes - 1))
            except Exception as exc:  # this item only: recorded, never uploaded
                rejected.append(record_from_error(item.id, exc, include_reasoning=include_reasoning))
                continue
            if current is not None and (
                current.info.requests >= limits.max_requests or current.info.bytes + len(line) > limits.max_bytes
            ):
                finish()
            if current is None:
                current = _Open(target, len(shards))
            current.add(item.id, line)
            if downscaled:
                current.info.downscaled.append(item.id)
        finish()
    finally:
        if current is not None:
            current.lines.close()
            current.ids.close()
    return shards, rejected
