"""The check-and-size stage every request goes through (sources → parts live in `sources`).

`prepare_media` runs before a request is sent: it checks each inline image (format by magic bytes,
both sides > 10 px, aspect ratio <= 200:1, <= 10 MiB encoded), downscales images above the model's
pixel budget with the service's own rounding (so the model sees the same pixels for far fewer
bytes), checks frame counts and inline video size, and checks the estimated prompt against the
model's maximum input. Every failure names the input, the limit and the fix.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, replace

from .catalog import ModelSpec
from .formats import IMAGE_MIMES, detect_image_mime
from .imaging import exif_orientation, fit_image, image_size
from .sources import (
    MAX_DATA_URL_BYTES,
    bytes_to_data_url,
    check_inline,
    image,
    image_to_url,
    is_remote,
    user_message,
    video,
    video_to_url,
)
from .tokens import (
    MAX_ASPECT_RATIO,
    VIDEO_MAX_FRAMES,
    VIDEO_MIN_FRAMES,
    ImageBudget,
    estimate_text_tokens,
    image_budget,
    smart_resize,
    video_frame_budget,
)
from .types import ChatRequest, ImagePart, Message, Part, TextPart, VideoPart

_MIN_SIDE = 10
"""Both sides of an image must be larger than this (the API rejects smaller ones)."""

# The sources are re-exported: `qwen_vl_core.media.image(...)` and friends are the documented spelling.
__all__ = [
    "MAX_DATA_URL_BYTES",
    "bytes_to_data_url",
    "estimate_request_tokens",
    "image",
    "image_to_url",
    "needs_reencoding",
    "prepare_media",
    "remote_image_urls",
    "user_message",
    "video",
    "video_to_url",
    "with_fetched_images",
]

# -- the preparation stage ----------------------------------------------------------------------
#
# Two passes: the first inspects every inline item from its header (format, size, tokens) and
# raises on any problem, including an over-long prompt; only then does the second pass spend time
# resizing and encoding.


@dataclass
class _Inline:
    """An inline image after inspection: what the second pass needs to finish it."""

    part: ImagePart
    data: bytes
    mime: str
    declared: str | None
    budget: ImageBudget
    where: str
    needs_work: bool


def _decode_data_url(url: str, where: str) -> tuple[bytes, str | None]:
    head, sep, payload = url.partition(",")
    if not sep or ";base64" not in head:
        raise ValueError(f"{where}: a data URL must be base64-encoded (data:<mime>;base64,...).")
    try:
        return base64.b64decode(payload, validate=False), head[5:].split(";", 1)[0] or None
    except binascii.Error as exc:
        raise ValueError(f"{where}: the data URL's base64 payload is invalid ({exc}).") from exc


def _check_size(size: tuple[int, int] | None, where: str) -> None:
    if size is None:
        return
    width, height = size
    if min(width, height) <= _MIN_SIDE:
        raise ValueError(
            f"{where} is {width}x{height} px; both sides must be larger than {_MIN_SIDE} px. Use a larger image."
        )
    if max(width, height) / min(width, height) > MAX_ASPECT_RATIO:
        raise ValueError(
            f"{where} is {width}x{height} px, an aspect ratio over {MAX_ASPECT_RATIO}:1, which the API rejects. "
            "Crop it or split it into several images."
        )


def _inspect_image(part: ImagePart, budget: ImageBudget, where: str, *, downscale: bool) -> tuple[_Inline | None, int]:
    """Check one image from its header; returns the work left (None for remote URLs) and its tokens."""
    if part.url is not None and part.url.startswith(("http://", "https://")):
        return None, 0  # the server fetches it; never downloaded here, so its size is unknown
    if part.url is not None and not part.url.startswith("data:"):
        # a file:// URL or a path: the compat API cannot fetch it, so it goes inline
        part = replace(image(part.url), max_pixels=part.max_pixels)
    if part.url is not None:
        data, declared = _decode_data_url(part.url, where)
    else:
        data, declared = part.data or b"", part.mime
    mime = detect_image_mime(data)
    if mime is None:
        raise ValueError(f"{where} is not a supported image (BMP, JPEG, PNG, TIFF, WEBP or HEIC); got {data[:8]!r}.")
    size = image_size(data)
    _check_size(size, where)
    tokens = 0
    if size is not None:
        h_bar, w_bar = smart_resize(size[1], size[0], budget.factor, budget.min_pixels, budget.max_pixels)
        tokens = h_bar * w_bar // (budget.factor * budget.factor) + 2
    needs_work = needs_reencoding(data, mime, size, budget, downscale=downscale)
    return _Inline(part, data, mime, declared, budget if downscale else _no_limit(budget), where, needs_work), tokens


def needs_reencoding(
    data: bytes, mime: str, size: tuple[int, int] | None, budget: ImageBudget, *, downscale: bool
) -> bool:
    """Whether an inline image is re-encoded (with Pillow) before it is sent.

    Always when its format is not accepted or it is over the inline size limit; with `downscale`
    also when it is above the pixel budget, or stored rotated or mirrored (EXIF orientation other
    than 1): it is then sent upright, so the model sees what the user sees whatever the server does
    with EXIF, and grounding coordinates refer to the upright image.
    """
    if mime not in IMAGE_MIMES or (len(data) + 2) // 3 * 4 > MAX_DATA_URL_BYTES:
        return True
    if not downscale:
        return False
    return (size is not None and size[0] * size[1] > budget.max_pixels) or exif_orientation(data) != 1


def _finish_image(item: _Inline) -> ImagePart:
    data, mime = item.data, item.mime
    if item.needs_work:
        fitted = fit_image(data, mime, item.budget, force_encode=True)
        if fitted is not None:
            data, mime = fitted.data, fitted.mime
        elif mime not in IMAGE_MIMES:
            raise ValueError(f"{item.where} is {mime}, which the API does not accept; convert it to PNG or JPEG.")
    elif item.part.url is not None and item.declared == mime:
        return item.part  # already right: keep the caller's string, no re-encoding
    url = f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"
    check_inline(len(url) - url.index(",") - 1, item.where)
    return ImagePart(url, max_pixels=item.part.max_pixels)


def _no_limit(budget: ImageBudget) -> ImageBudget:
    return ImageBudget(budget.factor, budget.min_pixels, 1 << 62)


def _check_video(part: VideoPart, where: str) -> None:
    if part.frames is not None:
        count = len(part.frames)
        if not VIDEO_MIN_FRAMES <= count <= VIDEO_MAX_FRAMES:
            fix = "Add frames, or send them as separate images." if count < VIDEO_MIN_FRAMES else "Sample fewer."
            raise ValueError(
                f"{where} has {count} frames; a frame list must have {VIDEO_MIN_FRAMES} to {VIDEO_MAX_FRAMES}. {fix}"
            )
        return
    url = part.wire_url or ""
    if url.startswith("data:") and len(url) - url.index(",") - 1 > MAX_DATA_URL_BYTES:
        raise ValueError(
            f"{where} is {len(url) - url.index(',') - 1:,} bytes once base64-encoded; inline videos are limited to "
            f"{MAX_DATA_URL_BYTES:,}. Put the video at a public http(s) URL (up to 2 GB), or send sampled "
            "frames as a frame list."
        )


class _Plan:
    """Pass one's result: every inline item inspected, tokens counted."""

    def __init__(self, spec: ModelSpec, high_res: bool, downscale: bool) -> None:
        self.spec, self.high_res, self.downscale = spec, high_res, downscale
        self.items: dict[tuple[int, int, int], _Inline] = {}
        self.videos: dict[tuple[int, int], VideoPart] = {}
        """Video files given as `file://` URLs or paths, read to go inline."""
        self.media_tokens = 0
        self.text_tokens = 0

    def inspect(self, key: tuple[int, int, int], part: ImagePart, budget: ImageBudget, where: str) -> None:
        item, tokens = _inspect_image(part, budget, where, downscale=self.downscale)
        self.media_tokens += tokens
        if item is not None:
            self.items[key] = item

    def inspect_message(self, m: int, message: Message) -> None:
        for p, part in enumerate(message.content, 1):
            label = f" ({part.label})" if not isinstance(part, TextPart) and part.label else ""
            if isinstance(part, TextPart):
                self.text_tokens += estimate_text_tokens(part.text)
            elif isinstance(part, ImagePart):
                budget = image_budget(self.spec, high_res=self.high_res, max_pixels=part.max_pixels)
                self.inspect((m, p, 0), part, budget, f"Image {p} of message {m}{label}")
            else:
                where = f"Video {p} of message {m}{label}"
                if part.url is not None and not part.url.startswith(("http://", "https://", "data:")):
                    part = self.videos[(m, p)] = replace(video(part.url), fps=part.fps)
                _check_video(part, where)
                for k, frame in enumerate(part.frames or (), 1):
                    if isinstance(frame, str):
                        frame = image(frame) if not is_remote(frame) else ImagePart(frame)
                    self.inspect((m, p, k), frame, video_frame_budget(self.spec), f"{where}, frame {k}")


def _rebuild(message: Message, m: int, done: dict[tuple[int, int, int], ImagePart], plan: _Plan) -> Message:
    parts: list[Part] = []
    for p, part in enumerate(message.content, 1):
        if isinstance(part, ImagePart):
            parts.append(done.get((m, p, 0), part))
        elif isinstance(part, VideoPart):
            part = plan.videos.get((m, p), part)
            if part.frames is not None:
                frames = tuple(done.get((m, p, k), f) for k, f in enumerate(part.frames, 1))
                part = replace(part, frames=frames)
            elif part.data is not None:
                part = VideoPart(url=part.wire_url, fps=part.fps)
            parts.append(part)
        else:
            parts.append(part)
    return replace(message, content=tuple(parts))


def estimate_request_tokens(request: ChatRequest, spec: ModelSpec) -> int:
    """Estimated input tokens: text (a low estimate) plus images and frames whose size is known here.

    Remote URLs are not downloaded, so they count 0; the checks of `prepare_media` run as well.
    """
    plan = _Plan(spec, bool(request.vl_high_resolution_images), downscale=True)
    for m, message in enumerate(request.messages, 1):
        plan.inspect_message(m, message)
    return plan.media_tokens + plan.text_tokens


def prepare_media(
    request: ChatRequest, spec: ModelSpec, *, downscale: bool = True, thinking: bool | None = None
) -> ChatRequest:
    """Check, size and encode every image and video; ValueError (naming the input) before anything is sent.

    `thinking` (the call's mode, None: unknown) picks the model's input limit where the modes differ;
    an input limit no source gives is not checked here (the server judges).
    """
    if not any(not isinstance(p, TextPart) for m in request.messages for p in m.content):
        return request  # the common text-only turn costs nothing
    plan = _Plan(spec, bool(request.vl_high_resolution_images), downscale)
    for m, message in enumerate(request.messages, 1):
        plan.inspect_message(m, message)
    estimate = plan.media_tokens + plan.text_tokens
    limit = spec.input_limit(thinking)
    if limit is not None and estimate > limit:
        raise ValueError(
            f"The request is estimated at {estimate:,} input tokens ({plan.media_tokens:,} for images and video), "
            f"over {spec.name}'s maximum input of {limit:,} (the API would answer 'Range of input "
            "length'). Send fewer or smaller images, or set lower max_pixels."
        )
    done = {key: _finish_image(item) for key, item in plan.items.items()}
    messages = tuple(
        _rebuild(message, m, done, plan) if any(not isinstance(p, TextPart) for p in message.content) else message
        for m, message in enumerate(request.messages, 1)
    )
    return replace(request, messages=messages)


def remote_image_urls(request: ChatRequest) -> list[str]:
    """The http(s) image URLs in a request (for callers who asked to inline them)."""
    urls = [
        p.url
        for m in request.messages
        for p in m.content
        if isinstance(p, ImagePart) and p.url is not None and is_remote(p.url)
    ]
    return list(dict.fromkeys(urls))


def with_fetched_images(request: ChatRequest, fetched: dict[str, bytes]) -> ChatRequest:
    """Replace remote image URLs by the bytes fetched for them; `prepare_media` then checks and sizes them."""
    if not fetched:
        return request

    def swap(part: Part) -> Part:
        if isinstance(part, ImagePart) and part.url in fetched:
            data = fetched[part.url]
            return ImagePart(data=data, mime=detect_image_mime(data), max_pixels=part.max_pixels, label=part.url)
        return part

    messages = tuple(replace(m, content=tuple(swap(p) for p in m.content)) for m in request.messages)
    return replace(request, messages=messages)


def _check_url(url: str, where: str) -> None:
    head = url[:12].lower()
    if "://" in url[:16] and not head.startswith(("http://", "https://", "file://")):
        raise ValueError(f"{where}: unsupported URL {url[:80]!r}; use http(s)://, data:, file:// or a path.")


VIDEO_FPS_RANGE = (0.1, 10.0)
"""Frames sampled per second of a video file or frame list, on both protocols (DashScope API reference
help.aliyun.com/zh/model-studio/qwen-api-via-dashscope and the OpenAI-compatible one)."""


def check_urls(messages: tuple[Message, ...]) -> None:
    """The cheap, pure part of the media checks, run when a call is made (before any I/O): every
    image and video is given by a kind of URL this library can send or read, and a video's `fps`
    is in the documented range."""
    low, high = VIDEO_FPS_RANGE
    for m, message in enumerate(messages, 1):
        for p, part in enumerate(message.content, 1):
            if isinstance(part, ImagePart) and part.url is not None:
                _check_url(part.url, f"Image {p} of message {m}")
            elif isinstance(part, VideoPart):
                fps = part.fps
                if fps is not None and (isinstance(fps, bool) or not low <= fps <= high):
                    raise ValueError(
                        f"Video {p} of message {m}: fps={fps!r} is outside the range the API takes ({low:g} to "
                        f"{high:g} frames per second); the server samples 2 per second when fps is not given."
                    )
                if part.url is not None:
                    _check_url(part.url, f"Video {p} of message {m}")
                for k, frame in enumerate(part.frames or (), 1):
                    if isinstance(frame, str):
                        _check_url(frame, f"Video {p} of message {m}, frame {k}")
