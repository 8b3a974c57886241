"""Property tests for the media input side: whatever the bytes, only a library error (or an answer).

* The header readers (`detect_image_mime`, `detect_video_mime`, `describe`, `image_size`,
  `image_problem`) take any bytes, behind any magic prefix or inside structured headers with
  arbitrary fields, and answer with the right type, never an exception.
* `prepare_media` on arbitrary and on mutated real images, videos and data URLs either prepares
  them or raises `InvalidMediaError`; Pillow's failures and warnings never escape (the suite runs
  with warnings as errors), and `fit_image` forced to decode does the same.

`tests/fuzz/fuzz_media.py` is a coverage-guided (atheris) target for the same functions.
"""

from __future__ import annotations

import base64
import contextlib
import struct
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from media_samples import MP4, PLUS, encoded, heic, png_chunk, prepared, tiff

from qwen_vl_core import ImagePart, VideoPart
from qwen_vl_core.errors import InvalidMediaError
from qwen_vl_core.formats import IMAGE_MIMES, VIDEO_MIMES, describe, detect_image_mime, detect_video_mime
from qwen_vl_core.image_headers import image_problem, image_size
from qwen_vl_core.imaging import EncodedImage, fit_image
from qwen_vl_core.tokens import ImageBudget

FUZZ = settings(max_examples=200, deadline=timedelta(seconds=2), suppress_health_check=[HealthCheck.too_slow])
MAGIC = [
    b"",
    b"\x89PNG\r\n\x1a\n",
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR",
    b"\xff\xd8\xff",
    b"\xff\xd8\xff\xe0\x00\x10JFIF\x00",
    b"BM",
    b"BM\x00\x00\x00\x00\x00\x00\x00\x00\x36\x00\x00\x00\x28\x00\x00\x00",
    b"II*\x00",
    b"MM\x00*",
    b"GIF89a",
    b"RIFF\x00\x00\x00\x00WEBPVP8 ",
    b"RIFF\x00\x00\x00\x00WEBPVP8L",
    b"RIFF\x00\x00\x00\x00WEBPVP8X",
    b"\x00\x00\x00\x18ftypheic",
    b"\x00\x00\x00\x18ftypmif1",
    b"\x00\x00\x00\x18ftypmp42",
    b"\x1aE\xdf\xa3",
    b"RIFF\x00\x00\x00\x00AVI ",
    b"FLV\x01",
]
REAL = [encoded(40, 30, fmt) for fmt in ("PNG", "JPEG", "BMP", "GIF", "TIFF", "WEBP")] + [heic(), MP4]
ANY_IMAGE = IMAGE_MIMES | {"image/gif"}


pytestmark = pytest.mark.usefixtures("hang_watchdog")  # tests/core/conftest.py


def check_readers(data: bytes) -> None:
    image, video = detect_image_mime(data), detect_video_mime(data)
    assert image is None or image in ANY_IMAGE
    assert video is None or video in VIDEO_MIMES
    assert image is None or video is None  # never both
    assert isinstance(describe(data), str)
    size = image_size(data)
    assert size is None or (len(size) == 2 and all(isinstance(v, int) and v >= 0 for v in size))
    if image is not None:
        problem = image_problem(data, image)
        assert problem is None or isinstance(problem, str)


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    """A real file with bytes flipped, inserted, or cut off."""
    data = bytearray(draw(st.sampled_from(REAL)))
    for _ in range(draw(st.integers(0, 6))):
        at = draw(st.integers(0, len(data)))
        action = draw(st.sampled_from(["flip", "insert", "cut"]))
        if action == "flip" and at < len(data):
            data[at] = draw(st.integers(0, 255))
        elif action == "insert":
            data[at:at] = draw(st.binary(max_size=16))
        else:
            del data[at:]
    return bytes(data)


@st.composite
def structured(draw: st.DrawFn) -> bytes:
    """Headers of every parsed format with arbitrary field values and arbitrary bodies."""
    u32 = st.integers(0, 2**32 - 1)
    body = draw(st.binary(max_size=64))
    kind = draw(st.sampled_from(["png", "jpeg", "bmp", "tiff", "heic", "webp"]))
    if kind == "png":
        return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", struct.pack(">II", draw(u32), draw(u32)) + body)
    if kind == "jpeg":
        segments = b"".join(
            b"\xff" + bytes([draw(st.integers(0, 255))]) + struct.pack(">H", draw(st.integers(0, 70))) + body[:8]
            for _ in range(draw(st.integers(0, 5)))
        )
        return b"\xff\xd8\xff" + segments + body
    if kind == "bmp":
        head = struct.pack("<2sIII", b"BM", draw(u32), 0, draw(u32))
        info = struct.pack(
            "<IiiHHI", draw(st.sampled_from([12, 40, 124])), draw(st.integers(-(2**31), 2**31 - 1)), 0, 1, 24, 0
        )
        return head + info + body
    if kind == "tiff":
        return tiff(draw(st.integers(0, 65535)), draw(u32))[: draw(st.integers(0, 40))] + body
    if kind == "heic":
        boxes = b"".join(
            struct.pack(">I", draw(u32)) + draw(st.sampled_from([b"meta", b"iprp", b"ipco", b"ispe", b"mdat"]))
            for _ in range(4)
        )
        return heic()[:32] + boxes + body
    return b"RIFF" + struct.pack("<I", draw(u32)) + b"WEBP" + draw(st.sampled_from([b"VP8 ", b"VP8L", b"VP8X"])) + body


@FUZZ
@given(prefix=st.sampled_from(MAGIC), body=st.binary(max_size=2048))
def test_header_readers_take_any_bytes(prefix, body) -> None:
    check_readers(prefix + body)


@FUZZ
@given(data=structured())
def test_header_readers_take_any_header_fields(data) -> None:
    check_readers(data)


@FUZZ
@given(data=mutated())
def test_header_readers_take_damaged_files(data) -> None:
    check_readers(data)


def prepare_or_refuse(part: ImagePart | VideoPart, **kw: object) -> None:
    with contextlib.suppress(InvalidMediaError):
        prepared(part, **kw)


@settings(max_examples=150, deadline=timedelta(seconds=5), suppress_health_check=[HealthCheck.too_slow])
@given(
    data=st.one_of(mutated(), structured(), st.builds(bytes.__add__, st.sampled_from(MAGIC), st.binary(max_size=512))),
    downscale=st.booleans(),
)
def test_prepare_media_takes_any_bytes(data, downscale) -> None:
    prepare_or_refuse(ImagePart(data=data), downscale=downscale)
    prepare_or_refuse(ImagePart("data:;base64," + base64.b64encode(data).decode()), downscale=downscale)
    prepare_or_refuse(VideoPart(data=data))
    prepare_or_refuse(VideoPart(url="data:;base64," + base64.b64encode(data).decode()))


@settings(max_examples=150, deadline=timedelta(seconds=5), suppress_health_check=[HealthCheck.too_slow])
@given(data=mutated())
def test_decoding_damaged_files_is_a_library_error_or_an_image(data) -> None:
    """`fit_image` forced to decode and resize into a tiny budget: Pillow's every failure is converted."""
    mime = detect_image_mime(data)
    if mime is None:
        return
    outcome: object
    try:
        outcome = fit_image(data, mime, ImageBudget(32, 1024, 4096), force_encode=True, where="The image")
    except InvalidMediaError as exc:
        outcome = exc
    if isinstance(outcome, InvalidMediaError):
        assert str(outcome).startswith("The image ")
    elif outcome is not None:
        assert isinstance(outcome, EncodedImage)
        assert detect_image_mime(outcome.data) in {"image/png", "image/jpeg"}


def test_every_real_sample_passes() -> None:
    """The mutation seeds are valid: what the fuzzer damages starts out accepted."""
    for data in REAL[:-1]:
        check_readers(data)
        assert prepared(ImagePart(data=data))[0].url.startswith("data:image/")
    assert prepared(VideoPart(data=MP4))[0].url.startswith("data:video/mp4;base64,")
    assert PLUS.name == "qwen3-vl-plus"
