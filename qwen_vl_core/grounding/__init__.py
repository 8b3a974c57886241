"""Grounding: boxes and points in an answer, mapped to the user's pixels, and drawn.

    from qwen_vl_core.grounding import grounding_prompt, image_geometry, parse_grounding, draw_grounding

    prompt = grounding_prompt("every person")             # the cookbook wording
    ...                                                   # ask the model with the image and the prompt
    geometry = image_geometry("photo.jpg", model="qwen3-vl-plus")
    result = parse_grounding(answer_text, geometry)       # boxes / points in pixels of photo.jpg
    draw_grounding("photo.jpg", result, out="annotated.png")

Qwen3-VL answers on a relative 0-1000 grid, QVQ (Qwen2.5-VL era) in pixels of the image as the
server resized it; the catalog says which (`ModelSpec.grounding`), and `image_geometry` replays the
exact resize. Nothing here imports a framework; Pillow only for drawing.
"""

from __future__ import annotations

from ..catalog import GroundingCoordinates
from .draw import PALETTE, draw_grounding, label_colors
from .geometry import (
    RELATIVE_GRID,
    ImageGeometry,
    geometry_from_sent,
    image_geometry,
    map_to_image,
    resolve_geometry,
)
from .parse import parse_answer
from .prompts import grounding_prompt
from .types import Box, GroundingError, GroundingProblem, GroundingResult, Point

__all__ = [
    "PALETTE",
    "RELATIVE_GRID",
    "Box",
    "GroundingCoordinates",
    "GroundingError",
    "GroundingProblem",
    "GroundingResult",
    "ImageGeometry",
    "Point",
    "draw_grounding",
    "geometry_from_sent",
    "grounding_prompt",
    "image_geometry",
    "label_colors",
    "map_to_image",
    "parse_answer",
    "parse_grounding",
    "resolve_geometry",
]


def parse_grounding(
    text: str, geometry: ImageGeometry | None = None, *, coordinates: GroundingCoordinates | None = None
) -> GroundingResult:
    """Boxes and points in `text`; with `geometry`, in pixels of that image (else the model's numbers).

    `coordinates` overrides the geometry's convention ('relative' or 'absolute').
    """
    parsed = parse_answer(text)
    return parsed if geometry is None else map_to_image(parsed, geometry, coordinates=coordinates)
