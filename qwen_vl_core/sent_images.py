"""The geometry of each image a request carried, for mapping boxes and points back to the user's pixels.

The media stage reports, for every inline image, its size as the user sees it (EXIF applied) and as
sent; with the model's resize rules that is the whole `ImageGeometry` (`qwen_vl_core.grounding`).
Results carry it in image order (`ChatResult.images`; LangChain `response_metadata["qwen_vl_images"]`,
LlamaIndex `raw["qwen_vl_images"]`), None for a remote URL, whose size is never known here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .catalog import ModelSpec
from .grounding.geometry import geometry_from_sent
from .grounding.types import GroundingError
from .media import SentImage
from .types import ChatRequest, ImagePart

__all__ = ["image_geometries"]


def image_geometries(
    request: ChatRequest, sent: Mapping[tuple[int, int], SentImage], spec: ModelSpec
) -> list[dict[str, Any] | None]:
    """One entry per image part of `request` (messages and parts numbered from 1, as `sent` is keyed)."""
    high_res = bool(request.vl_high_resolution_images)
    out: list[dict[str, Any] | None] = []
    for m, message in enumerate(request.messages, 1):
        for p, part in enumerate(message.content, 1):
            if not isinstance(part, ImagePart):
                continue
            image = sent.get((m, p))
            if image is None:
                out.append(None)
                continue
            try:
                geometry = geometry_from_sent(
                    image.width,
                    image.height,
                    sent_width=image.sent_width,
                    sent_height=image.sent_height,
                    model=spec,
                    high_res=high_res,
                    max_pixels=part.max_pixels,
                    sent_orientation=image.sent_orientation,
                )
            except GroundingError:
                out.append(None)  # an image the resize rules cannot place; grounding then needs it given
                continue
            out.append(geometry.to_dict())
    return out
