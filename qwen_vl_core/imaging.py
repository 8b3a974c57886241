"""Image decoding with Pillow: downscaling to the model's budget and re-encoding, in bounded memory.

Sizes come from the header first (`image_headers`, no dependency), so the 10-pixel, 200:1,
budget and pixel-limit checks run even without Pillow; only resizing needs it (the `images`
extra). Without Pillow images are sent as they are, after the checks, and a one-time hint says
what is lost.

Every Pillow call runs inside `_pillow()`: one image at a time in the process (a lock, since
decoding is where the memory goes, so concurrency does not multiply the bound below), Pillow's
warnings silenced (its `DecompressionBombWarning` included: the pixel check here comes first),
and any exception it raises turned into an `InvalidMediaError` naming the input.
"""

from __future__ import annotations

import io
import logging
import math
import struct
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from .errors import InvalidMediaError
from .formats import detect_image_mime, format_name
from .image_headers import image_size
from .tokens import ImageBudget, client_resize, smart_resize

__all__ = [
    "MAX_IMAGE_PIXELS",
    "EncodedImage",
    "can_decode",
    "check_decodable",
    "decoded_pixels",
    "exif_orientation",
    "fit_image",
    "image_size",
    "pillow_available",
]

MAX_IMAGE_PIXELS = 89_478_485
"""The most pixels decoded at once here (width x height after any reduced-size JPEG decoding).

Pillow's own `Image.MAX_IMAGE_PIXELS` default (1 GiB / 4 bytes / 3), the size at which it warns
of a decompression bomb; taking the same number means Pillow never has a reason to warn about an
image this library decodes. It is 2.7 times an 8K frame (7680x4320 = 33.2 MP, the largest size the
vision guide recommends: https://www.alibabacloud.com/help/en/model-studio/vision) and 5.3 times
the largest budget the API uses (16,384 tokens x 32 x 32 = 16.8 MP), so it admits any real
screenshot, scan or photo in a lossless format; the 100 to 200 MP photos of medium-format cameras
and phone sensors are JPEG, which decodes at 1/2, 1/4 or 1/8 size (2 to 4 MP at most for 200 MP)
and so passes. A bomb (a small PNG declaring 30000x30000) is refused from its header. The bound
on memory is about 4 bytes a pixel: 358 MB at the limit.
"""

_PILLOW_FORMATS = {
    "image/png": "PNG",
    "image/bmp": "BMP",
    "image/tiff": "TIFF",
    "image/webp": "WEBP",
    "image/gif": "GIF",
    "image/heic": "HEIF",  # only with the pillow-heif plugin registered
}
_TRANSPOSE = {
    2: "FLIP_LEFT_RIGHT",
    3: "ROTATE_180",
    4: "FLIP_TOP_BOTTOM",
    5: "TRANSPOSE",
    6: "ROTATE_270",
    7: "TRANSVERSE",
    8: "ROTATE_90",
}
"""EXIF orientation → `Image.Transpose` member, as `ImageOps.exif_transpose` maps them."""

logger = logging.getLogger("qwen_vl_core")
_hinted = False
_DECODE_LOCK = threading.Lock()


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


def _draft_scale(width: int, height: int, target: tuple[int, int]) -> int:
    """The 1/8, 1/4, 1/2 or 1 scale Pillow's JPEG `draft` picks for a (height, width) target."""
    scale = min(width // target[1], height // target[0])
    return next((s for s in (8, 4, 2) if scale >= s), 1)


def decoded_pixels(width: int, height: int, mime: str, budget: ImageBudget) -> int:
    """Pixels held in memory when this image is decoded to be fitted into `budget`."""
    if mime != "image/jpeg" or width * height <= budget.max_pixels:
        return width * height
    scale = _draft_scale(width, height, smart_resize(height, width, *_budget_args(budget)))
    return math.ceil(width / scale) * math.ceil(height / scale)


def _budget_args(budget: ImageBudget) -> tuple[int, int, int]:
    return budget.factor, budget.min_pixels, budget.max_pixels


def check_decodable(size: tuple[int, int], mime: str, budget: ImageBudget, where: str) -> None:
    """InvalidMediaError when decoding this image would hold more than `MAX_IMAGE_PIXELS` pixels."""
    if decoded_pixels(size[0], size[1], mime, budget) > MAX_IMAGE_PIXELS:
        _refuse_pixels(size, mime, where)


def _refuse_pixels(size: tuple[int, int], mime: str, where: str) -> None:
    width, height = size
    jpeg = " (or as JPEG, which decodes at reduced size)" if mime != "image/jpeg" else ""
    raise InvalidMediaError(
        f"{where} is {width}x{height} px ({width * height:,} pixels), more than the {MAX_IMAGE_PIXELS:,} pixels "
        f"decoded here (a guard against decompression bombs). Downscale it before sending{jpeg}, "
        "or put it at a public http(s) URL."
    )


@contextmanager
def _pillow(where: str, mime: str) -> Iterator[None]:
    """One decode at a time, Pillow's warnings silenced, its exceptions turned into InvalidMediaError."""
    with _DECODE_LOCK, warnings.catch_warnings():
        warnings.filterwarnings("ignore", module=r"PIL\.")
        warnings.filterwarnings("ignore", module=r"qwen_vl_core\.")  # Pillow warnings raised with a stacklevel
        try:
            yield
        except InvalidMediaError:
            raise
        except Exception as exc:  # Pillow raises OSError, ValueError, SyntaxError, struct.error, EOFError, ...
            from PIL import Image

            if isinstance(exc, Image.DecompressionBombError):  # only when the application lowered Pillow's limit
                raise InvalidMediaError(
                    f"{where} is a {format_name(mime)} image over the pixel limit this application set in Pillow "
                    f"(PIL.Image.MAX_IMAGE_PIXELS = {Image.MAX_IMAGE_PIXELS:,}). Downscale it before sending."
                ) from exc
            raise InvalidMediaError(
                f"{where} is a {format_name(mime)} image that cannot be decoded ({type(exc).__name__}): the file is "
                "damaged or uses a feature Pillow does not support. Re-save it as PNG or JPEG."
            ) from exc


def can_decode(mime: str) -> bool:
    """Whether images of this type can be decoded here (Pillow installed, with a decoder for the format)."""
    if mime == "image/jpeg":
        return pillow_available()
    if not pillow_available() or mime not in _PILLOW_FORMATS:
        return False
    from PIL import Image

    Image.init()
    return _PILLOW_FORMATS[mime] in Image.OPEN


def _open(data: bytes, mime: str) -> Any:
    """The image, opened lazily (header only); None when Pillow has no decoder for the format (HEIC)."""
    from PIL import Image, JpegImagePlugin

    if mime == "image/jpeg":
        # Opened directly rather than with Image.open, whose decompression-bomb check counts the full
        # size: a 200 MP JPEG is decoded at 1/8 size here, and the pixel limit applies to that.
        return JpegImagePlugin.JpegImageFile(io.BytesIO(data))
    if not can_decode(mime):
        return None
    return Image.open(io.BytesIO(data), formats=(_PILLOW_FORMATS[mime],))


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
        with warnings.catch_warnings(), Image.open(io.BytesIO(data)) as img:
            warnings.simplefilter("ignore")  # no decoding happens; Pillow's bomb warning does not apply
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


def fit_image(
    data: bytes, mime: str, budget: ImageBudget, *, force_encode: bool = False, where: str = "The image"
) -> EncodedImage | None:
    """Downscale into `budget` with the service's rounding and re-encode; None when nothing was done.

    Nothing is done when the image already fits (the server would only round it), unless
    `force_encode` asks for a re-encode (to get under the inline size limit). A JPEG is decoded at
    the smallest 1/2, 1/4 or 1/8 scale that still covers the target. EXIF orientation is applied
    (re-encoding drops the tag). Needs Pillow; without it, or without a decoder for the format
    (HEIC without pillow-heif), None. A size over `MAX_IMAGE_PIXELS` or any decoding failure is an
    `InvalidMediaError` naming `where`.
    """
    if not pillow_available():
        _hint_no_pillow()
        return None
    from PIL import Image

    with _pillow(where, mime):
        opened = _open(data, mime)
        if opened is None:
            return None
        with opened:
            width, height = opened.size
            resized = client_resize(height, width, budget)  # the rounding is symmetric: no turn needed
            needs_resize = resized is not None
            target = resized if resized is not None else (height, width)
            if not (needs_resize or force_encode):
                return None
            check_decodable((width, height), mime, budget, where)
            if needs_resize and mime == "image/jpeg":
                opened.draft("RGB", (target[1], target[0]))  # decode at 1/2, 1/4 or 1/8 size, never below the target
            if opened.width * opened.height > MAX_IMAGE_PIXELS:  # what the decoder will really hold
                _refuse_pixels((width, height), mime, where)
            orientation = opened.getexif().get(0x0112, 1)
            img = opened
            img.load()
            if needs_resize and img.size != (target[1], target[0]):
                img = img.resize((target[1], target[0]), Image.Resampling.BICUBIC, reducing_gap=3.0)
            if orientation in _TRANSPOSE:
                img = img.transpose(Image.Transpose[_TRANSPOSE[orientation]])  # after resizing: a small copy
            out, out_mime = _encode(img, source_mime=mime)
            return EncodedImage(out, out_mime, int(img.width), int(img.height), needs_resize)
