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
from .formats import IMAGE_MIMES, describe, detect_image_mime, format_name
from .image_headers import image_problem, image_size
from .imaging import MAX_IMAGE_PIXELS, can_decode, check_decodable, exif_orientation, fit_image, pillow_available
from .media_urls import VIDEO_FPS_RANGE, check_urls, remote_image_urls, with_fetched_images
from .media_video import prepare_video
from .reading import (
    MAX_DATA_URL_BYTES,
    MAX_IMAGE_FILE_BYTES,
    MAX_VIDEO_FILE_BYTES,
    LocalFiles,
    base64_length,
    check_inline,
    check_local_files,
    data_url_payload,
    is_canonical_base64,
    read_image_source,
    refuse_size,
    source_label,
)
from .sources import bytes_to_data_url, image, image_to_url, is_remote, user_message, video, video_to_url
from .tokens import (
    MAX_ASPECT_RATIO,
    ImageBudget,
    client_resize,
    estimate_text_tokens,
    image_budget,
    smart_resize,
    video_frame_budget,
)
from .types import ChatRequest, ImagePart, Message, Part, TextPart, VideoPart

_MIN_SIDE = 10
"""Both sides of an image must be larger than this (the API rejects smaller ones)."""
_IMAGES = "BMP, JPEG, PNG, TIFF, WEBP or HEIC"

# The sources are re-exported: `qwen_vl_core.media.image(...)` and friends are the documented spelling.
__all__ = [
    "MAX_DATA_URL_BYTES",
    "MAX_IMAGE_FILE_BYTES",
    "MAX_IMAGE_PIXELS",
    "MAX_VIDEO_FILE_BYTES",
    "VIDEO_FPS_RANGE",
    "LocalFiles",
    "SentImage",
    "bytes_to_data_url",
    "check_urls",
    "estimate_request_tokens",
    "image",
    "image_to_url",
    "needs_reencoding",
    "prepare_media",
    "prepare_media_report",
    "remote_image_urls",
    "user_message",
    "video",
    "video_to_url",
    "with_fetched_images",
]


@dataclass(frozen=True)
class SentImage:
    """What happened to one inline image: its size as the user sees it and as it was sent."""

    width: int
    height: int
    """The original, EXIF orientation applied."""
    sent_width: int
    sent_height: int
    sent_orientation: int
    """The EXIF orientation the sent bytes still carry (1 once re-encoded upright)."""


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
    size: tuple[int, int] | None = None
    orientation: int = 1


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
    orientation = exif_orientation(data) if size is not None else 1
    needs_work = needs_reencoding(data, mime, size, budget, downscale=downscale, orientation=orientation)
    fit = budget if downscale else ImageBudget(budget.factor, budget.min_pixels, 1 << 62)
    if needs_work:
        _check_workable(mime, size, fit, where, inline=inline)
    keep = reusable and not needs_work
    return _Inline(part, data, mime, keep, fit, budget, where, needs_work, size, orientation), tokens


def needs_reencoding(
    data: bytes,
    mime: str,
    size: tuple[int, int] | None,
    budget: ImageBudget,
    *,
    downscale: bool,
    orientation: int | None = None,
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
    if size is not None and client_resize(size[1], size[0], budget) is not None:
        return True
    return (exif_orientation(data) if orientation is None else orientation) != 1


def _report(item: _Inline, sent: tuple[int, int] | None = None) -> SentImage | None:
    if item.size is None:
        return None  # a HEIC whose size the header does not give
    width, height = item.size
    upright = (height, width) if item.orientation in (5, 6, 7, 8) else (width, height)
    if sent is not None:  # re-encoded: resized, and turned upright
        return SentImage(*upright, sent[0], sent[1], 1)
    return SentImage(*upright, width, height, item.orientation)


def _finish_image(item: _Inline) -> tuple[ImagePart, SentImage | None]:
    data, mime = item.data or b"", item.mime
    sent: tuple[int, int] | None = None
    if item.needs_work:
        fitted = fit_image(data, mime, item.budget, force_encode=True, where=item.where)
        if fitted is not None:
            data, mime, sent = fitted.data, fitted.mime, (fitted.width, fitted.height)
    elif item.keep:
        return item.part, _report(item)  # already right: keep the caller's string, no re-encoding
    url = f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"
    check_inline(len(url) - url.index(",") - 1, item.where)
    return ImagePart(url, max_pixels=item.part.max_pixels), _report(item, sent)


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

    def finish(self, item: _Inline) -> tuple[ImagePart, SentImage | None]:
        if item.keep:
            return item.part, _report(item)
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
                prepared = prepare_video(part, where, self.local_files)
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
    prepared, _ = prepare_media_report(request, spec, downscale=downscale, local_files=local_files, thinking=thinking)
    return prepared


def prepare_media_report(
    request: ChatRequest,
    spec: ModelSpec,
    *,
    downscale: bool = True,
    local_files: LocalFiles = True,
    thinking: bool | None = None,
) -> tuple[ChatRequest, dict[tuple[int, int], SentImage]]:
    """`prepare_media`, and what happened to each inline image (keyed by message and part, from 1)."""
    if not any(not isinstance(p, TextPart) for m in request.messages for p in m.content):
        check_local_files(local_files)
        return request, {}  # the common text-only turn costs nothing
    plan = _Plan(spec, bool(request.vl_high_resolution_images), downscale, local_files)
    estimate = plan.run(request)
    limit = spec.input_limit(thinking)
    if limit is not None and estimate > limit:
        raise ValueError(
            f"The request is estimated at {estimate:,} input tokens ({plan.media_tokens:,} for images and video), "
            f"over {spec.name}'s maximum input of {limit:,} (the API would answer 'Range of input "
            "length'). Send fewer or smaller images, or set lower max_pixels."
        )
    finished = {key: plan.finish(item) for key, item in plan.items.items()}
    done = {key: part for key, (part, _) in finished.items()}
    report = {(m, p): sent for (m, p, k), (_, sent) in finished.items() if k == 0 and sent is not None}
    messages = tuple(
        _rebuild(message, m, done, plan) if any(not isinstance(p, TextPart) for p in message.content) else message
        for m, message in enumerate(request.messages, 1)
    )
    return replace(request, messages=messages), report
