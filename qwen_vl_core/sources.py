"""Image and video sources → parts: URLs, data URLs, paths, `file://` URLs, bytes, base64, PIL images.

http(s) URLs are passed through untouched (never downloaded). The compat API cannot read local
files ("Failed to download multimodal content"), so they are read and sent inline. Checking,
sizing and encoding happen later, once per request, in `qwen_vl_core.media.prepare_media`.

Files and base64 are read through `reading` (bounded, behind the `local_files` gate); here, direct
calls such as `image("photo.jpg")` may read any local file, as the caller asked.
"""

from __future__ import annotations

import base64
import io
import os
from typing import Any
from urllib.parse import unquote, urlsplit

from .errors import InvalidMediaError
from .formats import describe, detect_image_mime, detect_video_mime
from .reading import (
    MAX_DATA_URL_BYTES,
    MAX_IMAGE_FILE_BYTES,
    MAX_VIDEO_FILE_BYTES,
    base64_length,
    check_inline,
    file_label,
    looks_base64,
    read_image_source,
    read_video_file,
    refuse_size,
)
from .types import ImagePart, Message, Part, TextPart, VideoPart

__all__ = [
    "MAX_DATA_URL_BYTES",
    "MAX_IMAGE_FILE_BYTES",
    "MAX_VIDEO_FILE_BYTES",
    "bytes_to_data_url",
    "image",
    "image_to_url",
    "is_remote",
    "user_message",
    "video",
    "video_to_url",
]


def _pil_bytes(img: Any) -> bytes:
    buffer = io.BytesIO()
    img.save(buffer, "PNG")
    return buffer.getvalue()


def _source_where(source: Any, kind: str) -> str:
    """How a direct call names its source: the path as given (a `file://` URL's path), which the caller wrote."""
    if isinstance(source, os.PathLike) or (isinstance(source, str) and not looks_base64(source)):
        path = os.fspath(source)
        path = unquote(urlsplit(path).path) if path.startswith("file://") else path
        return f"The {kind} file {path if len(path) <= 200 else path[:197] + '...'!r}"
    return f"The {kind}"


def _check_scheme(source: Any, kind: str) -> None:
    if not isinstance(source, str | os.PathLike):
        takes = "bytes, base64 string or PIL image" if kind == "image" else "bytes or a list of frames"
        raise TypeError(f"{kind}() takes a URL, data URL, path, file:// URL, {takes}; got {type(source).__name__}")
    if isinstance(source, str) and "://" in source and not source.startswith("file://"):
        raise InvalidMediaError(f"Unsupported {kind} URL {source[:80]!r}: use http(s)://, data:, file:// or a path.")


def image(source: Any, *, max_pixels: int | None = None) -> ImagePart:
    """An image part from a URL, data URL, path, `file://` URL, bytes, base64 string or PIL image."""
    if isinstance(source, ImagePart):
        return source
    if isinstance(source, bytes | bytearray):
        return _image_bytes(bytes(source), max_pixels, "bytes")
    if hasattr(source, "save") and hasattr(source, "size"):  # PIL.Image.Image, without importing Pillow
        return _image_bytes(_pil_bytes(source), max_pixels, "PIL image")
    if isinstance(source, str) and source.startswith(("http://", "https://", "data:")):
        return ImagePart(source, max_pixels=max_pixels)
    _check_scheme(source, "image")
    data, label = read_image_source(source, True, _source_where(source, "image"))
    return _image_bytes(data, max_pixels, label)


def _image_bytes(data: bytes, max_pixels: int | None, label: str) -> ImagePart:
    return ImagePart(data=data, mime=detect_image_mime(data), max_pixels=max_pixels, label=label)


def video(source: Any, *, fps: float | None = None) -> VideoPart:
    """A video part from a URL, path or bytes, or from a list of frames (each any image source)."""
    if isinstance(source, VideoPart):
        return source
    if isinstance(source, list | tuple):
        return VideoPart(frames=tuple(image(f) if not is_remote(f) else f for f in source), fps=fps)
    if isinstance(source, bytes | bytearray):
        return VideoPart(data=bytes(source), mime=detect_video_mime(bytes(source)), fps=fps, label="bytes")
    if isinstance(source, str) and source.startswith(("http://", "https://", "data:")):
        return VideoPart(url=source, fps=fps)
    _check_scheme(source, "video")
    data = read_video_file(source, True, _source_where(source, "video"))
    return VideoPart(data=data, mime=detect_video_mime(data), fps=fps, label=file_label(source))


def is_remote(source: Any) -> bool:
    return isinstance(source, str) and source.startswith(("http://", "https://"))


def user_message(*items: Any) -> Message:
    """A user message from text (`str`), image parts (`image(...)`) and video parts (`video(...)`), in order."""
    parts: list[Part] = []
    for item in items:
        if isinstance(item, str):
            parts.append(TextPart(item))
        elif isinstance(item, TextPart | ImagePart | VideoPart):
            parts.append(item)
        else:
            raise TypeError(
                f"user_message takes text and parts; wrap images with image(...) and videos with video(...), "
                f"got {type(item).__name__}"
            )
    return Message("user", tuple(parts))


def bytes_to_data_url(data: bytes, mime: str | None = None, *, what: str = "image") -> str:
    """Encode image or video bytes as a data URL (MIME from magic bytes), checking the 10 MiB inline limit."""
    mime = detect_image_mime(data) or detect_video_mime(data) or mime
    if mime is None:
        raise InvalidMediaError(
            f"The {what} ({len(data):,} bytes) is not a supported image or video: it is {describe(data)}. Send "
            "BMP, JPEG, PNG, TIFF, WEBP or HEIC images, or MP4, MOV, AVI, MKV, WebM, FLV or WMV videos."
        )
    check_inline(base64_length(len(data)), f"The {what}")
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def image_to_url(source: str | os.PathLike[str] | bytes) -> str:
    """An http(s) URL or data URL for an image given as URL, data URL, path, `file://` URL or bytes."""
    part = image(source)
    if part.data is not None and part.mime is None:
        where = f"The image {part.label!r}" if part.label else "The image"
        raise InvalidMediaError(
            f"{where} is not a supported image: it is {describe(part.data)}. Send BMP, JPEG, PNG, TIFF, WEBP or HEIC."
        )
    return part.wire_url


def video_to_url(source: str | os.PathLike[str] | bytes) -> str:
    """The same for a video file (local files go inline, so they must stay under 10 MiB encoded)."""
    part = video(source)
    where = f"The video {part.label!r}" if part.label else "The video"
    if part.data is not None:
        if part.mime is None:
            raise InvalidMediaError(
                f"{where} is not a supported video: it is {describe(part.data)}. "
                "Send MP4, MOV, AVI, MKV, WebM, FLV or WMV."
            )
        if len(part.data) > MAX_VIDEO_FILE_BYTES:
            refuse_size(len(part.data), MAX_VIDEO_FILE_BYTES, where, "a video")
    url = part.wire_url or ""
    if url.startswith("data:"):
        check_inline(len(url) - url.index(",") - 1, where)
    return url
