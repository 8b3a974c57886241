"""Batch item → `ChatRequest`, and the token estimate the rate limiter reserves before sending.

The request is the same neutral `ChatRequest` every other entry point builds, so the real-time path
(`QwenVLClient.achat`) and the Batch API path (`prepare_media` + `build_compat_body`) apply the same
media checks and policies.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..catalog import ModelSpec, get_spec
from ..imaging import image_size
from ..media import image, video
from ..tokens import estimate_image_tokens, estimate_text_tokens, image_budget, video_frame_budget
from ..types import ChatRequest, ImagePart, Message, Part, SamplingOptions, TextPart, ThinkingOptions, VideoPart
from .items import OPTION_NAMES, BatchItem

__all__ = ["OUTPUT_TOKENS_GUESS", "BatchSettings", "build_request", "estimate_tokens"]

OUTPUT_TOKENS_GUESS = 1024
"""Output tokens reserved for an item without `max_tokens`; corrected by the reported usage."""
_VIDEO_FILE_GUESS = 8192  # a video file's size is unknown before the server samples it
_SAMPLING = ("temperature", "top_p", "top_k", "max_tokens", "seed", "presence_penalty", "repetition_penalty")


@dataclass(frozen=True)
class BatchSettings:
    """What every item shares: the model, the default prompt and default options (items override)."""

    model: str = "qwen3-vl-plus"
    prompt: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        unknown = sorted(set(self.options) - OPTION_NAMES)
        if unknown:
            raise ValueError(f"unknown option(s) {', '.join(unknown)}; known: {', '.join(sorted(OPTION_NAMES))}")


def _part(raw: Any, options: Mapping[str, Any], where: str) -> Part:
    if isinstance(raw, str):
        return TextPart(raw)
    if not isinstance(raw, Mapping):
        raise ValueError(f"{where}: a content part must be an object, got {raw!r}")
    kind = raw.get("type")
    value = raw.get(kind) if isinstance(kind, str) else None
    if kind == "text" and isinstance(raw.get("text"), str):
        return TextPart(raw["text"])
    if isinstance(value, Mapping):
        value = value.get("url")
    if kind in ("image_url", "image") and value is not None:
        return image(value, max_pixels=raw.get("max_pixels", options.get("max_pixels")))
    if kind in ("video_url", "video") and value is not None:
        return video(value, fps=raw.get("fps", options.get("fps")))
    raise ValueError(f"{where}: unsupported content part {dict(raw)!r}")


def _messages(item: BatchItem, options: Mapping[str, Any]) -> list[Message]:
    out: list[Message] = []
    for position, raw in enumerate(item.messages or (), 1):
        where = f"item {item.id!r}, message {position}"
        role = raw.get("role")
        if role not in ("system", "user", "assistant"):
            raise ValueError(f"{where}: role must be system, user or assistant, got {role!r}")
        content = raw.get("content")
        parts = [TextPart(content)] if isinstance(content, str) else [_part(p, options, where) for p in content or ()]
        out.append(Message(role, tuple(parts)))
    return out


def build_request(item: BatchItem, settings: BatchSettings) -> ChatRequest:
    """The chat request for one item; ValueError (naming the item) for anything missing or unreadable."""
    options = {**settings.options, **item.options}
    if item.messages is not None:
        messages = _messages(item, options)
    else:
        prompt = item.prompt if item.prompt is not None else settings.prompt
        if not prompt:
            raise ValueError(f"item {item.id!r} has no prompt: give a shared prompt (--prompt) or one per item")
        parts: list[Part] = [image(src, max_pixels=options.get("max_pixels")) for src in item.images]
        if item.video is not None:
            source = list(item.video) if isinstance(item.video, tuple) else item.video
            parts.append(video(source, fps=options.get("fps")))
        parts.append(TextPart(prompt))
        messages = [Message("user", tuple(parts))]
    system = options.get("system")
    if system:
        messages.insert(0, Message("system", (TextPart(str(system)),)))
    stop = options.get("stop")
    return ChatRequest(
        model=settings.model,
        messages=tuple(messages),
        thinking=ThinkingOptions(enable=options.get("thinking"), budget=options.get("thinking_budget")),
        sampling=SamplingOptions(
            **{name: options[name] for name in _SAMPLING if name in options},
            stop=tuple(stop) if isinstance(stop, list | tuple) else (stop,) if isinstance(stop, str) else None,
        ),
        response_format=options.get("response_format"),
        vl_high_resolution_images=options.get("high_res"),
        extra_body=options.get("extra_body"),
    )


def _image_bytes(part: ImagePart) -> bytes | None:
    if part.data is not None:
        return part.data
    url = part.url or ""
    if not url.startswith("data:"):
        return None
    try:
        start = url.find(",") + 1  # slice the prefix only: partition() would copy the whole payload first
        return base64.b64decode(url[start : start + 65536], validate=False)  # the header is enough
    except (binascii.Error, ValueError):
        return None


def _image_tokens(part: ImagePart, spec: ModelSpec, high_res: bool, *, frame: bool = False) -> int:
    budget = video_frame_budget(spec) if frame else image_budget(spec, high_res=high_res, max_pixels=part.max_pixels)
    data = _image_bytes(part)
    size = image_size(data) if data else None
    if size is None:  # a remote URL (or an unreadable header): assume the whole budget
        return budget.max_pixels // (budget.factor * budget.factor) + 2
    try:
        if frame:
            per_token = budget.factor * budget.factor
            return max(budget.min_pixels, min(size[0] * size[1], budget.max_pixels)) // per_token
        return estimate_image_tokens(size[0], size[1], model=spec, high_res=high_res, max_pixels=part.max_pixels)
    except ValueError:  # an aspect ratio the API rejects; the request will say so
        return 0


def _video_tokens(part: VideoPart, spec: ModelSpec) -> int:
    if part.frames is None:
        return _VIDEO_FILE_GUESS
    frames = [f if isinstance(f, ImagePart) else ImagePart(f) for f in part.frames]
    return sum(_image_tokens(f, spec, False, frame=True) for f in frames) // 2 + 2  # frames merge in pairs


def estimate_tokens(request: ChatRequest, *, output_guess: int = OUTPUT_TOKENS_GUESS) -> int:
    """Input (text, image and video) plus expected output tokens, from headers only; low-ish by design."""
    spec = get_spec(request.model, warn=False)
    high_res = bool(request.vl_high_resolution_images)
    total = 0
    for message in request.messages:
        for part in message.content:
            if isinstance(part, TextPart):
                total += estimate_text_tokens(part.text)
            elif isinstance(part, ImagePart):
                total += _image_tokens(part, spec, high_res)
            else:
                total += _video_tokens(part, spec)
    return total + (request.sampling.max_tokens or output_guess)
