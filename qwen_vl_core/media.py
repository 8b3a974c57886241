"""Image and video sources → what the API takes: an http(s) URL or a `data:` URL.

The compat API cannot read local files (`file://` or a path makes the server fail with "Failed to
download multimodal content"), so local files are read here and sent inline. Remote URLs are
passed through untouched and never downloaded. The format comes from the file's magic bytes, not
its name, so a lying extension does not produce a wrong MIME type.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path
from urllib.parse import unquote, urlsplit

__all__ = [
    "MAX_DATA_URL_BYTES",
    "bytes_to_data_url",
    "detect_image_mime",
    "detect_mime",
    "image_to_url",
    "video_to_url",
]

MAX_DATA_URL_BYTES = 10 * 1024 * 1024
"""The server's limit on one data URL's base64 payload (`Exceeded limit on max bytes per data-uri item`)."""

_IMAGE_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"BM", "image/bmp"),
    (b"II*\x00", "image/tiff"),
    (b"MM\x00*", "image/tiff"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
)


def detect_image_mime(data: bytes) -> str | None:
    """The image MIME type from magic bytes (BMP, JPEG, PNG, TIFF, WEBP, HEIC), or None."""
    for magic, mime in _IMAGE_MAGIC:
        if data.startswith(magic):
            return mime
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data[4:8] == b"ftyp" and data[8:12] in (b"heic", b"heix", b"hevc", b"heim", b"heis", b"mif1"):
        return "image/heic"
    return None


def detect_mime(data: bytes) -> str | None:
    """Image or common video MIME type from magic bytes."""
    image = detect_image_mime(data)
    if image:
        return image
    if data[4:8] == b"ftyp":
        return "video/quicktime" if data[8:10] == b"qt" else "video/mp4"
    if data[:4] == b"RIFF" and data[8:11] == b"AVI":
        return "video/x-msvideo"
    if data[:4] == b"\x1aE\xdf\xa3":
        return "video/x-matroska"
    if data[:3] == b"FLV":
        return "video/x-flv"
    return None


def bytes_to_data_url(data: bytes, mime: str | None = None, *, what: str = "image") -> str:
    """Encode bytes as a data URL, checking the 10 MiB inline limit before anything is sent."""
    detected = detect_mime(data)
    mime = detected or mime
    if mime is None:
        raise ValueError(
            f"Cannot tell the format of this {what} ({len(data)} bytes, starting {data[:8]!r}); "
            "supported images are BMP, JPEG, PNG, TIFF, WEBP and HEIC."
        )
    encoded = base64.b64encode(data).decode("ascii")
    if len(encoded) > MAX_DATA_URL_BYTES:
        raise ValueError(
            f"This {what} is {len(encoded):,} bytes once base64-encoded; the API accepts at most "
            f"{MAX_DATA_URL_BYTES:,} per inline item. Downscale or recompress it, or pass a public URL."
        )
    return f"data:{mime};base64,{encoded}"


def _local_path(source: str | os.PathLike[str]) -> Path | None:
    if isinstance(source, os.PathLike):
        return Path(source)
    if source.startswith("file://"):
        parts = urlsplit(source)
        return Path(unquote(parts.path))
    if "://" in source or source.startswith("data:"):
        return None
    return Path(source)


def _to_url(source: str | os.PathLike[str] | bytes, what: str) -> str:
    if isinstance(source, bytes | bytearray):
        return bytes_to_data_url(bytes(source), what=what)
    if isinstance(source, str) and source.startswith(("http://", "https://", "data:")):
        return source
    path = _local_path(source)
    if path is None:
        raise ValueError(f"Unsupported {what} URL {str(source)[:80]!r}: use http(s)://, data:, file:// or a path.")
    if not path.is_file():
        raise ValueError(f"The {what} file {str(path)!r} does not exist (or is not a file).")
    return bytes_to_data_url(path.read_bytes(), what=f"{what} {path.name!r}")


def image_to_url(source: str | os.PathLike[str] | bytes) -> str:
    """An http(s) URL or data URL for an image given as URL, data URL, path, `file://` URL or bytes."""
    return _to_url(source, "image")


def video_to_url(source: str | os.PathLike[str] | bytes) -> str:
    """The same for a video file (local files go inline, so they must stay under 10 MiB encoded)."""
    return _to_url(source, "video")
