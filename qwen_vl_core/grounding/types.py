"""The values grounding produces: boxes, points, problems, and the result that holds them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .geometry import ImageGeometry

__all__ = ["Box", "GroundingError", "GroundingProblem", "GroundingResult", "Point"]


class GroundingError(ValueError):
    """Grounding cannot proceed: no image size to map to, an unknown coordinate convention, a bad image."""


@dataclass(frozen=True)
class Box:
    """One box. Before mapping (`GroundingResult.geometry is None`) the values are the model's numbers;
    after mapping they are pixels of the original image as the user sees it (EXIF orientation applied)."""

    x1: float
    y1: float
    x2: float
    y2: float
    label: str | None = None
    extra: dict[str, Any] = field(default_factory=dict, hash=False)
    """Every other key of the item (`"type"`, `"color"`, ...), as answered."""
    index: int = 0
    """1-based position of the item in the answer (problems use the same numbering)."""
    raw: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)
    """The four numbers as the model answered them."""
    clamped: bool = False
    """A value was outside the image (or the 0-1000 grid) and was clamped to its edge."""
    reordered: bool = False
    """The corners came as (x2, y2, x1, y1) or mixed and were put in order."""

    @property
    def rounded(self) -> tuple[int, int, int, int]:
        """(x1, y1, x2, y2) rounded to whole pixels."""
        return round(self.x1), round(self.y1), round(self.x2), round(self.y2)

    @property
    def width(self) -> float:
        return self.x2 - self.x1

    @property
    def height(self) -> float:
        return self.y2 - self.y1


@dataclass(frozen=True)
class Point:
    """One point; the same conventions as `Box`."""

    x: float
    y: float
    label: str | None = None
    extra: dict[str, Any] = field(default_factory=dict, hash=False)
    index: int = 0
    raw: tuple[float, float] = (0.0, 0.0)
    clamped: bool = False

    @property
    def rounded(self) -> tuple[int, int]:
        return round(self.x), round(self.y)


@dataclass(frozen=True)
class GroundingProblem:
    """An item that could not be read, or a note about the answer as a whole (`index` None)."""

    index: int | None
    message: str
    excerpt: str = ""
    """The start of the offending text (at most 80 characters, whitespace collapsed)."""


@dataclass(frozen=True)
class GroundingResult:
    """Boxes and points read from one answer, and every item that could not be read."""

    boxes: tuple[Box, ...] = ()
    points: tuple[Point, ...] = ()
    problems: tuple[GroundingProblem, ...] = ()
    geometry: ImageGeometry | None = None
    """The image the values were mapped to; None: the values are the model's own numbers."""

    @property
    def items(self) -> tuple[Box | Point, ...]:
        """Boxes and points in answer order."""
        merged: list[Box | Point] = [*self.boxes, *self.points]
        merged.sort(key=lambda item: item.index)
        return tuple(merged)

    @property
    def labels(self) -> tuple[str | None, ...]:
        """Distinct labels in order of first appearance (the drawing gives each its own colour)."""
        return tuple(dict.fromkeys(item.label for item in self.items))
