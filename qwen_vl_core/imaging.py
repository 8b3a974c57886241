"""Image bytes: format and size from the header, and (with Pillow) resizing to the model's budget.

Header parsing needs no dependency, so the 10-pixel, 200:1 and budget checks run even without
Pillow; only resizing needs it (the `images` extra). Without Pillow images are sent as they are,
after the checks, and a one-time hint says what is lost.
"""

from __future__ import annotations

import io
import logging
import struct
from dataclasses import dataclass
from typing import Any

from .formats import detect_image_mime
from .tokens import ImageBudget, smart_resize

__all__ = ["EncodedImage", "exif_orientation", "fit_image", "image_size", "pillow_available"]

logger = logging.getLogger("qwen_vl_core")
_hinted = False


def pillow_available() -> bool:
    try:
        import PIL.Image  # noqa: F401
    except ImportError:
        return False
    return True


def _hint_no_pillow() -> None:
    global _hinted
    if not _hinted:
        _hinted = True
        logger.warning(
            "Pillow is not installed, so images larger than the model's pixel budget are sent at full size "
            "(more bytes to upload, same tokens). Install the extra: pip install 'qwen-vl-reasoning[images]'."
        )


def _png(data: bytes) -> tuple[int, int] | None:
    if len(data) >= 24 and data[12:16] == b"IHDR":
        w, h = struct.unpack(">II", data[16:24])
        return int(w), int(h)
    return None


def _jpeg(data: bytes) -> tuple[int, int] | None:
    i = 2
    while i + 9 < len(data):
        if data[i] != 0xFF:
            i += 1
            continue
        marker = data[i + 1]
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7 or marker == 0xFF:
            i += 1 if marker == 0xFF else 2
            continue
        (length,) = struct.unpack(">H", data[i + 2 : i + 4])
        if marker in (0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF):
            h, w = struct.unpack(">HH", data[i + 5 : i + 9])
            return int(w), int(h)
        i += 2 + length
    return None


def _webp(data: bytes) -> tuple[int, int] | None:
    kind = data[12:16]
    if kind == b"VP8 " and len(data) >= 30:
        w, h = struct.unpack("<HH", data[26:30])
        return int(w) & 0x3FFF, int(h) & 0x3FFF
    if kind == b"VP8L" and len(data) >= 25:
        bits = int.from_bytes(data[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if kind == b"VP8X" and len(data) >= 30:
        return int.from_bytes(data[24:27], "little") + 1, int.from_bytes(data[27:30], "little") + 1
    return None


def _bmp(data: bytes) -> tuple[int, int] | None:
    if len(data) >= 26:
        w, h = struct.unpack("<ii", data[18:26])
        return abs(int(w)), abs(int(h))
    return None


def image_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from the header; None when the format's header is not parsed here (TIFF, HEIC)."""
    mime = detect_image_mime(data)
    size: tuple[int, int] | None = None
    if mime == "image/png":
        size = _png(data)
    elif mime == "image/jpeg":
        size = _jpeg(data)
    elif mime == "image/webp":
        size = _webp(data)
    elif mime == "image/bmp":
        size = _bmp(data)
    elif mime == "image/gif" and len(data) >= 10:
        w, h = struct.unpack("<HH", data[6:10])
        size = int(w), int(h)
    if size is None and pillow_available():
        size = _pillow_size(data)
    return size


def _pillow_size(data: bytes) -> tuple[int, int] | None:
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as img:
            return int(img.width), int(img.height)
    except Exception:
        return None


def _tiff_orientation(tiff: bytes) -> int:
    """Orientation (tag 0x0112) from IFD0 of a TIFF structure (the body of an EXIF block); 1 when absent."""
    if len(tiff) < 8 or tiff[:2] not in (b"II", b"MM"):
        return 1
    order = "<" if tiff[:2] == b"II" else ">"
    (ifd,) = struct.unpack(order + "I", tiff[4:8])
    if ifd + 2 > len(tiff):
        return 1
    (count,) = struct.unpack(order + "H", tiff[ifd : ifd + 2])
    for k in range(min(count, 1024)):
        entry = ifd + 2 + 12 * k
        if entry + 12 > len(tiff):
            break
        tag, kind = struct.unpack(order + "HH", tiff[entry : entry + 4])
        if tag == 0x0112 and kind == 3:  # SHORT
            (value,) = struct.unpack(order + "H", tiff[entry + 8 : entry + 10])
            return int(value) if 1 <= value <= 8 else 1
    return 1


def _jpeg_exif(data: bytes) -> bytes | None:
    i = 2
    while i + 4 <= len(data) and data[i] == 0xFF:
        marker = data[i + 1]
        if marker == 0xFF:
            i += 1
            continue
        if marker in (0xD9, 0xDA):  # end of image, start of scan: no metadata after this
            return None
        (length,) = struct.unpack(">H", data[i + 2 : i + 4])
        if marker == 0xE1 and data[i + 4 : i + 10] == b"Exif\x00\x00":
            return data[i + 10 : i + 2 + length]
        i += 2 + length
    return None


def _chunk_exif(data: bytes, start: int, *, png: bool) -> bytes | None:
    """The EXIF chunk of a PNG (`eXIf`) or WebP (`EXIF`) file, walking the chunk headers only."""
    i = start
    while i + 8 <= len(data):
        if png:
            (length,) = struct.unpack(">I", data[i : i + 4])
            kind, body, step = data[i + 4 : i + 8], i + 8, 12 + length
        else:
            kind = data[i : i + 4]
            (length,) = struct.unpack("<I", data[i + 4 : i + 8])
            body, step = i + 8, 8 + length + (length & 1)
        if kind in (b"eXIf", b"EXIF"):
            block = data[body : body + length]
            return block[6:] if block.startswith(b"Exif\x00\x00") else block
        if kind == b"IEND":
            return None
        i += step
    return None


def exif_orientation(data: bytes) -> int:
    """The EXIF orientation (1-8; 1 = stored upright) of encoded image bytes, from the metadata only.

    JPEG, PNG, WebP and TIFF are read here without Pillow; other formats (HEIC) through Pillow when
    it is installed, else 1. Values 5-8 are quarter turns: the image is shown with width and height
    swapped.
    """
    mime = detect_image_mime(data)
    block: bytes | None
    if mime == "image/jpeg":
        block = _jpeg_exif(data)
    elif mime == "image/png":
        block = _chunk_exif(data, 8, png=True)
    elif mime == "image/webp":
        block = _chunk_exif(data, 12, png=False)
    elif mime == "image/tiff":
        block = data
    elif mime is not None and pillow_available():
        return _pillow_orientation(data)
    else:
        block = None
    return 1 if block is None else _tiff_orientation(block)


def _pillow_orientation(data: bytes) -> int:
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as img:
            value = img.getexif().get(0x0112, 1)
    except Exception:
        return 1
    return int(value) if isinstance(value, int) and 1 <= value <= 8 else 1


@dataclass(frozen=True)
class EncodedImage:
    data: bytes
    mime: str
    width: int
    height: int
    resized: bool


def _has_alpha(img: Any) -> bool:
    if img.mode in ("RGBA", "LA", "PA"):
        return bool(img.getchannel("A").getextrema()[0] < 255)
    return img.mode == "P" and "transparency" in img.info


def _save(img: Any, fmt: str) -> bytes:
    buffer = io.BytesIO()
    if fmt == "JPEG":
        img.convert("RGB").save(buffer, "JPEG", quality=85, optimize=True)
    else:
        img.save(buffer, "PNG", optimize=False, compress_level=6)
    return buffer.getvalue()


def _encode(img: Any, *, source_mime: str) -> tuple[bytes, str]:
    """PNG for transparency and for screenshots / line art (few colours: JPEG would blur text);
    JPEG for photos from a JPEG; otherwise JPEG only when it comes out smaller than PNG."""
    if _has_alpha(img) or img.convert("RGB").getcolors(maxcolors=4096) is not None:
        return _save(img, "PNG"), "image/png"
    jpeg = _save(img, "JPEG")
    if source_mime == "image/jpeg":
        return jpeg, "image/jpeg"
    png = _save(img, "PNG")
    return (jpeg, "image/jpeg") if len(jpeg) < len(png) else (png, "image/png")


def fit_image(data: bytes, mime: str, budget: ImageBudget, *, force_encode: bool = False) -> EncodedImage | None:
    """Downscale into `budget` with the service's rounding and re-encode; None when nothing was done.

    Nothing is done when the image already fits (the server would only round it), unless
    `force_encode` asks for a re-encode (to get under the inline size limit). EXIF orientation is
    applied first, because re-encoding drops the EXIF tag. Needs Pillow; without it, None and a hint.
    """
    if not pillow_available():
        _hint_no_pillow()
        return None
    from PIL import Image, ImageOps

    with Image.open(io.BytesIO(data)) as opened:
        rotated = opened.getexif().get(0x0112, 1) in (5, 6, 7, 8)  # EXIF orientation: a quarter turn
        height, width = (opened.width, opened.height) if rotated else (opened.height, opened.width)
        target = smart_resize(height, width, budget.factor, budget.min_pixels, budget.max_pixels)
        needs_resize = height * width > budget.max_pixels
        if not (needs_resize or force_encode):
            return None
        if needs_resize and opened.format == "JPEG":
            # Let the JPEG decoder scale by 1/2, 1/4 or 1/8 while decoding (never below the target).
            draft = (target[0], target[1]) if rotated else (target[1], target[0])
            opened.draft("RGB", draft)
        img = ImageOps.exif_transpose(opened) or opened
        img.load()
        if needs_resize and (img.height, img.width) != target:
            img = img.resize((target[1], target[0]), Image.Resampling.BICUBIC, reducing_gap=3.0)
        out, out_mime = _encode(img, source_mime=mime)
        return EncodedImage(out, out_mime, int(img.width), int(img.height), needs_resize)
