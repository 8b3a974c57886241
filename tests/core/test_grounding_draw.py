"""The annotated picture, checked pixel by pixel: colour bands, contrast strokes, points, label tags."""

from __future__ import annotations

import io
import sys

import pytest
from PIL import Image

from qwen_vl_core.grounding import (
    PALETTE,
    GroundingError,
    draw_grounding,
    image_geometry,
    label_colors,
    parse_grounding,
)
from qwen_vl_core.grounding.draw import DARK, LIGHT, line_width

ANSWER = (
    '```json\n[{"bbox_2d": [100, 200, 500, 900], "label": "cat"}, {"bbox_2d": [600, 100, 900, 400], "label": "dog"},'
    ' {"point_2d": [800, 800], "label": "cat"}]\n```'
)
RED, GREEN = PALETTE[0], PALETTE[1]


def png(width: int, height: int, color: tuple[int, int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buffer, "PNG")
    return buffer.getvalue()


def luminance(color: tuple[int, int, int]) -> float:
    return 0.299 * color[0] + 0.587 * color[1] + 0.114 * color[2]


@pytest.mark.parametrize("background", [(245, 245, 240), (20, 20, 25)], ids=["light", "dark"])
def test_boxes_points_and_tags(background, tmp_path) -> None:
    data = png(1003, 701, background)
    result = parse_grounding(ANSWER, image_geometry(data, model="qwen3-vl-plus"))
    assert [b.rounded for b in result.boxes] == [(100, 140, 502, 631), (602, 70, 903, 280)]
    assert [p.rounded for p in result.points] == [(802, 561)]
    assert line_width(1003, 701) == 3
    out = tmp_path / "annotated.png"
    drawn = draw_grounding(data, result, out=out)
    with Image.open(out) as saved:
        assert saved.size == (1003, 701)
        assert saved.convert("RGB").tobytes() == drawn.tobytes()
    px = drawn.getpixel
    # Left edge of the first box at mid-height: dark outside, a 3-px band of the label's colour, white inside.
    assert [px((x, 385)) for x in range(99, 105)] == [DARK, RED, RED, RED, LIGHT, background]
    # Right edge, mirrored.
    assert [px((x, 385)) for x in range(498, 504)] == [background, LIGHT, RED, RED, RED, DARK]
    # Top edge of the second box (another label: another colour).
    assert [px((750, y)) for y in range(69, 74)] == [DARK, GREEN, GREEN, GREEN, LIGHT]
    # Tags on the boxes' top edges, filled with the box colour.
    assert px((101, 139)) == RED
    assert px((603, 69)) == GREEN
    # The point: a dot of its label's colour (the same as the first box) in a dark, then a white ring.
    assert [px((x, 561)) for x in (802, 808, 809, 810)] == [RED, RED, DARK, LIGHT]
    assert px((802, 561 - 7)) == DARK
    # Whatever the background, one of the strokes stands far off it.
    assert max(abs(luminance(c) - luminance(background)) for c in (DARK, LIGHT)) > 200
    assert px((300, 400)) == background  # inside a box nothing is painted


def test_colours_follow_first_appearance() -> None:
    result = parse_grounding(
        '[{"point_2d": [1, 1], "label": "b"}, {"bbox_2d": [1, 1, 2, 2], "label": "a"}, {"point_2d": [2, 2]}]',
        image_geometry(size=(100, 100), model="qwen3-vl-plus"),
    )
    assert label_colors(result) == {"b": PALETTE[0], "a": PALETTE[1], None: PALETTE[2]}
    many = ", ".join(f'{{"point_2d": [{i}, {i}], "label": "l{i}"}}' for i in range(14))
    colors = label_colors(parse_grounding(f"[{many}]", image_geometry(size=(100, 100), model="qwen3-vl-plus")))
    assert colors["l12"] == PALETTE[0]
    assert len(set(list(colors.values())[:12])) == 12


def test_an_exif_rotated_jpeg_is_drawn_upright() -> None:
    img = Image.new("RGB", (650, 470), (90, 140, 200))
    exif = Image.Exif()
    exif[0x0112] = 6
    buffer = io.BytesIO()
    img.save(buffer, "JPEG", exif=exif, quality=95)
    data = buffer.getvalue()
    result = parse_grounding(
        '[{"bbox_2d": [0, 500, 1000, 1000], "label": "lower half"}]', image_geometry(data, model="qwen3-vl-plus")
    )
    drawn = draw_grounding(data, result)
    assert drawn.size == (470, 650)
    assert line_width(470, 650) == 2
    assert [drawn.getpixel((x, 500)) for x in (0, 1)] == [RED, RED]
    assert drawn.getpixel((2, 500)) == LIGHT
    assert drawn.getpixel((235, 100)) != RED  # the upper half is untouched


def test_a_pil_image_is_drawn_as_it_is_and_not_modified() -> None:
    img = Image.new("RGB", (200, 100), (0, 0, 0))
    result = parse_grounding('[{"bbox_2d": [500, 500, 1000, 1000]}]', image_geometry(img, model="qwen3-vl-plus"))
    drawn = draw_grounding(img, result)
    assert drawn.getpixel((100, 75)) == RED
    assert img.getpixel((100, 75)) == (0, 0, 0)


def test_drawing_errors(tmp_path) -> None:
    data = png(1003, 701, (255, 255, 255))
    geometry = image_geometry(data, model="qwen3-vl-plus")
    with pytest.raises(
        GroundingError, match=r"^Map the result to the image before drawing: parse_grounding\(text, geometry\)\.$"
    ):
        draw_grounding(data, parse_grounding(ANSWER))
    with pytest.raises(GroundingError) as info:
        draw_grounding(png(500, 500, (0, 0, 0)), parse_grounding(ANSWER, geometry))
    assert str(info.value) == (
        "The boxes were mapped to a 1003x701 image, but the image to draw on is 500x500: draw on the image the "
        "request carried."
    )
    with pytest.raises(
        GroundingError, match=r"^Could not write the annotated image to '.*annotated\.nope' \(ValueError: "
    ):
        draw_grounding(data, parse_grounding(ANSWER, geometry), out=tmp_path / "annotated.nope")
    with pytest.raises(
        GroundingError, match=r"^Could not write the annotated image to '.*missing/a\.png' \(FileNotFoundError: "
    ):
        draw_grounding(data, parse_grounding(ANSWER, geometry), out=tmp_path / "missing" / "a.png")


def test_drawing_without_pillow_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    result = parse_grounding(ANSWER, image_geometry(size=(1003, 701), model="qwen3-vl-plus"))
    monkeypatch.setitem(sys.modules, "PIL", None)
    with pytest.raises(ImportError) as info:
        draw_grounding(b"", result)
    assert str(info.value) == (
        "Drawing boxes needs Pillow: pip install 'qwen-vl-reasoning[images]' (parsing and mapping work without it)."
    )
