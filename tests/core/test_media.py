"""Vision inputs: sources, checks before sending, downscaling to the budget, token estimates."""

from __future__ import annotations

import base64
import functools
import io
import logging

import pytest
from PIL import Image

from qwen_vl_core import ChatRequest, ImagePart, Message, TextPart, VideoPart, get_spec, imaging
from qwen_vl_core.errors import InvalidMediaError
from qwen_vl_core.imaging import image_size
from qwen_vl_core.media import image, prepare_media, user_message, video
from qwen_vl_core.tokens import estimate_image_tokens, estimate_video_tokens, image_budget, smart_resize

PLUS = get_spec("qwen3-vl-plus")
QVQ = get_spec("qvq-max")


@functools.cache
def encoded(width: int, height: int, fmt: str = "JPEG", mode: str = "RGB", noisy: bool = True) -> bytes:
    img = Image.new(mode, (width, height), (200, 30, 30) if mode == "RGB" else (200, 30, 30, 128))
    if noisy and mode == "RGB":  # a photo-like image: many colours
        small = (max(width // 8, 1), max(height // 8, 1))
        channels = [Image.effect_noise(small, 80).resize((width, height)) for _ in range(3)]
        img = Image.merge("RGB", channels)
    buffer = io.BytesIO()
    img.save(buffer, fmt, **({"quality": 95} if fmt == "JPEG" else {}))  # phones save at about 95
    return buffer.getvalue()


def prepared(*parts, model=PLUS, **kw) -> tuple[object, ...]:
    request = ChatRequest(model=model.name, messages=(Message("user", (*parts, TextPart("?"))),), **kw)
    return prepare_media(request, model).messages[0].content


def decode(url: str) -> tuple[str, bytes]:
    head, _, payload = url.partition(",")
    return head, base64.b64decode(payload)


# -- token arithmetic: the documented worked examples ---------------------------------------------


def test_documented_examples() -> None:
    assert smart_resize(406, 1024, 32, 4 * 32 * 32, 2_621_440) == (416, 1024)
    assert estimate_image_tokens(1024, 406) == 418
    assert estimate_image_tokens(4000, 3000) == 2496  # 12 MP → 1856x1376 within 2,560 tokens
    assert estimate_image_tokens(4000, 3000, high_res=True) == 11752
    assert estimate_image_tokens(4000, 3000, model="qvq-max") == 1232  # 28-px units, 1,280-token cap
    assert estimate_image_tokens(20, 20) == 6  # the 4-token minimum + 2


def test_max_pixels_raises_the_cap_and_high_res_ignores_it() -> None:
    assert image_budget(PLUS, max_pixels=8_000_000).max_pixels == 8_000_000
    assert image_budget(PLUS, max_pixels=100).max_pixels == 2_621_440  # "the larger of" (vision guide)
    assert image_budget(PLUS, high_res=True, max_pixels=100).max_pixels == 16_777_216


def test_video_estimates() -> None:
    # 10 s at 2 fps = 20 frames, paired → 10 groups of a 640x360 frame (fits 128..768 tokens: 640x352 → 220)
    assert estimate_video_tokens(640, 360, duration=10) == 10 * (352 // 32) * (640 // 32) + 2
    assert estimate_video_tokens(640, 360, frames=4) == 2 * 11 * 20 + 2
    with pytest.raises(ValueError, match="give either frames="):
        estimate_video_tokens(640, 360)


# -- sources -------------------------------------------------------------------------------------


def test_sources(tmp_path) -> None:
    data = encoded(64, 48)
    path = tmp_path / "shot.jpg"
    path.write_bytes(data)
    assert image(str(path)) == ImagePart(data=data, mime="image/jpeg", label="shot.jpg")
    assert image(path).data == data
    assert image(f"file://{path}").data == data
    assert image(data) == ImagePart(data=data, mime="image/jpeg", label="bytes")
    assert image(base64.b64encode(data).decode()).data == data
    assert image("https://x/a.png") == ImagePart("https://x/a.png")
    pil = Image.open(io.BytesIO(data))
    assert image(pil).label == "PIL image"
    assert image(pil).data.startswith(b"\x89PNG")
    with pytest.raises(ValueError, match="does not exist"):
        image(tmp_path / "missing.png")


def test_user_message_keeps_order_and_video_frames(tmp_path) -> None:
    frame = tmp_path / "f.png"
    frame.write_bytes(encoded(32, 32, "PNG"))
    message = user_message("Compare", image("https://x/a.png"), "with", video([str(frame)] * 4, fps=1.0))
    assert [type(p).__name__ for p in message.content] == ["TextPart", "ImagePart", "TextPart", "VideoPart"]
    assert message.content[3].fps == 1.0
    with pytest.raises(TypeError, match="wrap images with image"):
        user_message(b"raw")


def test_header_sizes_without_pillow() -> None:
    for fmt in ("JPEG", "PNG", "BMP", "WEBP", "GIF"):
        assert image_size(encoded(123, 45, fmt, noisy=False)) == (123, 45), fmt


# -- checks before sending -----------------------------------------------------------------------


def test_remote_urls_are_passed_through_untouched() -> None:
    assert prepared(ImagePart("https://x/a.png", max_pixels=5))[0] == ImagePart("https://x/a.png", max_pixels=5)


def test_small_image_is_sent_as_is_with_corrected_mime() -> None:
    data = encoded(64, 48)
    out = prepared(ImagePart("data:image/png;base64," + base64.b64encode(data).decode()))[0]
    head, body = decode(out.url)
    assert (head, body) == ("data:image/jpeg;base64", data)


def test_tiny_and_extreme_images_are_rejected() -> None:
    with pytest.raises(ValueError, match=r"^Image 1 of message 1 \(bytes\) is 10x40 px; both sides must be larger"):
        prepared(image(encoded(10, 40)))
    with pytest.raises(ValueError, match="an aspect ratio over 200:1"):
        prepared(image(encoded(4100, 20, noisy=False)))
    with pytest.raises(InvalidMediaError) as info:
        prepared(ImagePart(data=b"hello world, not an image"))
    assert str(info.value) == (
        "Image 1 of message 1 is not a supported image: it is unrecognised data. "
        "Send BMP, JPEG, PNG, TIFF, WEBP or HEIC."
    )


def test_large_photo_is_downscaled_to_the_exact_budget() -> None:
    photo = encoded(4000, 3000)
    out = prepared(image(photo))[0]
    head, body = decode(out.url)
    assert head == "data:image/jpeg;base64"
    assert Image.open(io.BytesIO(body)).size == (1856, 1376)
    assert len(body) * 4 < len(photo)
    assert estimate_image_tokens(1856, 1376) == estimate_image_tokens(4000, 3000)  # same pixels for the model


def test_qvq_budget_uses_28_px_units() -> None:
    out = prepared(image(encoded(2000, 1500)), model=QVQ)[0]
    width, height = Image.open(io.BytesIO(decode(out.url)[1])).size
    assert (width % 28, height % 28) == (0, 0)
    assert width * height <= QVQ.default_max_pixels


def test_a_thin_image_is_not_downscaled_into_a_shape_the_api_rejects() -> None:
    # On QVQ's grid a 79x12703 strip would become 56x12684 (226:1), past the API's 200:1 limit:
    # it is sent as it is, and the server resizes the original itself.
    data = encoded(79, 12703, "PNG", noisy=False)
    out = prepared(image(data), model=QVQ)[0]
    assert Image.open(io.BytesIO(decode(out.url)[1])).size == (79, 12703)


def test_high_res_and_per_image_max_pixels() -> None:
    photo = encoded(4000, 3000)
    # 12 MP fits the 16,384-token high-resolution budget: sent as it is, the server only rounds it
    assert decode(prepared(image(photo), vl_high_resolution_images=True)[0].url)[1] == photo
    big = prepared(image(photo, max_pixels=6_000_000))[0]
    width, height = Image.open(io.BytesIO(decode(big.url)[1])).size
    assert width * height <= 6_000_000
    assert (width, height) == smart_resize(3000, 4000, 32, 4096, 6_000_000)[::-1]


def test_screenshots_stay_png_and_transparency_is_kept() -> None:
    screenshot = encoded(3000, 2000, "PNG", noisy=False)
    head, body = decode(prepared(image(screenshot))[0].url)
    assert head == "data:image/png;base64"
    assert Image.open(io.BytesIO(body)).size == (1952, 1312)
    transparent = encoded(3000, 2000, "PNG", mode="RGBA", noisy=False)
    head, body = decode(prepared(image(transparent))[0].url)
    assert head == "data:image/png;base64"
    assert Image.open(io.BytesIO(body)).mode == "RGBA"


def test_noisy_png_photo_becomes_jpeg() -> None:
    head, _ = decode(prepared(image(encoded(3000, 2000, "PNG")))[0].url)
    assert head == "data:image/jpeg;base64"


def test_downscale_off_sends_the_original() -> None:
    photo = encoded(3000, 2000)
    request = ChatRequest(model="qwen3-vl-plus", messages=(Message("user", (image(photo),)),))
    out = prepare_media(request, PLUS, downscale=False).messages[0].content[0]
    assert decode(out.url)[1] == photo


def test_without_pillow_images_go_as_they_are_with_one_hint(monkeypatch, caplog) -> None:
    monkeypatch.setattr(imaging, "pillow_available", lambda: False)
    monkeypatch.setattr(imaging, "_hinted", False)
    photo = encoded(3000, 2000)
    with caplog.at_level(logging.WARNING, logger="qwen_vl_core"):
        first = prepared(image(photo))[0]
        prepared(image(photo))
    assert decode(first.url)[1] == photo
    assert len(caplog.messages) == 1
    assert caplog.messages[0].startswith("Pillow is not installed")


def test_frame_count_and_inline_video_limits() -> None:
    frame = ImagePart(data=encoded(64, 64, "PNG"))
    with pytest.raises(ValueError, match=r"^Video 1 of message 1 has 3 frames; a frame list must have 4 to 2000"):
        prepared(VideoPart(frames=(frame,) * 3))
    ok = prepared(VideoPart(frames=(frame,) * 4, fps=2.0))[0]
    assert all(f.url.startswith("data:image/png;base64,") for f in ok.frames)
    with pytest.raises(InvalidMediaError) as info:
        prepared(VideoPart(data=b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 8_000_000, mime="video/mp4", label="clip.mp4"))
    assert str(info.value) == (
        "Video 1 of message 1 (clip.mp4) is 8,000,012 bytes; an inline video can be at most 7,864,320 bytes "
        "(10,485,760 once base64-encoded). Put the video at a public http(s) URL (up to 2 GB), or send sampled "
        "frames as a frame list."
    )


def test_prompt_over_max_input_is_a_local_error() -> None:
    photo = image(encoded(1000, 1000))  # on QVQ: 980x980 after rounding into the budget → 1,227 tokens
    with pytest.raises(
        ValueError,
        match=r"estimated at 110,430 input tokens \(110,430 for images and video\), over qvq-max's maximum input of "
        r"106,496 \(the API would answer 'Range of input length'\)",
    ):
        prepared(*([photo] * 90), model=QVQ)


def test_cli_estimate_table(tmp_path) -> None:
    import io as _io

    from qwen_vl_core.cli import main

    big, doc = tmp_path / "big.jpg", tmp_path / "doc.png"
    big.write_bytes(encoded(4000, 3000))
    doc.write_bytes(encoded(1024, 406, "PNG", noisy=False))
    out = _io.StringIO()
    assert main(["estimate", str(big), str(doc), "https://x/a.png"], out=out) == 0
    lines = [line.split("  ") for line in out.getvalue().splitlines()]
    cells = [[c.strip() for c in line if c.strip()] for line in lines]
    assert cells == [
        ["input", "format", "pixels", "bytes", "tokens", "tokens (high-res)", "sent as"],
        ["big.jpg", "jpeg", "4000x3000", f"{len(encoded(4000, 3000)):,}", "2,496", "11,752", "1856x1376 (downscaled)"],
        ["doc.png", "png", "1024x406", f"{len(encoded(1024, 406, 'PNG', noisy=False)):,}", "418", "418", "as is"],
        ["https://x/a.png", "remote", "?", "?", "?", "?", "URL (not downloaded)"],
        ["total: 2,914 image tokens for qwen3-vl-plus (max input 258,048)"],
    ]


def test_local_video_file_url_goes_inline_and_image_mime_is_set(tmp_path) -> None:
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 64)
    out = prepared(VideoPart(url=f"file://{clip}", fps=1.0))[0]
    assert out.url.startswith("data:video/mp4;base64,AAAAGGZ0eXBtcDQy")
    assert out.fps == 1.0
    png = tmp_path / "a.png"
    png.write_bytes(encoded(32, 32, "PNG"))
    from qwen_vl_core.media import image_to_url

    assert image_to_url(f"file://{png}").startswith("data:image/png;base64,iVBOR")


def test_exif_rotation_is_applied_before_sizing() -> None:
    img = Image.open(io.BytesIO(encoded(4000, 3000)))
    exif = Image.Exif()
    exif[0x0112] = 6  # stored landscape, shown portrait
    buffer = io.BytesIO()
    img.save(buffer, "JPEG", exif=exif, quality=95)
    out = prepared(image(buffer.getvalue()))[0]
    assert Image.open(io.BytesIO(decode(out.url)[1])).size == (1376, 1856)


def test_request_level_estimate() -> None:
    from qwen_vl_core.media import estimate_request_tokens

    request = ChatRequest(
        model="qwen3-vl-plus",
        messages=(
            Message("user", (image(encoded(1024, 406, "PNG", noisy=False)), TextPart("a" * 400), image("https://x/a"))),
        ),
    )
    assert estimate_request_tokens(request, PLUS) == 418 + 100  # the URL is not downloaded: counted 0
