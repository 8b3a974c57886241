"""Hand-built media files for the hostile-input tests: headers that claim what an attacker wants."""

from __future__ import annotations

import functools
import io
import struct
import zlib
from typing import Any

from PIL import Image

from qwen_vl_core import ChatRequest, Message, TextPart, get_spec
from qwen_vl_core.media import prepare_media

PLUS = get_spec("qwen3-vl-plus")
MP4 = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + b"\x00\x00\x00\x08free" + b"\x00" * 64


def request(*parts: Any) -> ChatRequest:
    return ChatRequest(model=PLUS.name, messages=(Message("user", (*parts, TextPart("?"))),))


def prepared(*parts: Any, **kw: Any) -> tuple[Any, ...]:
    return prepare_media(request(*parts), PLUS, **kw).messages[0].content


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png_header(width: int, height: int, idat: bytes | None = None) -> bytes:
    """A PNG whose IHDR claims width x height, with a token IDAT: a decompression bomb's header."""
    ihdr = png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
    body = zlib.compress(b"\x00" * 64) if idat is None else idat
    return b"\x89PNG\r\n\x1a\n" + ihdr + png_chunk(b"IDAT", body) + png_chunk(b"IEND", b"")


@functools.cache
def encoded(width: int, height: int, fmt: str = "JPEG", mode: str = "RGB") -> bytes:
    """A real image (uniform colour: cheap to make and to compress)."""
    buffer = io.BytesIO()
    Image.new(mode, (width, height), 128 if mode == "L" else (30, 90, 200)).save(buffer, fmt)
    return buffer.getvalue()


def box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", 8 + len(payload)) + kind + payload


def full_box(kind: bytes, payload: bytes) -> bytes:
    return box(kind, b"\x00\x00\x00\x00" + payload)


def heic(width: int = 4032, height: int = 3024, *, mdat: bytes | None = b"\x00" * 256) -> bytes:
    """An iPhone-shaped HEIC: ftyp, meta/iprp/ipco with a thumbnail's and the image's `ispe`, then mdat."""
    ftyp = box(b"ftyp", b"heic\x00\x00\x00\x00mif1heic")
    sizes = full_box(b"ispe", struct.pack(">II", 320, 240)) + full_box(b"ispe", struct.pack(">II", width, height))
    meta = full_box(b"meta", box(b"iprp", box(b"ipco", sizes)))
    return ftyp + meta + (box(b"mdat", mdat) if mdat is not None else b"")


def tiff(width: int, height: int, *, big_endian: bool = False) -> bytes:
    """A TIFF header with one IFD: ImageWidth (SHORT) and ImageLength (LONG)."""
    order = ">" if big_endian else "<"
    head = (b"MM\x00*" if big_endian else b"II*\x00") + struct.pack(order + "I", 8)
    entries = struct.pack(order + "HHIHH", 256, 3, 1, width, 0) + struct.pack(order + "HHII", 257, 4, 1, height)
    return head + struct.pack(order + "H", 2) + entries + struct.pack(order + "I", 0)
