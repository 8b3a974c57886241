"""The check-and-size stage every request goes through (sources → parts live in `sources`).

`prepare_media` runs before a request is sent. It reads local files and decodes data URLs
(bounded before reading: `MAX_IMAGE_FILE_BYTES`, `MAX_VIDEO_FILE_BYTES`), checks each inline
image (format by magic bytes, whole file, both sides > 10 px, aspect ratio <= 200:1, at most
`MAX_IMAGE_PIXELS` to decode, <= 10 MiB encoded), downscales images above the model's pixel budget
with the service's own rounding (so the model sees the same pixels for far fewer bytes), checks
frame counts and inline videos (format by magic bytes, size before encoding), and checks the
estimated prompt against the model's maximum input. Every failure is an `InvalidMediaError` (a
`ValueError`) naming the input, what is wrong and the fix, and never quoting content.

`local_files` says which local files parts may name (paths and `file://` URLs, in image parts,
video parts and video frames alike): True (any; the default for direct use), False (none), or a
list of directories (only files whose real path, symlinks and `..` resolved, is inside one).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, replace

from .catalog import ModelSpec
from .errors import InvalidMediaError
from .formats import IMAGE_MIMES, MAGIC_BYTES, describe, detect_image_mime, detect_video_mime, format_name
from .image_headers import image_problem, image_size
from .imaging import MAX_IMAGE_PIXELS, can_decode, check_decodable, exif_orientation, fit_image, pillow_available
from .reading import (
    MAX_DATA_URL_BYTES,
    MAX_IMAGE_FILE_BYTES,
    MAX_VIDEO_FILE_BYTES,
    LocalFiles,
    base64_length,
    check_inline,
    check_local_files,
    data_url_payload,
    decode_prefix,
    is_canonical_base64,
    read_image_source,
    read_video_file,
    refuse_size,
    source_label,
)
from .sources import bytes_to_data_url, image, image_to_url, is_remote, user_message, video, video_to_url
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
_IMAGES = "BMP, JPEG, PNG, TIFF, WEBP or HEIC"
_VIDEOS = "MP4, MOV, AVI, MKV, WebM, FLV or WMV"

# The sources are re-exported: `qwen_vl_core.media.image(...)` and friends are the documented spelling.
__all__ = [
    "MAX_DATA_URL_BYTES",
    "MAX_IMAGE_FILE_BYTES",
    "MAX_IMAGE_PIXELS",
    "MAX_VIDEO_FILE_BYTES",
    "LocalFiles",
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
# Two passes: the first reads and inspects every inline item from its header (format, size,
# tokens) and raises on any problem, including an over-long prompt; only then does the second
# pass spend time decoding, resizing and encoding.


@dataclass
class _Inline:
    """An inline image after inspection: what the second pass needs to finish it."""

    part: ImagePart
    data: bytes | None
    """None once dropped after pass one: read or decoded again in pass two, so one image at a time is held."""
    mime: str
    keep: bool
    """The caller's data URL can be sent as it is (right MIME type, clean base64, no work)."""
    budget: ImageBudget
    given: ImageBudget
    """The model's budget as given (`budget` is unlimited when downscaling is off)."""
    where: str
    needs_work: bool


def _check_size(size: tuple[int, int], where: str) -> None:
    width, height = size
    if min(width, height) <= _MIN_SIDE:
        raise InvalidMediaError(
            f"{where} is {width}x{height} px; both sides must be larger than {_MIN_SIDE} px. Use a larger image."
        )
    if max(width, height) / min(width, height) > MAX_ASPECT_RATIO:
        raise InvalidMediaError(
            f"{where} is {width}x{height} px, an aspect ratio over {MAX_ASPECT_RATIO}:1, which the API rejects. "
            "Crop it or split it into several images."
        )


def _image_data(part: ImagePart, where: str, local_files: bool | tuple[str, ...]) -> tuple[bytes, bool]:
    """The image's bytes, and whether the caller's data URL may go as it is if its MIME type is right."""
    if part.url is None:
        data = part.data or b""
        if len(data) > MAX_IMAGE_FILE_BYTES:
            refuse_size(len(data), MAX_IMAGE_FILE_BYTES, where, "an image")
        return data, False
    data, _ = read_image_source(part.url, local_files, where)
    if not part.url.startswith("data:"):
        return data, False
    start, declared = data_url_payload(part.url, where)
    return data, declared == detect_image_mime(data) and is_canonical_base64(part.url, start)


def _check_workable(mime: str, size: tuple[int, int] | None, budget: ImageBudget, where: str, *, inline: int) -> None:
    """Pass one's check of an image that must be decoded: can it be, within `MAX_IMAGE_PIXELS`?"""
    name = format_name(mime)
    if not can_decode(mime):
        why = "without Pillow (pip install 'qwen-vl-reasoning[images]')" if not pillow_available() else ""
        why = why or f"without a Pillow plugin for {name} (pillow-heif)"
        if mime not in IMAGE_MIMES:
            raise InvalidMediaError(
                f"{where} is a {name} image, which the API does not accept, and it cannot be converted here {why}. "
                "Convert it to PNG or JPEG."
            )
        if inline > MAX_DATA_URL_BYTES:
            raise InvalidMediaError(
                f"{where} is {inline:,} bytes once base64-encoded, over the API's {MAX_DATA_URL_BYTES:,} per inline "
                f"item, and it cannot be re-encoded here {why}. Convert it to JPEG, or put it at a public http(s) URL."
            )
        return  # only over the pixel budget: sent as it is, the server downscales it
    if size is None:
        raise InvalidMediaError(
            f"{where} is a {name} image whose header gives no size, so it is not decoded here. "
            "Convert it to JPEG or PNG."
        )
    check_decodable(size, mime, budget, where)


def _inspect_image(
    part: ImagePart, budget: ImageBudget, where: str, *, downscale: bool, local_files: bool | tuple[str, ...]
) -> tuple[_Inline | None, int]:
    """Check one image from its header; returns the work left (None for remote URLs) and its tokens."""
    if part.url is not None and is_remote(part.url):
        return None, 0  # the server fetches it; never downloaded here, so its size is unknown
    data, reusable = _image_data(part, where, local_files)
    mime = detect_image_mime(data)
    if mime is None:
        raise InvalidMediaError(f"{where} is not a supported image: it is {describe(data)}. Send {_IMAGES}.")
    problem = image_problem(data, mime)
    if problem is not None:
        raise InvalidMediaError(f"{where} is a {format_name(mime)} image that {problem}. Send the complete file.")
    size = image_size(data)
    if size is None and mime != "image/heic":  # HEIC may keep its size where it is not read here
        raise InvalidMediaError(
            f"{where} is a {format_name(mime)} image whose header gives no size: the file is damaged. "
            "Send an intact file."
        )
    tokens = 0
    if size is not None:
        _check_size(size, where)
        h_bar, w_bar = smart_resize(size[1], size[0], budget.factor, budget.min_pixels, budget.max_pixels)
        tokens = h_bar * w_bar // (budget.factor * budget.factor) + 2
    inline = base64_length(len(data))
    needs_work = needs_reencoding(data, mime, size, budget, downscale=downscale)
    fit = budget if downscale else ImageBudget(budget.factor, budget.min_pixels, 1 << 62)
    if needs_work:
        _check_workable(mime, size, fit, where, inline=inline)
    keep = reusable and not needs_work
    return _Inline(part, data, mime, keep, fit, budget, where, needs_work), tokens


def needs_reencoding(
    data: bytes, mime: str, size: tuple[int, int] | None, budget: ImageBudget, *, downscale: bool
) -> bool:
    """Whether an inline image is re-encoded (with Pillow) before it is sent.

    Always when its format is not accepted or it is over the inline size limit; with `downscale`
    also when it is above the pixel budget, or stored rotated or mirrored (EXIF orientation other
    than 1): it is then sent upright, so the model sees what the user sees whatever the server does
    with EXIF, and grounding coordinates refer to the upright image.
    """
    if mime not in IMAGE_MIMES or base64_length(len(data)) > MAX_DATA_URL_BYTES:
        return True
    if not downscale:
        return False
    return (size is not None and size[0] * size[1] > budget.max_pixels) or exif_orientation(data) != 1


def _finish_image(item: _Inline) -> ImagePart:
    data, mime = item.data or b"", item.mime
    if item.needs_work:
        fitted = fit_image(data, mime, item.budget, force_encode=True, where=item.where)
        if fitted is not None:
            data, mime = fitted.data, fitted.mime
    elif item.keep:
        return item.part  # already right: keep the caller's string, no re-encoding
    url = f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"
    check_inline(len(url) - url.index(",") - 1, item.where)
    return ImagePart(url, max_pixels=item.part.max_pixels)


def _check_video_data(data: bytes, where: str) -> str:
    mime = detect_video_mime(data)
    if mime is None:
        fix = "Send it as an image part, or send a video" if detect_image_mime(data) else "Send a video"
        raise InvalidMediaError(f"{where} is not a supported video: it is {describe(data)}. {fix}: {_VIDEOS}.")
    return mime


def _prepare_video(part: VideoPart, where: str, local_files: bool | tuple[str, ...]) -> VideoPart:
    """A video ready to send: frame count, or the file read (bounded), its size and format checked."""
    if part.frames is not None:
        count = len(part.frames)
        if not VIDEO_MIN_FRAMES <= count <= VIDEO_MAX_FRAMES:
            fix = "Add frames, or send them as separate images." if count < VIDEO_MIN_FRAMES else "Sample fewer."
            raise InvalidMediaError(
                f"{where} has {count} frames; a frame list must have {VIDEO_MIN_FRAMES} to {VIDEO_MAX_FRAMES}. {fix}"
            )
        return part
    url = part.url
    if url is not None and is_remote(url):
        return part  # the server fetches it (up to 2 GB)
    if url is not None and url.startswith("data:"):
        start, declared = data_url_payload(url, where)
        if len(url) - start > MAX_DATA_URL_BYTES:
            raise InvalidMediaError(
                f"{where} is {len(url) - start:,} bytes once base64-encoded; inline videos are limited to "
                f"{MAX_DATA_URL_BYTES:,}. Put the video at a public http(s) URL (up to 2 GB), or send sampled "
                "frames as a frame list."
            )
        mime = _check_video_data(decode_prefix(url, start, MAGIC_BYTES, where), where)
        return part if declared == mime else replace(part, url=f"data:{mime};base64,{url[start:]}")
    data = part.data if part.data is not None else read_video_file(url or "", local_files, where)
    if len(data) > MAX_VIDEO_FILE_BYTES:  # checked before base64-encoding it
        refuse_size(len(data), MAX_VIDEO_FILE_BYTES, where, "a video")
    mime = _check_video_data(data, where)
    return VideoPart(url=f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}", fps=part.fps)


def _label(part: ImagePart | VideoPart) -> str:
    label = part.label or (source_label(part.url) if part.url is not None else None)
    return f" ({label})" if label else ""


class _Plan:
    """Pass one's result: every inline item read and inspected, tokens counted."""

    def __init__(self, spec: ModelSpec, high_res: bool, downscale: bool, local_files: LocalFiles) -> None:
        self.spec, self.high_res, self.downscale = spec, high_res, downscale
        self.local_files = check_local_files(local_files)
        self.items: dict[tuple[int, int, int], _Inline] = {}
        self.videos: dict[tuple[int, int], VideoPart] = {}
        """Video files read or re-labelled, ready to send."""
        self.media_tokens = 0
        self.text_tokens = 0

    def inspect(self, key: tuple[int, int, int], part: ImagePart, budget: ImageBudget, where: str) -> None:
        item, tokens = _inspect_image(part, budget, where, downscale=self.downscale, local_files=self.local_files)
        self.media_tokens += tokens
        if item is not None:
            if part.data is None:  # read from a file or decoded: dropped now, read again in pass two
                item.data = None
            self.items[key] = item

    def finish(self, item: _Inline) -> ImagePart:
        if item.keep:
            return item.part
        if item.data is None:  # the same checks again: a file may have changed in between
            again, _ = _inspect_image(
                item.part, item.given, item.where, downscale=self.downscale, local_files=self.local_files
            )
            assert again is not None  # remote URLs never become items
            item = again
        return _finish_image(item)

    def inspect_message(self, m: int, message: Message) -> None:
        for p, part in enumerate(message.content, 1):
            if isinstance(part, TextPart):
                self.text_tokens += estimate_text_tokens(part.text)
            elif isinstance(part, ImagePart):
                budget = image_budget(self.spec, high_res=self.high_res, max_pixels=part.max_pixels)
                self.inspect((m, p, 0), part, budget, f"Image {p} of message {m}{_label(part)}")
            else:
                where = f"Video {p} of message {m}{_label(part)}"
                prepared = _prepare_video(part, where, self.local_files)
                if prepared is not part:
                    self.videos[(m, p)] = prepared
                for k, frame in enumerate(part.frames or (), 1):
                    if isinstance(frame, str):
                        if is_remote(frame):
                            continue
                        frame = ImagePart(frame)  # a path, file:// URL or data URL: read through the same gate
                    where_k = f"{where}, frame {k}{_label(frame)}"
                    self.inspect((m, p, k), frame, video_frame_budget(self.spec), where_k)

    def run(self, request: ChatRequest) -> int:
        for m, message in enumerate(request.messages, 1):
            self.inspect_message(m, message)
        return self.media_tokens + self.text_tokens


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
            parts.append(part)
        else:
            parts.append(part)
    return replace(message, content=tuple(parts))


def estimate_request_tokens(request: ChatRequest, spec: ModelSpec, *, local_files: LocalFiles = True) -> int:
    """Estimated input tokens: text (a low estimate) plus images and frames whose size is known here.

    Remote URLs are not downloaded, so they count 0; the checks of `prepare_media` run as well
    (local files are read through the same `local_files` gate).
    """
    return _Plan(spec, bool(request.vl_high_resolution_images), True, local_files).run(request)


def prepare_media(
    request: ChatRequest,
    spec: ModelSpec,
    *,
    downscale: bool = True,
    local_files: LocalFiles = True,
    thinking: bool | None = None,
) -> ChatRequest:
    """Check, size and encode every image and video; InvalidMediaError (naming the input) before anything is sent.

    `local_files`: True (paths and `file://` URLs may be read), False (refused), or the directories
    they must be inside (their real path, symlinks and `..` resolved). `thinking` (the call's mode,
    None: unknown) picks the model's input limit where the modes differ; an input limit no source
    gives is not checked here (the server judges).
    """
    if not any(not isinstance(p, TextPart) for m in request.messages for p in m.content):
        check_local_files(local_files)
        return request  # the common text-only turn costs nothing
    plan = _Plan(spec, bool(request.vl_high_resolution_images), downscale, local_files)
    estimate = plan.run(request)
    limit = spec.input_limit(thinking)
    if limit is not None and estimate > limit:
        raise ValueError(
            f"The request is estimated at {estimate:,} input tokens ({plan.media_tokens:,} for images and video), "
            f"over {spec.name}'s maximum input of {limit:,} (the API would answer 'Range of input "
            "length'). Send fewer or smaller images, or set lower max_pixels."
        )
    done = {key: plan.finish(item) for key, item in plan.items.items()}
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
