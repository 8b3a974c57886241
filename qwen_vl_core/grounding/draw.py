"""An annotated copy of the image: boxes, points and labels, readable on light and dark images.

Each label gets its own colour (in order of first appearance). A box is a band of that colour with
a dark line just outside it and a white line just inside, so it stands out on any background; a
point is a dot of the colour in a dark and a white ring; labels sit on a filled tag of the colour,
in black or white text, whichever contrasts. Needs Pillow (the `images` extra), imported only here.
"""

from __future__ import annotations

import io
import os
from typing import TYPE_CHECKING, Any

from .geometry import ImageGeometry
from .types import GroundingError, GroundingResult

if TYPE_CHECKING:
    from PIL import Image as PILImage

__all__ = ["DARK", "LIGHT", "PALETTE", "draw_grounding", "label_colors", "line_width"]

PALETTE: tuple[tuple[int, int, int], ...] = (
    (230, 25, 75),  # red
    (60, 180, 75),  # green
    (255, 225, 25),  # yellow
    (0, 130, 200),  # blue
    (245, 130, 48),  # orange
    (145, 30, 180),  # purple
    (70, 240, 240),  # cyan
    (240, 50, 230),  # magenta
    (210, 245, 60),  # lime
    (250, 190, 212),  # pink
    (0, 128, 128),  # teal
    (170, 110, 40),  # brown
)
"""Distinct colours (Sasha Trubetskoy's "20 distinct colours", first twelve); labels past twelve cycle."""
DARK = (0, 0, 0)
LIGHT = (255, 255, 255)


def _pillow() -> Any:
    try:
        from PIL import Image, ImageDraw, ImageFont, ImageOps
    except ImportError as exc:
        raise ImportError(
            "Drawing boxes needs Pillow: pip install 'qwen-vl-reasoning[images]' (parsing and mapping work without it)."
        ) from exc
    return Image, ImageDraw, ImageFont, ImageOps


def label_colors(result: GroundingResult) -> dict[str | None, tuple[int, int, int]]:
    """The colour of each label, as drawn."""
    return {label: PALETTE[i % len(PALETTE)] for i, label in enumerate(result.labels)}


def line_width(width: int, height: int) -> int:
    """Width of a box's colour band for an image of this size."""
    return max(2, round(max(width, height) / 300))


def _open(image: Any) -> PILImage.Image:
    Image, _, _, ImageOps = _pillow()
    if hasattr(image, "save") and hasattr(image, "size"):  # a PIL image: drawn as it is (it is sent as it is)
        return image.convert("RGB")  # type: ignore[no-any-return]
    from .geometry import _image_bytes

    data = _image_bytes(image)
    try:
        with Image.open(io.BytesIO(data)) as opened:
            upright = ImageOps.exif_transpose(opened) or opened
            return upright.convert("RGB")  # type: ignore[no-any-return]
    except (OSError, ValueError) as exc:
        raise GroundingError(f"Cannot open the image to draw on ({type(exc).__name__}).") from exc


def _contrast(color: tuple[int, int, int]) -> tuple[int, int, int]:
    luminance = 0.299 * color[0] + 0.587 * color[1] + 0.114 * color[2]
    return DARK if luminance > 140 else LIGHT


def draw_grounding(image: Any, result: GroundingResult, *, out: str | os.PathLike[str] | None = None) -> PILImage.Image:
    """Draw the mapped boxes and points on a copy of `image` (path, bytes, PIL image...); save it to `out`.

    `result` must be mapped to this image (`parse_grounding(text, geometry)`): its geometry's size
    must be the image's size as the user sees it.
    """
    _, ImageDraw, ImageFont, _ = _pillow()
    geometry: ImageGeometry | None = result.geometry
    if geometry is None:
        raise GroundingError("Map the result to the image before drawing: parse_grounding(text, geometry).")
    img = _open(image)
    if img.size != (geometry.width, geometry.height):
        raise GroundingError(
            f"The boxes were mapped to a {geometry.width}x{geometry.height} image, but the image to draw on is "
            f"{img.width}x{img.height}: draw on the image the request carried."
        )
    draw = ImageDraw.Draw(img)
    lw = line_width(img.width, img.height)
    try:
        font = ImageFont.load_default(size=max(12, round(max(img.width, img.height) / 60)))
    except TypeError:  # Pillow < 10.1: the fixed bitmap font
        font = ImageFont.load_default()
    colors = label_colors(result)
    tags: list[tuple[int, int, str, tuple[int, int, int], bool]] = []
    for box in result.boxes:
        color = colors[box.label]
        x1, y1, x2, y2 = box.rounded
        draw.rectangle((x1 - 1, y1 - 1, x2 + 1, y2 + 1), outline=DARK, width=1)
        draw.rectangle((x1, y1, x2, y2), outline=color, width=lw)
        if x2 - x1 > 2 * lw and y2 - y1 > 2 * lw:
            draw.rectangle((x1 + lw, y1 + lw, x2 - lw, y2 - lw), outline=LIGHT, width=1)
        if box.label:
            tags.append((x1, y1, box.label, color, True))
    radius = max(4, 2 * lw)
    for point in result.points:
        color = colors[point.label]
        x, y = point.rounded
        for r, fill in ((radius + 2, LIGHT), (radius + 1, DARK), (radius, color)):
            draw.ellipse((x - r, y - r, x + r, y + r), fill=fill)
        if point.label:
            tags.append((x + radius + 3, y, point.label, color, False))
    for x, y, text, color, above in tags:
        left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
        pad = 3
        w, h = right - left + 2 * pad, bottom - top + 2 * pad
        tx = min(max(x, 0), max(img.width - w, 0))
        # A box's tag sits on its top edge (inside when there is no room above); a point's to its right.
        ty = (y - h if y - h >= 0 else y + lw) if above else min(max(y - h // 2, 0), max(img.height - h, 0))
        draw.rectangle((tx, ty, tx + w - 1, ty + h - 1), fill=color)
        draw.text((tx + pad - left, ty + pad - top), text, fill=_contrast(color), font=font)
    if out is not None:
        try:
            img.save(out)
        except (OSError, ValueError, KeyError) as exc:
            raise GroundingError(
                f"Could not write the annotated image to {os.fspath(out)!r} ({type(exc).__name__}: {exc}); "
                "use a .png or .jpg path in a writable folder."
            ) from exc
    return img
