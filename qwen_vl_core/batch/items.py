"""Batch inputs: a folder of images (one item per image, a shared prompt) or a JSONL manifest.

Manifest line (one JSON object per line; relative paths are relative to the manifest):

    {"id": "q1", "image": "scans/q1.png", "prompt": "Grade this answer."}
    {"id": "q2", "images": ["a.png", "https://example.com/b.jpg"], "options": {"thinking": true}}
    {"id": "v1", "video": "clip.mp4", "prompt": "What happens?"}
    {"id": "m1", "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "c.png"}},
                                                          {"type": "text", "text": "Describe it."}]}]}

Loading checks the whole file (shape, duplicate ids, option names) before anything is sent; it
does not read the images, so a 50,000-line manifest loads in well under a second.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["IMAGE_SUFFIXES", "OPTION_NAMES", "BatchItem", "items_from_folder", "items_from_manifest", "load_items"]

IMAGE_SUFFIXES = frozenset({".bmp", ".jpg", ".jpeg", ".png", ".tif", ".tiff", ".webp", ".heic"})
"""Files picked up from a folder (the formats the API accepts)."""

OPTION_NAMES = frozenset(
    {
        "thinking",
        "thinking_budget",
        "max_tokens",
        "temperature",
        "top_p",
        "top_k",
        "seed",
        "stop",
        "presence_penalty",
        "repetition_penalty",
        "high_res",
        "max_pixels",
        "fps",
        "response_format",
        "system",
        "extra_body",
    }
)
"""Per-item options (and run-wide defaults): thinking switch and budget, sampling, image resolution, a
system prompt, JSON mode (`response_format`) and raw extra body keys."""

_LINE_KEYS = frozenset({"id", "image", "images", "video", "prompt", "messages", "options"})


@dataclass(frozen=True)
class BatchItem:
    """One unit of work; `id` keys its output record (and the Batch API `custom_id`).

    Either `messages` (OpenAI-style chat messages; image URLs may be local paths) or media with a
    prompt: `images` (paths, URLs, data URLs, bytes), `video` (a file/URL or a list of frames) and
    `prompt` (the run's shared prompt when None).
    """

    id: str
    images: tuple[Any, ...] = ()
    video: str | tuple[str, ...] | None = None
    prompt: str | None = None
    messages: tuple[Mapping[str, Any], ...] | None = None
    options: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.id, str) or not self.id:
            raise ValueError(f"an item id must be a non-empty string, got {self.id!r}")
        if self.messages is not None and (self.images or self.video is not None or self.prompt is not None):
            raise ValueError(f"item {self.id!r}: give either messages, or images/video with a prompt, not both")
        unknown = sorted(set(self.options) - OPTION_NAMES)
        if unknown:
            raise ValueError(
                f"item {self.id!r}: unknown option(s) {', '.join(unknown)}; known: {', '.join(sorted(OPTION_NAMES))}"
            )


def _is_url(source: str) -> bool:
    return source.startswith(("http://", "https://", "data:"))


def _resolve(source: Any, base: Path, where: str) -> str:
    if not isinstance(source, str) or not source:
        raise ValueError(f"{where}: a media source must be a non-empty string (path or URL), got {source!r}")
    if _is_url(source) or source.startswith("file://") or os.path.isabs(source):
        return source
    return str(base / source)


def _resolve_messages(messages: Any, base: Path, where: str) -> tuple[Mapping[str, Any], ...]:
    if not isinstance(messages, list) or not all(isinstance(m, Mapping) for m in messages):
        raise ValueError(f"{where}: messages must be a list of objects")
    out: list[Mapping[str, Any]] = []
    for message in messages:
        content = message.get("content")
        if isinstance(content, list):
            content = [_resolve_part(part, base, where) for part in content]
        out.append({**message, "content": content})
    return tuple(out)


def _resolve_part(part: Any, base: Path, where: str) -> Any:
    if not isinstance(part, Mapping):
        return part
    kind = part.get("type")
    value = part.get(kind) if isinstance(kind, str) else None
    if kind in ("image_url", "video_url") and isinstance(value, Mapping) and isinstance(value.get("url"), str):
        return {**part, kind: {**value, "url": _resolve(value["url"], base, where)}}
    if kind in ("image", "video") and isinstance(value, str):
        return {**part, kind: _resolve(value, base, where)}
    if kind == "video" and isinstance(value, list):
        return {**part, kind: [_resolve(frame, base, where) for frame in value]}
    return part


def _item_from_line(value: Any, base: Path, where: str) -> BatchItem:
    if not isinstance(value, Mapping):
        raise ValueError(f"{where}: each line must be a JSON object")
    unknown = sorted(set(value) - _LINE_KEYS)
    if unknown:
        raise ValueError(f'{where}: unknown key(s) {", ".join(unknown)}; put options under "options"')
    raw_id = value.get("id")
    if isinstance(raw_id, bool) or not isinstance(raw_id, str | int) or raw_id == "":
        raise ValueError(f'{where}: "id" is required (a string or an integer)')
    images: list[str] = []
    if "image" in value:
        images.append(_resolve(value["image"], base, where))
    if "images" in value:
        if not isinstance(value["images"], list):
            raise ValueError(f'{where}: "images" must be a list')
        images.extend(_resolve(src, base, where) for src in value["images"])
    video: str | tuple[str, ...] | None = None
    if isinstance(value.get("video"), list):
        video = tuple(_resolve(frame, base, where) for frame in value["video"])
    elif "video" in value:
        video = _resolve(value["video"], base, where)
    prompt = value.get("prompt")
    if prompt is not None and not isinstance(prompt, str):
        raise ValueError(f'{where}: "prompt" must be a string')
    options = value.get("options", {})
    if not isinstance(options, Mapping):
        raise ValueError(f'{where}: "options" must be an object')
    messages = _resolve_messages(value["messages"], base, where) if "messages" in value else None
    try:
        return BatchItem(str(raw_id), tuple(images), video, prompt, messages, dict(options))
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from None


def _unique(items: Iterable[BatchItem], source: str) -> list[BatchItem]:
    seen: set[str] = set()
    out: list[BatchItem] = []
    for item in items:
        if item.id in seen:
            raise ValueError(f"{source}: duplicate id {item.id!r}; ids key the output records and must be unique")
        seen.add(item.id)
        out.append(item)
    return out


def items_from_manifest(path: str | os.PathLike[str]) -> list[BatchItem]:
    """Every item of a JSONL manifest, checked; ValueError names the line."""
    manifest = Path(path)
    base = manifest.resolve().parent
    items: list[BatchItem] = []
    with manifest.open(encoding="utf-8") as lines:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            where = f"{manifest.name} line {number}"
            try:
                value = json.loads(line)
            except ValueError as exc:
                raise ValueError(f"{where}: not valid JSON ({exc})") from None
            items.append(_item_from_line(value, base, where))
    return _unique(items, manifest.name)


def items_from_folder(path: str | os.PathLike[str]) -> list[BatchItem]:
    """One item per image under `path` (recursively, hidden files skipped), sorted; id = relative path."""
    root = Path(path)
    found = [
        p
        for p in root.rglob("*")
        if p.suffix.lower() in IMAGE_SUFFIXES
        and p.is_file()
        and not any(part.startswith(".") for part in p.relative_to(root).parts)
    ]
    ids = sorted((p.relative_to(root).as_posix(), p) for p in found)
    return [BatchItem(item_id, (str(p),)) for item_id, p in ids]


def load_items(source: str | os.PathLike[str]) -> list[BatchItem]:
    """A folder of images or a JSONL manifest."""
    path = Path(source)
    if path.is_dir():
        items = items_from_folder(path)
        if not items:
            raise ValueError(f"{str(path)!r} holds no images ({', '.join(sorted(IMAGE_SUFFIXES))}).")
        return items
    if path.is_file():
        return items_from_manifest(path)
    raise ValueError(f"{str(path)!r} is neither a folder of images nor a JSONL manifest.")
