"""File formats from magic bytes, never from names: a lying extension or MIME type is corrected."""

from __future__ import annotations

__all__ = ["IMAGE_MIMES", "detect_image_mime", "detect_mime"]

IMAGE_MIMES = frozenset({"image/bmp", "image/jpeg", "image/png", "image/tiff", "image/webp", "image/heic"})
"""The image formats Model Studio accepts."""

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
