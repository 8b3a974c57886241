"""Boxes and points from a `QwenVL` answer (`ChatResponse`), in pixels of the image the request carried.

    from llama_index_qwen_vl import QwenVL, grounding_from_response
    from qwen_vl_core.grounding import grounding_prompt

    response = QwenVL(model="qwen3-vl-plus").chat([ChatMessage(role="user", blocks=[
        ImageBlock(path="photo.jpg"), TextBlock(text=grounding_prompt("every person"))])])
    result = grounding_from_response(response, image="photo.jpg")

Only the answer's `TextBlock`s are parsed; `ThinkingBlock`s (the reasoning) never are. The image
size comes from `geometry=`, else `image=` / `size=` (with the model named in `response.raw`, or
`model=`), else `response.raw["qwen_vl_images"][index]`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from llama_index.core.base.llms.types import ChatResponse, CompletionResponse, TextBlock

from qwen_vl_core.catalog import GroundingCoordinates
from qwen_vl_core.grounding import GroundingResult, ImageGeometry, parse_answer
from qwen_vl_core.grounding.geometry import map_to_image, resolve_geometry

__all__ = ["IMAGES_RAW_KEY", "grounding_from_response", "response_text"]

IMAGES_RAW_KEY = "qwen_vl_images"
"""`ChatResponse.raw` key holding each inline image's `ImageGeometry.to_dict()`, in request order."""


def response_text(response: ChatResponse | CompletionResponse) -> str:
    """The answer text: the message's `TextBlock`s (a completion's `text`); thinking is left out."""
    if isinstance(response, CompletionResponse):
        return response.text
    return "".join(block.text for block in response.message.blocks if isinstance(block, TextBlock))


def grounding_from_response(
    response: ChatResponse | CompletionResponse,
    *,
    image: Any = None,
    size: tuple[int, int] | None = None,
    geometry: ImageGeometry | Mapping[str, Any] | None = None,
    index: int = 0,
    model: str | None = None,
    high_res: bool = False,
    max_pixels: int | None = None,
    downscale: bool = True,
    coordinates: GroundingCoordinates | None = None,
) -> GroundingResult:
    """Boxes (`bbox_2d`) and points (`point_2d`) of the answer, in pixels of the original image.

    `image` / `size` / `geometry` / `index` / `model` / `high_res` / `max_pixels` / `downscale` /
    `coordinates` mean what they mean on `langchain_qwen_vl.QwenGroundingParser`. Items that could
    not be read are in the result's `problems`.
    """
    if not isinstance(response, ChatResponse | CompletionResponse):
        raise TypeError(
            f"grounding_from_response takes a ChatResponse or CompletionResponse, got {type(response).__name__}"
        )
    raw = response.raw if isinstance(response.raw, Mapping) else {}
    images = raw.get(IMAGES_RAW_KEY)
    name = model or raw.get("model")
    resolved = resolve_geometry(
        geometry=geometry,
        image=image,
        size=size,
        images=images if isinstance(images, list) else None,
        index=index,
        model=name if isinstance(name, str) else None,
        high_res=high_res,
        max_pixels=max_pixels,
        downscale=downscale,
        coordinates=coordinates,
    )
    return map_to_image(parse_answer(response_text(response)), resolved)
