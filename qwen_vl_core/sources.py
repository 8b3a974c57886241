"""Image and video sources → parts: URLs, data URLs, paths, `file://` URLs, bytes, base64, PIL images.

http(s) URLs are passed through untouched (never downloaded). The compat API cannot read local
files ("Failed to download multimodal content"), so they are read and sent inline. Checking,
sizing and encoding happen later, once per request, in `qwen_vl_core.media.prepare_media`.
"""

from __future__ import annotations

import base64
import binascii
import io
import os
import re
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from .formats import detect_image_mime, detect_mime
from .types import ImagePart, Message, Part, TextPart, VideoPart

__all__ = [
    "MAX_DATA_URL_BYTES",
    "bytes_to_data_url",
    "check_inline",
    "image",
    "image_to_url",
    "is_remote",
    "user_message",
    "video",
    "video_to_url",
]

MAX_DATA_URL_BYTES = 10 * 1024 * 1024
"""The server's limit on one data URL's base64 payload (`Exceeded limit on max bytes per data-uri item`)."""


def bytes_to_data_url(data: bytes, mime: str | None = None, *, what: str = "image") -> str:
    """Encode bytes as a data URL (MIME from magic bytes), checking the 10 MiB inline limit."""
    mime = detect_mime(data) or mime
    if mime is None:
        raise ValueError(
            f"Cannot tell the format of this {what} ({len(data)} bytes, starting {data[:8]!r}); "
            "supported images are BMP, JPEG, PNG, TIFF, WEBP and HEIC."
        )
    encoded = base64.b64encode(data).decode("ascii")
    check_inline(len(encoded), what)
    return f"data:{mime};base64,{encoded}"


def check_inline(encoded_len: int, what: str) -> None:
    if encoded_len > MAX_DATA_URL_BYTES:
        raise ValueError(
            f"{what} is {encoded_len:,} bytes once base64-encoded; the API accepts at most {MAX_DATA_URL_BYTES:,} "
            "per inline item. Send a smaller file, or put it at a public http(s) URL."
        )


def _local_path(source: str | os.PathLike[str]) -> Path | None:
    if isinstance(source, os.PathLike):
        return Path(source)
    if source.startswith("file://"):
        return Path(unquote(urlsplit(source).path))
    if "://" in source or source.startswith("data:"):
        return None
    return Path(source)


def _read(source: str | os.PathLike[str], what: str) -> tuple[bytes, str]:
    path = _local_path(source)
    if path is None:
        raise ValueError(f"Unsupported {what} URL {str(source)[:80]!r}: use http(s)://, data:, file:// or a path.")
    if not path.is_file():
        raise ValueError(f"The {what} file {str(path)!r} does not exist (or is not a file).")
    return path.read_bytes(), path.name


def _pil_bytes(img: Any) -> bytes:
    buffer = io.BytesIO()
    img.save(buffer, "PNG")
    return buffer.getvalue()


_BASE64 = re.compile(r"[A-Za-z0-9+/]{64,}={0,2}")


def _looks_base64(text: str) -> bool:
    """A bare base64 string (no data: prefix), as LangChain's base64 blocks and many APIs hand around."""
    return _BASE64.fullmatch(text[:4096].strip() if len(text) > 4096 else text.strip()) is not None


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
    if isinstance(source, str) and not os.path.exists(source) and _looks_base64(source):
        try:
            return _image_bytes(base64.b64decode(source, validate=True), max_pixels, "base64")
        except binascii.Error:
            pass
    data, name = _read(source, "image")
    return _image_bytes(data, max_pixels, name)


def _image_bytes(data: bytes, max_pixels: int | None, label: str) -> ImagePart:
    return ImagePart(data=data, mime=detect_image_mime(data), max_pixels=max_pixels, label=label)


def video(source: Any, *, fps: float | None = None) -> VideoPart:
    """A video part from a URL, path or bytes, or from a list of frames (each any image source)."""
    if isinstance(source, VideoPart):
        return source
    if isinstance(source, list | tuple):
        return VideoPart(frames=tuple(image(f) if not is_remote(f) else f for f in source), fps=fps)
    if isinstance(source, bytes | bytearray):
        return VideoPart(data=bytes(source), mime=detect_mime(bytes(source)), fps=fps, label="bytes")
    if isinstance(source, str) and source.startswith(("http://", "https://", "data:")):
        return VideoPart(url=source, fps=fps)
    data, name = _read(source, "video")
    return VideoPart(data=data, mime=detect_mime(data) or "video/mp4", fps=fps, label=name)


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


def image_to_url(source: str | os.PathLike[str] | bytes) -> str:
    """An http(s) URL or data URL for an image given as URL, data URL, path, `file://` URL or bytes."""
    return image(source).wire_url


def video_to_url(source: str | os.PathLike[str] | bytes) -> str:
    """The same for a video file (local files go inline, so they must stay under 10 MiB encoded)."""
    part = video(source)
    url = part.wire_url or ""
    if url.startswith("data:"):
        check_inline(len(url) - url.index(",") - 1, f"The video {part.label!r}")
    return url
