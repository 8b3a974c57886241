"""`QwenGroundingParser`: an `AIMessage` → boxes and points in pixels of the image the request carried.

    from langchain_qwen_vl import ChatQwenVL, QwenGroundingParser
    from qwen_vl_core.grounding import grounding_prompt

    chain = ChatQwenVL(model="qwen3-vl-plus") | QwenGroundingParser(image="photo.jpg")
    result = chain.invoke([HumanMessage(content=[{"type": "image", "url": "file:///.../photo.jpg"},
                                                 {"type": "text", "text": grounding_prompt("every person")}])])
    for box in result.boxes: print(box.label, box.rounded)

Only the answer text is parsed (text content or text blocks), never the reasoning. The image size
comes from `geometry=`, else `image=` / `size=` (with the model named in the message's
`response_metadata`, or `model=`), else the message's `response_metadata["qwen_vl_images"][index]`.
"""

from __future__ import annotations

from typing import Any

from langchain_core.messages import BaseMessage
from langchain_core.output_parsers import BaseOutputParser
from langchain_core.outputs import ChatGeneration, Generation
from pydantic import ConfigDict, field_validator

from qwen_vl_core.catalog import GroundingCoordinates
from qwen_vl_core.grounding import GroundingResult, ImageGeometry, parse_answer
from qwen_vl_core.grounding.geometry import map_to_image, resolve_geometry

__all__ = ["IMAGES_METADATA_KEY", "QwenGroundingParser", "message_text"]

IMAGES_METADATA_KEY = "qwen_vl_images"
"""`response_metadata` key holding each inline image's `ImageGeometry.to_dict()`, in request order."""


def message_text(message: BaseMessage) -> str:
    """The answer text of a message: string content, or its text blocks (reasoning blocks are skipped)."""
    content = message.content
    if isinstance(content, str):
        return content
    parts: list[str] = []
    for block in content:
        if isinstance(block, str):
            parts.append(block)
        elif isinstance(block, dict) and block.get("type") == "text" and isinstance(block.get("text"), str):
            parts.append(block["text"])
    return "".join(parts)


class QwenGroundingParser(BaseOutputParser[GroundingResult]):
    """Parse boxes (`bbox_2d`) and points (`point_2d`) out of a `ChatQwenVL` answer, in original-image pixels.

    Args:
        image: the image the request carried (path, bytes, PIL image, data URL); needed for remote URLs.
        size: or just its (width, height) as the user sees it.
        geometry: or an `ImageGeometry` (or its dict) computed beforehand.
        index: which image of the request, when the geometry comes from the message metadata.
        model: the model asked (default: the message's `response_metadata["model_name"]`).
        high_res / max_pixels / downscale: the request's `vl_high_resolution_images`, per-image
            `max_pixels` and `downscale_images`, when the geometry is computed from `image` / `size`.
        coordinates: `"relative"` or `"absolute"`, overriding the catalog (required for models it
            does not know).

    Returns a `GroundingResult`: `boxes`, `points`, and `problems` for items that could not be read.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    image: Any = None
    size: tuple[int, int] | None = None
    geometry: Any = None
    index: int = 0
    model: str | None = None
    high_res: bool = False
    max_pixels: int | None = None
    downscale: bool = True
    coordinates: GroundingCoordinates | None = None

    @field_validator("geometry")
    @classmethod
    def _check_geometry(cls, value: Any) -> ImageGeometry | None:
        if value is None or isinstance(value, ImageGeometry):
            return value
        return ImageGeometry.from_dict(value)

    @property
    def _type(self) -> str:
        return "qwen_grounding"

    @property
    def OutputType(self) -> type[GroundingResult]:
        return GroundingResult

    def parse(self, text: str) -> GroundingResult:
        """Plain text (e.g. after a `StrOutputParser`): the geometry must come from this parser's fields."""
        return self._parse(text, None)

    def parse_result(self, result: list[Generation], *, partial: bool = False) -> GroundingResult:
        generation = result[0]
        if isinstance(generation, ChatGeneration):
            return self._parse(message_text(generation.message), generation.message)
        return self._parse(generation.text, None)

    def _parse(self, text: str, message: BaseMessage | None) -> GroundingResult:
        metadata: dict[str, Any] = dict(getattr(message, "response_metadata", None) or {})
        images = metadata.get(IMAGES_METADATA_KEY)
        model = self.model or metadata.get("model_name")
        geometry = resolve_geometry(
            geometry=self.geometry,
            image=self.image,
            size=self.size,
            images=images if isinstance(images, list) else None,
            index=self.index,
            model=model if isinstance(model, str) else None,
            high_res=self.high_res,
            max_pixels=self.max_pixels,
            downscale=self.downscale,
            coordinates=self.coordinates,
            where="the message" if message is not None else "plain text",
        )
        return map_to_image(parse_answer(text), geometry)
