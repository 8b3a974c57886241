"""From the model's numbers to the user's pixels: both coordinate modes, sizes off the pixel unit,
EXIF-rotated JPEGs, client-side downscaling, and the geometry agreeing with what is really sent."""

from __future__ import annotations

import base64
import io
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from PIL import Image

from qwen_vl_core import ChatRequest, ImagePart, Message, TextPart, get_spec
from qwen_vl_core.grounding import (
    GroundingError,
    ImageGeometry,
    geometry_from_sent,
    image_geometry,
    map_to_image,
    parse_answer,
    parse_grounding,
    resolve_geometry,
)
from qwen_vl_core.imaging import exif_orientation
from qwen_vl_core.media import image, prepare_media
from qwen_vl_core.tokens import client_resize, image_budget, smart_resize

PLUS = get_spec("qwen3-vl-plus")
QVQ = get_spec("qvq-max")


def encode(width: int, height: int, fmt: str = "PNG", orientation: int = 1) -> bytes:
    img = Image.new("RGB", (width, height), (90, 140, 200))
    exif = Image.Exif()
    if orientation != 1:
        exif[0x0112] = orientation
    buffer = io.BytesIO()
    img.save(buffer, fmt, exif=exif)
    return buffer.getvalue()


def sent_image(data: bytes, model: str = "qwen3-vl-plus", *, downscale: bool = True, **kw: Any) -> bytes:
    """The bytes `prepare_media` really sends for this image."""
    request = ChatRequest(
        model=model,
        messages=(Message("user", (image(data, max_pixels=kw.pop("max_pixels", None)), TextPart("?"))),),
        **kw,
    )
    part = prepare_media(request, get_spec(model), downscale=downscale).messages[0].content[0]
    if part.data is not None:
        return part.data
    return base64.b64decode(part.url.partition(",")[2])


def sent_size(data: bytes, model: str = "qwen3-vl-plus", **kw: Any) -> tuple[int, int]:
    with Image.open(io.BytesIO(sent_image(data, model, **kw))) as img:
        return img.size


BOXES = '```json\n[{"bbox_2d": [100, 200, 500, 900], "label": "a"}, {"point_2d": [500, 500], "label": "b"}]\n```'


# -- relative (Qwen3-VL) ----------------------------------------------------------------------------


def test_relative_on_a_size_off_the_32px_unit() -> None:
    geometry = image_geometry(encode(1003, 701), model="qwen3-vl-plus")
    assert geometry == ImageGeometry(1003, 701, 1003, 701, 992, 704, "relative", 1)
    result = parse_grounding(BOXES, geometry)
    [b] = result.boxes
    assert (b.x1, b.y1, b.x2, b.y2) == (100.3, 140.2, 501.5, 630.9)  # v / 1000 x the original side
    assert (b.clamped, b.reordered, b.raw) == (False, False, (100.0, 200.0, 500.0, 900.0))
    [p] = result.points
    assert (p.x, p.y, p.clamped) == (501.5, 350.5, False)
    assert result.geometry == geometry


def test_relative_values_past_the_grid_are_clamped_and_flagged() -> None:
    geometry = image_geometry(size=(1003, 701), model="qwen3-vl-plus")
    result = parse_grounding('[{"bbox_2d": [-5, 10, 1012, 1000.5]}, {"point_2d": [1001, -1]}]', geometry)
    [b] = result.boxes
    assert (b.x1, b.y1, b.x2, b.y2, b.clamped) == (0.0, 7.01, 1003.0, 701.0, True)
    assert b.raw == (-5.0, 10.0, 1012.0, 1000.5)
    [p] = result.points
    assert (p.x, p.y, p.clamped) == (1003.0, 0.0, True)


def test_swapped_corners_are_put_in_order_and_flagged() -> None:
    geometry = image_geometry(size=(1003, 701), model="qwen3-vl-plus")
    [b] = parse_grounding('[{"bbox_2d": [500, 600, 100, 200]}]', geometry).boxes
    assert (b.x1, b.y1, b.x2, b.y2, b.reordered, b.clamped) == (100.3, 140.2, 501.5, 420.6, True, False)


# -- absolute (QVQ, Qwen2.5-VL era) ------------------------------------------------------------------


def test_absolute_on_the_servers_resize() -> None:
    geometry = image_geometry(encode(1003, 701), model="qvq-max")
    assert geometry == ImageGeometry(1003, 701, 1003, 701, 1008, 700, "absolute", 1)  # 28-px units
    [b] = parse_grounding('[{"bbox_2d": [504, 350, 1008, 700]}, {"bbox_2d": [0, 0, 1100, 9999]}]', geometry).boxes[:1]
    assert (b.x1, b.y1, b.x2, b.y2, b.clamped) == (501.5, 350.5, 1003.0, 701.0, False)
    clamped = parse_grounding('[{"bbox_2d": [0, 0, 1100, 9999]}]', geometry).boxes[0]
    assert (clamped.x2, clamped.y2, clamped.clamped) == (1003.0, 701.0, True)


def test_absolute_on_a_client_downscaled_image() -> None:
    data = encode(3001, 2003)
    geometry = image_geometry(data, model="qvq-max")
    # 6 MP is over QVQ's 1,280-token budget: the client sends 1204x812 and the server keeps it.
    assert geometry == ImageGeometry(3001, 2003, 1204, 812, 1204, 812, "absolute", 1)
    assert sent_size(data, "qvq-max") == (1204, 812)
    [b] = parse_grounding('[{"bbox_2d": [602, 406, 1204, 812]}]', geometry).boxes
    assert (b.x1, b.y1, b.x2, b.y2) == (1500.5, 1001.5, 3001.0, 2003.0)


def test_an_explicit_mode_overrides_the_catalog() -> None:
    geometry = image_geometry(size=(1003, 701), model="qwen3-vl-plus")
    [b] = parse_grounding('[{"bbox_2d": [0, 0, 496, 352]}]', geometry, coordinates="absolute").boxes
    assert (b.x2, b.y2) == (501.5, 350.5)  # pixels of the 992x704 frame
    assert parse_grounding("[]", geometry, coordinates="absolute").geometry.coordinates == "absolute"


# -- what is sent: downscale, EXIF, settings ------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "model", "options", "sent", "seen"),
    [
        ((1003, 701), "qwen3-vl-plus", {}, (1003, 701), (992, 704)),
        ((3001, 2003), "qwen3-vl-plus", {}, (1952, 1312), (1952, 1312)),
        ((3001, 2003), "qvq-max", {}, (1204, 812), (1204, 812)),
        ((3001, 2003), "qwen3-vl-plus", {"vl_high_resolution_images": True}, (3001, 2003), (3008, 2016)),
        ((3001, 2003), "qwen3-vl-plus", {"max_pixels": 4_000_000}, (2432, 1632), (2432, 1632)),
        ((3001, 2003), "qwen3-vl-plus", {"downscale": False}, (3001, 2003), (1952, 1312)),
    ],
)
def test_geometry_matches_what_prepare_media_sends(size, model, options, sent, seen) -> None:
    data = encode(*size)
    high_res = bool(options.get("vl_high_resolution_images"))
    geometry = image_geometry(
        data,
        model=model,
        high_res=high_res,
        max_pixels=options.get("max_pixels"),
        downscale=options.get("downscale", True),
    )
    assert sent_size(data, model, **options) == sent
    assert (geometry.sent_width, geometry.sent_height) == sent
    assert (geometry.model_width, geometry.model_height) == seen


@given(
    st.integers(min_value=11, max_value=20_000),
    st.integers(min_value=11, max_value=20_000),
    st.sampled_from([PLUS, QVQ]),
    st.booleans(),
)
def test_the_servers_resize_of_a_client_downscaled_image_is_the_identity(width, height, spec, high_res) -> None:
    if max(width, height) / min(width, height) > 200:
        return
    budget = image_budget(spec, high_res=high_res)
    downscaled = client_resize(height, width, budget)
    if downscaled is None:  # sent at its size: within the budget, or a resize would break 200:1
        return
    assert max(downscaled) / min(downscaled) <= 200  # the server accepts what the client sends
    assert smart_resize(*downscaled, budget.factor, budget.min_pixels, budget.max_pixels) == downscaled


def test_a_thin_image_whose_resize_would_break_200_to_1_is_sent_at_its_size() -> None:
    budget = image_budget("qvq-max")
    assert smart_resize(12703, 79, budget.factor, budget.min_pixels, budget.max_pixels) == (12684, 56)  # 226:1
    assert client_resize(12703, 79, budget) is None
    assert client_resize(3000, 2000, budget) == (1204, 812)


def test_exif_rotated_jpeg_within_the_budget_is_sent_upright() -> None:
    data = encode(650, 470, "JPEG", orientation=6)  # stored landscape, shown portrait
    geometry = image_geometry(data, model="qwen3-vl-plus")
    assert geometry == ImageGeometry(470, 650, 470, 650, 480, 640, "relative", 1)
    sent = sent_image(data)
    assert exif_orientation(sent) == 1
    assert Image.open(io.BytesIO(sent)).size == (470, 650)
    [b] = parse_grounding('[{"bbox_2d": [0, 500, 1000, 1000]}]', geometry).boxes
    assert (b.x1, b.y1, b.x2, b.y2) == (0.0, 325.0, 470.0, 650.0)


def test_exif_rotated_jpeg_above_the_budget_is_turned_then_downscaled() -> None:
    data = encode(4000, 3000, "JPEG", orientation=8)
    geometry = image_geometry(data, model="qwen3-vl-plus")
    assert geometry == ImageGeometry(3000, 4000, 1376, 1856, 1376, 1856, "relative", 1)
    assert sent_size(data) == (1376, 1856)
    geometry = image_geometry(data, model="qvq-max")
    [b] = parse_grounding(f'[{{"bbox_2d": [0, 0, {geometry.model_width}, {geometry.model_height}]}}]', geometry).boxes
    assert (b.x2, b.y2) == (3000.0, 4000.0)


def test_an_exif_rotated_image_sent_as_is_is_not_guessed() -> None:
    data = encode(650, 470, "JPEG", orientation=6)
    geometry = image_geometry(data, model="qwen3-vl-plus", downscale=False)
    assert geometry == ImageGeometry(470, 650, 650, 470, 640, 480, "relative", 6)
    assert sent_image(data, downscale=False) == data
    with pytest.raises(GroundingError) as info:
        parse_grounding(BOXES, geometry)
    assert str(info.value) == (
        "The image was sent with EXIF orientation 6 (stored rotated or mirrored) and not re-encoded upright, so "
        "whether the model saw it turned is unknown (the server's EXIF handling is not documented). Send it "
        "upright: keep downscale_images on with Pillow installed (the library then re-encodes it), or turn it "
        "yourself (PIL.ImageOps.exif_transpose)."
    )


def test_exif_orientation_is_read_from_every_container() -> None:
    for fmt in ("JPEG", "PNG", "WEBP", "TIFF"):
        for orientation in (1, 3, 6, 8):
            assert exif_orientation(encode(40, 30, fmt, orientation)) == orientation, (fmt, orientation)
    assert exif_orientation(b"GIF89a" + b"\x00" * 20) == 1


def test_sources_the_request_takes(tmp_path) -> None:
    data = encode(1003, 701)
    path = tmp_path / "shot.png"
    path.write_bytes(data)
    expected = image_geometry(data, model="qwen3-vl-plus")
    assert image_geometry(path, model="qwen3-vl-plus") == expected
    assert image_geometry(str(path), model="qwen3-vl-plus") == expected
    assert image_geometry(f"file://{path}", model="qwen3-vl-plus") == expected
    assert image_geometry("data:image/png;base64," + base64.b64encode(data).decode(), model="qwen3-vl-plus") == expected
    assert image_geometry(Image.open(io.BytesIO(data)), model="qwen3-vl-plus") == expected
    part = image(data, max_pixels=4_000_000)
    assert image_geometry(encode(3001, 2003), model="qwen3-vl-plus", max_pixels=4_000_000) == image_geometry(
        image(encode(3001, 2003), max_pixels=4_000_000), model="qwen3-vl-plus"
    )
    assert image_geometry(part, model="qwen3-vl-plus") == expected
    assert image_geometry(ImagePart(f"file://{path}"), model="qwen3-vl-plus") == expected
    with pytest.raises(GroundingError, match=r"^Remote image URLs are never downloaded"):
        image_geometry(ImagePart("https://example.com/a.png"), model="qwen3-vl-plus")


def test_known_size_only() -> None:
    assert image_geometry(size=(4000, 3000), model="qwen3-vl-plus") == ImageGeometry(
        4000, 3000, 1856, 1376, 1856, 1376, "relative", 1
    )
    assert image_geometry(size=(4000, 3000), model="qwen3-vl-plus", downscale=False) == ImageGeometry(
        4000, 3000, 4000, 3000, 1856, 1376, "relative", 1
    )
    assert image_geometry(size=(4000, 3000), model="qwen3-vl-plus", high_res=True) == ImageGeometry(
        4000, 3000, 4000, 3000, 4000, 3008, "relative", 1
    )
    assert geometry_from_sent(4000, 3000, sent_width=1856, sent_height=1376, model="qvq-max") == ImageGeometry(
        4000,
        3000,
        1856,
        1376,
        1148,
        840,
        "absolute",
        1,  # the server fits 1856x1376 into 1,280 28-px tokens
    )


# -- unknown means not guessed -------------------------------------------------------------------------


def test_an_unknown_model_needs_the_mode_spelled_out() -> None:
    geometry = image_geometry(size=(1003, 701), model="my-finetuned-vl")
    assert geometry.coordinates is None
    with pytest.raises(GroundingError) as info:
        parse_grounding(BOXES, geometry)
    assert str(info.value) == (
        "This model's coordinate convention is unknown (it is not in the catalog), and it is not guessed: pass "
        "coordinates='relative' (Qwen3-VL and later: a 0-1000 grid) or coordinates='absolute' (Qwen2.5-VL-era "
        "models such as QVQ: pixels of the image as the server resized it)."
    )
    assert parse_grounding(BOXES, geometry, coordinates="relative").boxes[0].x2 == 501.5


def test_input_errors() -> None:
    with pytest.raises(
        GroundingError, match=r"^Remote image URLs are never downloaded, so this image's size is unknown"
    ):
        image_geometry("https://example.com/a.png", model="qwen3-vl-plus")
    with pytest.raises(
        GroundingError, match=r"^Give either the image or size=\(width, height\), not both and not neither\.$"
    ):
        image_geometry(model="qwen3-vl-plus")
    with pytest.raises(
        GroundingError,
        match=r"^Cannot read this image's size \(not a BMP, GIF, JPEG, PNG, TIFF, WEBP or HEIC image\)\.$",
    ):
        image_geometry(b"not an image at all, just some bytes", model="qwen3-vl-plus")
    with pytest.raises(GroundingError, match=r"^size must be \(width, height\) in whole pixels, got \(10\.5, 20\)$"):
        image_geometry(size=(10.5, 20), model="qwen3-vl-plus")  # type: ignore[arg-type]
    with pytest.raises(
        GroundingError, match=r"^aspect ratio 300:1 of a 3000x10 image is over the API's limit of 200:1$"
    ):
        image_geometry(size=(3000, 10), model="qwen3-vl-plus")
    mapped = parse_grounding(BOXES, image_geometry(size=(10, 10), model="qwen3-vl-plus"))
    with pytest.raises(GroundingError, match=r"^This result is already mapped to an image; map the parsed answer"):
        map_to_image(mapped, mapped.geometry)


# -- the metadata form ------------------------------------------------------------------------------


def test_dict_round_trip_and_validation() -> None:
    geometry = image_geometry(encode(3001, 2003), model="qvq-max")
    assert geometry.to_dict() == {
        "width": 3001,
        "height": 2003,
        "sent_width": 1204,
        "sent_height": 812,
        "model_width": 1204,
        "model_height": 812,
        "coordinates": "absolute",
        "sent_orientation": 1,
    }
    assert ImageGeometry.from_dict(geometry.to_dict()) == geometry
    assert ImageGeometry.from_dict({"width": 10, "height": 20, "model_width": 32, "model_height": 32}) == ImageGeometry(
        10, 20, 10, 20, 32, 32, None, 1
    )
    with pytest.raises(
        GroundingError, match=r"^image geometry is missing model_width, model_height \(expected the keys"
    ):
        ImageGeometry.from_dict({"width": 10, "height": 20})
    with pytest.raises(
        GroundingError, match=r"^image geometry must be a mapping \(ImageGeometry.to_dict\(\)\), got list$"
    ):
        ImageGeometry.from_dict([1, 2])  # type: ignore[arg-type]
    with pytest.raises(GroundingError, match=r"^ImageGeometry.width must be a positive whole number of pixels, got 0$"):
        ImageGeometry(0, 1, 1, 1, 1, 1)
    with pytest.raises(
        GroundingError, match=r"^ImageGeometry.coordinates must be 'relative', 'absolute' or None, got 'pixels'$"
    ):
        ImageGeometry(1, 1, 1, 1, 1, 1, "pixels")  # type: ignore[arg-type]
    with pytest.raises(
        GroundingError, match=r"^ImageGeometry.sent_orientation must be an EXIF orientation 1-8, got 9$"
    ):
        ImageGeometry(1, 1, 1, 1, 1, 1, "relative", 9)


def test_resolve_geometry_precedence_and_errors() -> None:
    first = image_geometry(size=(1003, 701), model="qwen3-vl-plus")
    second = image_geometry(size=(3001, 2003), model="qvq-max")
    images = [first.to_dict(), second.to_dict()]
    assert resolve_geometry(images=images, index=1) == second
    assert resolve_geometry(geometry=second.to_dict(), images=images) == second
    assert resolve_geometry(size=(1003, 701), model="qwen3-vl-plus", images=images, index=1) == first
    assert resolve_geometry(images=images, coordinates="absolute").coordinates == "absolute"
    with pytest.raises(
        GroundingError, match=r"^the response carries 2 image\(s\) in 'qwen_vl_images'; index 2 is not one of them\.$"
    ):
        resolve_geometry(images=images, index=2)
    with pytest.raises(
        GroundingError, match=r"^No model name in the response to compute the image's resize from; pass model="
    ):
        resolve_geometry(size=(10, 10))
    with pytest.raises(GroundingError) as info:
        resolve_geometry(images=[first.to_dict(), None], index=1)
    assert str(info.value) == (
        "Image 1 of the request is a remote URL, which is never downloaded, so its size is unknown: pass the image "
        "itself (image=path, bytes or PIL image) or its size (size=(width, height))."
    )
    with pytest.raises(GroundingError) as info:
        resolve_geometry(images=[])
    assert str(info.value) == (
        "No image size to map the boxes to: the response carries no 'qwen_vl_images' metadata (remote URL images "
        "are never downloaded, so their size is unknown). Pass the image you sent (image=path, bytes or PIL "
        "image), its size (size=(width, height)), or geometry=image_geometry(...)."
    )


def test_parse_then_map_equals_parse_grounding() -> None:
    geometry = image_geometry(size=(1003, 701), model="qwen3-vl-plus")
    assert map_to_image(parse_answer(BOXES), geometry) == parse_grounding(BOXES, geometry)
