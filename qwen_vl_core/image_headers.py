"""Image headers read without decoding and without Pillow: size, and whether the file is whole.

Every function here takes any bytes and answers within one pass over them: a size or None, a
problem or None. Nothing raises and nothing is decoded, so the 10-pixel, 200:1, budget and
decompression-bomb checks run on a file's header before any decoder sees it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal

from .formats import detect_image_mime

__all__ = ["image_problem", "image_size"]

_SOF = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})


_Order = Literal["little", "big"]


def _u16(data: bytes, i: int, order: _Order = "big") -> int:
    return int.from_bytes(data[i : i + 2], order)


def _u32(data: bytes, i: int, order: _Order = "big") -> int:
    return int.from_bytes(data[i : i + 4], order)


def _png(data: bytes) -> tuple[int, int] | None:
    if len(data) >= 24 and data[12:16] == b"IHDR":
        return _u32(data, 16), _u32(data, 20)
    return None


def _jpeg(data: bytes) -> tuple[tuple[int, int] | None, int | None]:
    """(width, height) from the first frame header, and where the first scan starts (None: no scan)."""
    size: tuple[int, int] | None = None
    i, end = 2, len(data)
    while i + 4 <= end:
        if data[i] != 0xFF:
            i += 1
            continue
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
        elif marker in (0x00, 0x01, 0xD8) or 0xD0 <= marker <= 0xD7:  # markers without a length
            i += 2
        elif marker == 0xD9:  # end of image before any scan
            return size, None
        elif marker == 0xDA:
            return size, i
        else:
            length = _u16(data, i + 2)
            if marker in _SOF and size is None and i + 9 <= end:
                size = _u16(data, i + 7), _u16(data, i + 5)
            i += 2 + max(length, 2)
    return size, None


def _webp(data: bytes) -> tuple[int, int] | None:
    kind = data[12:16]
    if kind == b"VP8 " and len(data) >= 30 and data[23:26] == b"\x9d\x01\x2a":
        return _u16(data, 26, "little") & 0x3FFF, _u16(data, 28, "little") & 0x3FFF
    if kind == b"VP8L" and len(data) >= 25 and data[20] == 0x2F:
        bits = _u32(data, 21, "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if kind == b"VP8X" and len(data) >= 30:
        return int.from_bytes(data[24:27], "little") + 1, int.from_bytes(data[27:30], "little") + 1
    return None


def _bmp(data: bytes) -> tuple[int, int] | None:
    if _u32(data, 14, "little") == 12 and len(data) >= 22:  # OS/2 BITMAPCOREHEADER: 16-bit sides
        return _u16(data, 18, "little"), _u16(data, 20, "little")
    if len(data) >= 26:
        width = int.from_bytes(data[18:22], "little", signed=True)
        height = int.from_bytes(data[22:26], "little", signed=True)  # negative: stored top-down
        return abs(width), abs(height)
    return None


def _tiff(data: bytes) -> tuple[int, int] | None:
    """ImageWidth (256) and ImageLength (257) from the first image file directory."""
    order: _Order = "little" if data[:2] == b"II" else "big"
    offset = _u32(data, 4, order)
    if offset < 8 or offset + 2 > len(data):
        return None
    sides: dict[int, int] = {}
    for k in range(_u16(data, offset, order)):
        entry = offset + 2 + 12 * k
        if entry + 12 > len(data):
            break
        tag, kind = _u16(data, entry, order), _u16(data, entry + 2, order)
        if tag in (256, 257) and kind in (3, 4):  # SHORT or LONG, stored in the entry itself
            sides[tag] = _u16(data, entry + 8, order) if kind == 3 else _u32(data, entry + 8, order)
    return (sides[256], sides[257]) if len(sides) == 2 else None


def _boxes(data: bytes, start: int, end: int) -> Iterator[tuple[bytes, int, int]]:
    """ISO-BMFF boxes between `start` and `end`: (type, payload start, box end); the end may lie past the data."""
    i = start
    while i + 8 <= end:
        size, kind, head = _u32(data, i), data[i + 4 : i + 8], 8
        if size == 1:
            size, head = int.from_bytes(data[i + 8 : i + 16], "big"), 16
        elif size == 0:
            size = end - i  # to the end of the enclosing box or file
        if size < head:
            return
        yield kind, i + head, i + size
        i += size


def _child(data: bytes, kind: bytes, start: int, end: int) -> tuple[int, int] | None:
    for found, payload, box_end in _boxes(data, start, end):
        if found == kind:
            return payload, min(box_end, end)
    return None


def _heic(data: bytes) -> tuple[int, int] | None:
    """The largest `ispe` (image spatial extents) in meta/iprp/ipco: the primary image, not a tile or thumbnail."""
    meta = _child(data, b"meta", 0, len(data))
    iprp = meta and _child(data, b"iprp", meta[0] + 4, meta[1])  # meta is a full box: 4 bytes of version/flags
    ipco = iprp and _child(data, b"ipco", *iprp)
    if not ipco:
        return None
    sizes = [
        (_u32(data, payload + 4), _u32(data, payload + 8))
        for kind, payload, box_end in _boxes(data, *ipco)
        if kind == b"ispe" and payload + 12 <= min(box_end, len(data))
    ]
    return max(sizes, key=lambda wh: wh[0] * wh[1], default=None)


def image_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from the header (BMP, GIF, HEIC, JPEG, PNG, TIFF, WEBP); None when it gives none."""
    mime = detect_image_mime(data)
    if mime == "image/png":
        return _png(data)
    if mime == "image/jpeg":
        return _jpeg(data)[0]
    if mime == "image/webp":
        return _webp(data)
    if mime == "image/bmp":
        return _bmp(data)
    if mime == "image/gif" and len(data) >= 10:
        return _u16(data, 6, "little"), _u16(data, 8, "little")
    if mime == "image/tiff":
        return _tiff(data)
    if mime == "image/heic":
        return _heic(data)
    return None


def _bmp_problem(data: bytes) -> str | None:
    offset = _u32(data, 10, "little")
    if offset >= len(data):
        return "has no image data (its pixel data would start past the end of the file)"
    size = _bmp(data)
    if size is None or _u32(data, 14, "little") < 40 or _u32(data, 30, "little") not in (0, 3):
        return None  # compressed or an old header: the decoder checks the length
    bits = _u16(data, 28, "little")
    needed = offset + (size[0] * bits + 31) // 32 * 4 * size[1]
    return f"is cut short ({len(data):,} of {needed:,} bytes)" if needed > len(data) else None


def _heic_problem(data: bytes) -> str | None:
    for kind, payload, box_end in _boxes(data, 0, len(data)):
        if box_end > len(data):
            return f"is cut short (its '{kind.decode('latin-1')}' box runs past the end of the file)"
        if kind == b"mdat":
            return None if box_end > payload else "has no image data (its 'mdat' box is empty)"
    return "has no image data (no 'mdat' box)"


def image_problem(data: bytes, mime: str) -> str | None:
    """Why this file is not a whole image (cut short, no image data), from its structure; None if it looks whole.

    JPEG: a scan and an end-of-image marker after it (a Motion Photo's appended video is fine);
    PNG: an IDAT and an IEND chunk; WEBP: the length its RIFF header declares; BMP: the pixel data
    an uncompressed bitmap needs; HEIC: an `mdat` box (the coded image) and no box past the end.
    TIFF and GIF are left to the decoder.
    """
    if mime == "image/jpeg":
        sos = _jpeg(data)[1]
        if sos is None:
            return "has no image data (no start-of-scan marker)"
        return None if data.rfind(b"\xff\xd9") > sos else "is cut short (no end-of-image marker)"
    if mime == "image/png":
        if data.find(b"IDAT", 33) < 0:
            return "has no image data (no IDAT chunk)"
        return None if data.rfind(b"IEND") > 33 else "is cut short (no IEND chunk)"
    if mime == "image/webp":
        needed = _u32(data, 4, "little") + 8
        return f"is cut short ({len(data):,} of {needed:,} bytes)" if len(data) < needed else None
    if mime == "image/bmp":
        return _bmp_problem(data)
    if mime == "image/heic":
        return _heic_problem(data)
    return None
