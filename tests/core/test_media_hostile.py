"""Hostile inputs (issue #13, input side): every read bounded before it happens, every decoder failure a
library error, nothing of a file's content in a message, no request sent.

Each case asserts the exact error, that it came fast, and the peak of Python allocations while it
ran (`tracemalloc`); the reduced-size JPEG decode, whose memory is Pillow's own, is measured as the
peak RSS of a child process.
"""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from media_samples import MP4, PLUS, encoded, heic, png_header, prepared, request
from PIL import Image

from qwen_vl_core import ImagePart, QwenVLClient, VideoPart
from qwen_vl_core.errors import InvalidMediaError
from qwen_vl_core.media import (
    MAX_IMAGE_FILE_BYTES,
    MAX_IMAGE_PIXELS,
    MAX_VIDEO_FILE_BYTES,
    estimate_request_tokens,
    prepare_media,
)
from qwen_vl_core.testing import DashScopeEmulator

GB2 = 2 * 1024**3
IMAGES = "Send BMP, JPEG, PNG, TIFF, WEBP or HEIC."


def refused(call: Callable[[], Any]) -> tuple[str, int, float]:
    """Run a call that must fail: (its message, peak bytes allocated meanwhile, seconds taken)."""
    tracemalloc.start()
    start = time.perf_counter()
    try:
        with pytest.raises(InvalidMediaError) as info:
            call()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return str(info.value), peak, time.perf_counter() - start


def sparse(path: Path, head: bytes, size: int = GB2) -> Path:
    """A file of `size` bytes that costs no disk: `head`, then a hole."""
    with path.open("wb") as file:
        file.write(head)
        file.truncate(size)
    return path


@pytest.fixture
def client(dashscope_emulator: DashScopeEmulator):
    c = QwenVLClient(base_url=dashscope_emulator.base_url, api_key=dashscope_emulator.api_key, max_retries=0)
    yield c
    c.close()


def sent_nothing(client: QwenVLClient, emulator: DashScopeEmulator, part: Any, message: str) -> None:
    with pytest.raises(InvalidMediaError) as info:
        client.chat(request(part))
    assert str(info.value) == message
    assert emulator.requests == []


# -- a 2 GB file: refused from its size, before reading ---------------------------------------------

VIDEO_2GB = (
    "Video 1 of message 1 (big.mp4) is 2,147,483,648 bytes; an inline video can be at most 7,864,320 bytes "
    "(10,485,760 once base64-encoded). Put the video at a public http(s) URL (up to 2 GB), or send sampled "
    "frames as a frame list."
)
IMAGE_2GB = (
    "Image 1 of message 1 (big.png) is 2,147,483,648 bytes; images are read up to 67,108,864 bytes (they are "
    "downscaled before sending). Resize or recompress it first, or put it at a public http(s) URL."
)


@pytest.mark.parametrize("as_url", [False, True], ids=["path", "file-url"])
def test_2gb_video_file_is_refused_from_its_size(tmp_path, as_url) -> None:
    path = sparse(tmp_path / "big.mp4", MP4)
    url = f"file://{path}" if as_url else str(path)
    for call in (
        lambda: prepare_media(request(VideoPart(url=url)), PLUS),
        lambda: estimate_request_tokens(request(VideoPart(url=url)), PLUS),
    ):
        message, peak, seconds = refused(call)
        assert message == VIDEO_2GB
        assert peak < 100_000  # was 7.5 GB
        assert seconds < 0.5  # was 14 s


@pytest.mark.parametrize("as_url", [False, True], ids=["path", "file-url"])
def test_2gb_image_file_is_refused_from_its_size(tmp_path, as_url) -> None:
    path = sparse(tmp_path / "big.png", png_header(100, 100))
    url = f"file://{path}" if as_url else str(path)
    message, peak, seconds = refused(lambda: prepare_media(request(ImagePart(url)), PLUS))
    assert message == IMAGE_2GB
    assert peak < 100_000  # was 2.1 GB, then PIL.UnidentifiedImageError
    assert seconds < 0.5


def test_file_sizes_at_the_limits(tmp_path) -> None:
    """The largest readable file is read; one byte more is refused unread."""
    video = sparse(tmp_path / "limit.mp4", MP4, MAX_VIDEO_FILE_BYTES)
    out = prepared(VideoPart(url=str(video)))[0]
    assert out.url.startswith("data:video/mp4;base64,AAAAGGZ0eXBtcDQy")
    assert len(out.url) - out.url.index(",") - 1 == 10_485_760  # exactly the API's inline limit
    sparse(video, MP4, MAX_VIDEO_FILE_BYTES + 1)
    message, peak, _ = refused(lambda: prepared(VideoPart(url=str(video))))
    assert message.startswith("Video 1 of message 1 (limit.mp4) is 7,864,321 bytes; an inline video can be at most")
    assert peak < 100_000
    image = sparse(tmp_path / "limit.png", png_header(100, 100), MAX_IMAGE_FILE_BYTES + 1)
    message, peak, _ = refused(lambda: prepared(ImagePart(str(image))))
    assert message.startswith("Image 1 of message 1 (limit.png) is 67,108,865 bytes; images are read up to")
    assert peak < 100_000


def test_video_bytes_are_checked_before_base64(tmp_path) -> None:
    data = MP4 + bytes(MAX_VIDEO_FILE_BYTES)
    message, peak, _ = refused(lambda: prepared(VideoPart(data=data, label="clip.mp4")))
    assert message == (
        "Video 1 of message 1 (clip.mp4) is 7,864,416 bytes; an inline video can be at most 7,864,320 bytes "
        "(10,485,760 once base64-encoded). Put the video at a public http(s) URL (up to 2 GB), or send sampled "
        "frames as a frame list."
    )
    assert peak < 100_000  # no base64 copy was made


def test_huge_data_urls_are_refused_from_their_length() -> None:
    image_url = "data:image/png;base64," + base64.b64encode(png_header(100, 100)).decode() + "A" * 100_000_000
    message, peak, seconds = refused(lambda: prepared(ImagePart(image_url)))
    assert message == (
        "Image 1 of message 1 is a data URL of 100,000,092 characters; images are read up to 89,478,488 "
        "(67,108,864 bytes decoded). Send a smaller image, or put it at a public http(s) URL."
    )
    assert peak < 100_000  # was decoded (75 MB), then PIL.UnidentifiedImageError
    assert seconds < 0.5
    video_url = "data:video/mp4;base64," + "A" * 20_000_000
    message, peak, _ = refused(lambda: prepared(VideoPart(url=video_url)))
    assert message == (
        "Video 1 of message 1 is 20,000,000 bytes once base64-encoded; inline videos are limited to 10,485,760. "
        "Put the video at a public http(s) URL (up to 2 GB), or send sampled frames as a frame list."
    )
    assert peak < 100_000


# -- decompression bombs: refused from the header ----------------------------------------------------


@pytest.mark.parametrize(("side", "pixels"), [(30000, "900,000,000"), (12000, "144,000,000")])
def test_bomb_pngs_are_refused_from_the_header(side, pixels) -> None:
    bomb = png_header(side, side)
    message, peak, seconds = refused(lambda: prepared(ImagePart(data=bomb)))
    assert message == (
        f"Image 1 of message 1 is {side}x{side} px ({pixels} pixels), more than the 89,478,485 pixels decoded here "
        "(a guard against decompression bombs). Downscale it before sending (or as JPEG, which decodes at reduced "
        "size), or put it at a public http(s) URL."
    )
    assert peak < 200_000  # was PIL.Image.DecompressionBombError (30000) or a 389 MB decode (12000)
    assert seconds < 0.5


def test_the_limit_is_pillows_own_warning_threshold() -> None:
    """So Pillow never warns about an image decoded here (and its error size is twice this)."""
    assert MAX_IMAGE_PIXELS == Image.MAX_IMAGE_PIXELS == 89_478_485


def test_with_downscaling_off_a_bomb_that_needs_no_decoding_is_sent_as_it_is() -> None:
    """The pixel limit guards decoding; a small file in an accepted format goes untouched."""
    bomb = png_header(30000, 30000)
    out = prepared(ImagePart(data=bomb), downscale=False)[0]
    assert base64.b64decode(out.url.partition(",")[2]) == bomb


def test_a_100_mp_jpeg_decodes_at_reduced_size_in_bounded_memory(tmp_path) -> None:
    """12000x8000 (96 MP, over the limit) is decoded at 1/4 size: 6 MP, not 96 MP (a PNG is refused)."""
    path = tmp_path / "huge.jpg"
    path.write_bytes(encoded(12000, 8000, "JPEG", "L"))
    script = (
        "import resource, sys\n"
        "from media_samples import prepared\n"
        "from qwen_vl_core import ImagePart\n"
        "data = open(sys.argv[1], 'rb').read()\n"
        "import PIL.Image, PIL.JpegImagePlugin, PIL.PngImagePlugin\n"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "out = prepared(ImagePart(data=data))[0]\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before, out.url[:21])\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent), *sys.path])}
    run = subprocess.run(
        [sys.executable, "-W", "error", "-c", script, str(path)], capture_output=True, text=True, env=env, check=True
    )
    grown_kb, head = run.stdout.split()
    assert head == "data:image/png;base64"  # uniform grey: few colours, so PNG
    assert int(grown_kb) < 48_000  # a full decode holds 96,000,000 bytes of pixels
    message, _, _ = refused(lambda: prepared(ImagePart(data=png_header(12000, 8000))))
    assert message.startswith("Image 1 of message 1 is 12000x8000 px (96,000,000 pixels), more than the 89,478,485")


# -- cut short, no image data, not what it claims ---------------------------------------------------

CUT = "Send the complete file."
NO_EOI = "a JPEG image that is cut short (no end-of-image marker)"
WEBP = encoded(64, 48, "WEBP")


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        pytest.param(encoded(3000, 2000)[:20_000], NO_EOI, id="jpeg"),
        pytest.param(encoded(64, 48)[:-2], NO_EOI, id="small-jpeg"),
        pytest.param(encoded(64, 48)[:200], "a JPEG image that has no image data (no start-of-scan marker)", id="sos"),
        pytest.param(encoded(64, 48, "PNG")[:-12], "a PNG image that is cut short (no IEND chunk)", id="png"),
        pytest.param(encoded(64, 48, "PNG")[:33], "a PNG image that has no image data (no IDAT chunk)", id="png-idat"),
        pytest.param(heic(mdat=None), "a HEIC image that has no image data (no 'mdat' box)", id="heic-header-only"),
        pytest.param(
            heic()[:-100], "a HEIC image that is cut short (its 'mdat' box runs past the end of the file)", id="heic"
        ),
        pytest.param(
            WEBP[:-10], f"a WEBP image that is cut short ({len(WEBP) - 10:,} of {len(WEBP):,} bytes)", id="webp"
        ),
        pytest.param(encoded(64, 48, "BMP")[:-10], "a BMP image that is cut short (9,260 of 9,270 bytes)", id="bmp"),
    ],
)
def test_incomplete_images_are_reported(data, problem) -> None:
    message, _, _ = refused(lambda: prepared(ImagePart(data=data)))
    assert message == f"Image 1 of message 1 is {problem}. {CUT}"


def test_a_motion_photo_with_a_video_after_the_jpeg_is_whole() -> None:
    photo = encoded(64, 48) + MP4  # Google/Samsung motion photos append the clip after the end marker
    out = prepared(ImagePart(data=photo))[0]
    assert base64.b64decode(out.url.partition(",")[2]) == photo


def test_a_text_file_named_mp4_is_refused(tmp_path) -> None:
    path = tmp_path / "notes.mp4"
    path.write_text("meeting notes: the password is hunter2\n")
    message, _, _ = refused(lambda: prepared(VideoPart(url=str(path))))
    assert message == (
        "Video 1 of message 1 (notes.mp4) is not a supported video: it is unrecognised data. "
        "Send a video: MP4, MOV, AVI, MKV, WebM, FLV or WMV."
    )
    path.write_bytes(encoded(64, 48, "PNG"))
    message, _, _ = refused(lambda: prepared(VideoPart(url=f"file://{path}")))
    assert message == (
        "Video 1 of message 1 (notes.mp4) is not a supported video: it is a PNG image. "
        "Send it as an image part, or send a video: MP4, MOV, AVI, MKV, WebM, FLV or WMV."
    )


def test_file_content_is_never_quoted(tmp_path) -> None:
    passwd = tmp_path / "passwd"
    passwd.write_bytes(b"root:x:0:0:root:/root:/bin/bash\n")
    message, _, _ = refused(lambda: prepared(ImagePart(str(passwd))))
    assert message == f"Image 1 of message 1 (passwd) is not a supported image: it is unrecognised data. {IMAGES}"
    from qwen_vl_core.media import bytes_to_data_url, image_to_url, video_to_url

    for call, expected in [
        (
            lambda: image_to_url(str(passwd)),
            f"The image 'passwd' is not a supported image: it is unrecognised data. {IMAGES}",
        ),
        (
            lambda: video_to_url(str(passwd)),
            "The video 'passwd' is not a supported video: it is unrecognised data. "
            "Send MP4, MOV, AVI, MKV, WebM, FLV or WMV.",
        ),
        (
            lambda: bytes_to_data_url(passwd.read_bytes()),
            "The image (32 bytes) is not a supported image or video: it is unrecognised data. Send BMP, JPEG, PNG, "
            "TIFF, WEBP or HEIC images, or MP4, MOV, AVI, MKV, WebM, FLV or WMV videos.",
        ),
    ]:
        message, _, _ = refused(call)
        assert message == expected
        assert "root" not in message


@pytest.mark.skipif(not os.path.exists("/proc/self/environ"), reason="needs Linux /proc")
def test_a_proc_file_reporting_size_zero_is_read_within_the_bound() -> None:
    """/proc files are regular but report 0 bytes: read in steps, never past the limit, never quoted."""
    message, _, _ = refused(lambda: prepared(ImagePart("/proc/self/environ")))
    assert message == f"Image 1 of message 1 (environ) is not a supported image: it is unrecognised data. {IMAGES}"
    from qwen_vl_core import reading

    with pytest.raises(InvalidMediaError) as info:
        reading._read_file("/proc/self/environ", 16, "The file", "an image", follow=True)
    assert str(info.value).startswith("The file is more than 16 bytes; images are read up to 16 bytes")


def test_pipes_devices_and_directories_are_refused_without_blocking(tmp_path) -> None:
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    for target, name in [(fifo, "pipe.png"), (Path("/dev/zero"), "zero"), (tmp_path, tmp_path.name)]:
        message, _, seconds = refused(lambda target=target: prepared(ImagePart(str(target))))
        assert message == (
            f"Image 1 of message 1 ({name}) is not a regular file (a directory, device, socket or pipe). "
            "Give the path of an image file."
        )
        assert seconds < 0.5
    message, _, _ = refused(lambda: prepared(VideoPart(url=str(fifo))))
    assert message.endswith("Give the path of a video file.")


# -- Pillow: every failure a library error, no warning escapes (the suite runs with -W error) ----------


def test_pillow_failures_are_library_errors() -> None:
    garbage = png_header(3000, 2000, idat=b"not zlib at all")
    message, _, _ = refused(lambda: prepared(ImagePart(data=garbage)))
    assert message == (
        "Image 1 of message 1 is a PNG image that cannot be decoded (OSError): the file is damaged or uses a "
        "feature Pillow does not support. Re-save it as PNG or JPEG."
    )
    gif = encoded(64, 48, "GIF")[:40]  # GIF is converted, so decoded even when small
    message, _, _ = refused(lambda: prepared(ImagePart(data=gif)))
    assert message.startswith("Image 1 of message 1 is a GIF image that cannot be decoded (OSError)")


def test_pillow_warnings_do_not_escape() -> None:
    """Pillow warns on an invalid APNG control chunk and on corrupt EXIF; the image is still used."""
    from media_samples import png_chunk

    png = encoded(3000, 2000, "PNG")
    apng = png[:33] + png_chunk(b"acTL", b"\x00" * 8) + png[33:]  # 0 frames: "Invalid APNG"
    assert prepared(ImagePart(data=apng))[0].url.startswith("data:image/png;base64,")
    jpeg = encoded(3000, 2000)
    tiff = b"II*\x00\x08\x00\x00\x00\x01\x00" + b"\x69\x87\x04\x00\x01\x00\x00\x00\xff\xff\xff\x00"  # EXIF IFD far off
    app1 = b"\xff\xe1" + (len(tiff) + 8).to_bytes(2, "big") + b"Exif\x00\x00" + tiff
    assert prepared(ImagePart(data=jpeg[:2] + app1 + jpeg[2:]))[0].url.startswith("data:image/png;base64,")


def test_a_lowered_pillow_limit_is_respected(monkeypatch) -> None:
    png = encoded(3000, 2000, "PNG")  # 6 MP
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 4_000_000)  # Pillow warns (silenced) and decodes
    assert prepared(ImagePart(data=png))[0].url.startswith("data:image/png;base64,")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 2_000_000)  # Pillow refuses
    message, _, _ = refused(lambda: prepared(ImagePart(data=png)))
    assert message == (
        "Image 1 of message 1 is a PNG image over the pixel limit this application set in Pillow "
        "(PIL.Image.MAX_IMAGE_PIXELS = 2,000,000). Downscale it before sending."
    )


# -- through the client: the error, and nothing sent -------------------------------------------------


def test_client_sends_nothing_for_hostile_inputs(client, dashscope_emulator, tmp_path) -> None:
    big_video = sparse(tmp_path / "big.mp4", MP4)
    big_image = sparse(tmp_path / "big.png", png_header(100, 100))
    sent_nothing(client, dashscope_emulator, VideoPart(url=f"file://{big_video}"), VIDEO_2GB)
    sent_nothing(client, dashscope_emulator, ImagePart(str(big_image)), IMAGE_2GB)
    bomb = ImagePart(data=png_header(30000, 30000))
    with pytest.raises(InvalidMediaError, match=r"^Image 1 of message 1 is 30000x30000 px \(900,000,000 pixels\)"):
        client.chat(request(bomb))
    cut = ImagePart("data:image/jpeg;base64," + base64.b64encode(encoded(3000, 2000)[:20_000]).decode())
    sent_nothing(
        client,
        dashscope_emulator,
        cut,
        f"Image 1 of message 1 is a JPEG image that is cut short (no end-of-image marker). {CUT}",
    )
    sent_nothing(
        client,
        dashscope_emulator,
        ImagePart(data=heic(mdat=None)),
        f"Image 1 of message 1 is a HEIC image that has no image data (no 'mdat' box). {CUT}",
    )
    assert dashscope_emulator.requests == []


async def test_async_client_sends_nothing_either(dashscope_emulator, tmp_path) -> None:
    big_video = sparse(tmp_path / "big.mp4", MP4)
    client = QwenVLClient(base_url=dashscope_emulator.base_url, api_key=dashscope_emulator.api_key, max_retries=0)
    try:
        with pytest.raises(InvalidMediaError) as info:
            await client.achat(request(VideoPart(url=str(big_video))))
    finally:
        await client.aclose()
    assert str(info.value) == VIDEO_2GB
    assert dashscope_emulator.requests == []


def test_many_large_inputs_are_held_one_at_a_time() -> None:
    """Ten 8 MB images (tiny pixels padded with a private chunk, so each must be re-encoded to fit the inline
    limit): the decoded bytes are dropped after the checks and decoded again one by one, not held all at once."""
    from media_samples import png_chunk

    small = encoded(64, 48, "PNG")
    padded = small[:33] + png_chunk(b"prVt", bytes(8_000_000)) + small[33:]
    url = "data:image/png;base64," + base64.b64encode(padded).decode()
    tracemalloc.start()
    try:
        out = prepared(*[ImagePart(url)] * 10)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert [base64.b64decode(p.url.partition(",")[2])[:8] for p in out[:10]] == [b"\x89PNG\r\n\x1a\n"] * 10
    assert all(len(p.url) < 1000 for p in out[:10])  # re-encoded without the padding
    assert peak < 40_000_000  # holding all ten would be over 80,000,000


@pytest.mark.parametrize(("width", "height"), [(4000, 3000), (3000, 4000), (8000, 600), (1900, 1500)])
@pytest.mark.parametrize("high_res", [False, True])
def test_decoded_pixels_are_what_pillows_jpeg_draft_gives(width, height, high_res) -> None:
    """The reduced-size arithmetic the pixel check relies on is Pillow's own."""
    import io

    from PIL import JpegImagePlugin

    from qwen_vl_core.imaging import decoded_pixels
    from qwen_vl_core.tokens import image_budget, smart_resize

    budget = image_budget(PLUS, high_res=high_res)
    with JpegImagePlugin.JpegImageFile(io.BytesIO(encoded(width, height))) as img:
        if width * height > budget.max_pixels:
            target = smart_resize(height, width, budget.factor, budget.min_pixels, budget.max_pixels)
            img.draft("RGB", (target[1], target[0]))
        assert decoded_pixels(width, height, "image/jpeg", budget) == img.width * img.height
    assert decoded_pixels(width, height, "image/png", budget) == width * height


def test_fit_image_checks_the_pixels_itself(monkeypatch) -> None:
    from qwen_vl_core import imaging
    from qwen_vl_core.tokens import image_budget

    monkeypatch.setattr(imaging, "MAX_IMAGE_PIXELS", 2_000_000)
    budget = image_budget(PLUS)
    with pytest.raises(InvalidMediaError) as info:
        imaging.fit_image(encoded(4000, 3000), "image/jpeg", budget, where="The photo")  # 1/2 size: 3 MP
    assert str(info.value) == (
        "The photo is 4000x3000 px (12,000,000 pixels), more than the 2,000,000 pixels decoded here (a guard "
        "against decompression bombs). Downscale it before sending, or put it at a public http(s) URL."
    )
    monkeypatch.setattr(imaging, "MAX_IMAGE_PIXELS", 3_000_000)
    fitted = imaging.fit_image(encoded(4000, 3000), "image/jpeg", budget, where="The photo")
    assert fitted is not None
    assert (fitted.width, fitted.height, fitted.resized) == (1856, 1376, True)
