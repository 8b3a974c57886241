"""Where the model's numbers land on the user's image.

Qwen3-VL answers on a relative 0-1000 grid of the image: pixel = v / 1000 x original side
(QwenLM/Qwen3-VL cookbooks/2d_grounding.ipynb: "Qwen3-VL's default coordinate system has been
changed from the absolute coordinates used in Qwen2.5-VL to relative coordinates ranging from 0 to
1000"). Qwen2.5-VL-era models (QVQ) answer in absolute pixels of the image as the server resized
it (maintainer answers in QwenLM/Qwen3-VL#676 and #1161), so the resize must be known exactly: it is
the service's `smart_resize` of what was sent, and what was sent is what `prepare_media` made of the
image (downscaled into the budget with the same `smart_resize`, so the server's resize of a
client-downscaled image is the identity; turned upright when its EXIF orientation says so).
Values past the edges occur (QwenLM/Qwen3-VL#1741 notes the Model Studio page says 0-999; the
cookbooks divide by 1000): they are clamped and the item is flagged.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, get_args

from ..catalog import GroundingCoordinates, ModelSpec, get_spec
from ..formats import detect_image_mime
from ..imaging import exif_orientation, image_size, pillow_available
from ..media import needs_reencoding
from ..sources import image as image_part
from ..tokens import ImageBudget, client_resize, image_budget, smart_resize
from ..types import ImagePart
from .types import Box, GroundingError, GroundingResult, Point

__all__ = ["RELATIVE_GRID", "ImageGeometry", "geometry_from_sent", "image_geometry", "map_to_image", "resolve_geometry"]

RELATIVE_GRID = 1000
"""Side of the relative grid Qwen3-VL answers on."""

_MODES: tuple[str, ...] = get_args(GroundingCoordinates)
_QUARTER_TURNS = (5, 6, 7, 8)


@dataclass(frozen=True)
class ImageGeometry:
    """One image as the user has it, as it was sent, and as the model saw it."""

    width: int
    height: int
    """The original image as the user sees it (EXIF orientation applied)."""
    sent_width: int
    sent_height: int
    """The image as sent (after the client-side downscale; the original size when sent as is)."""
    model_width: int
    model_height: int
    """After the server's `smart_resize` of what was sent: the frame of absolute coordinates."""
    coordinates: GroundingCoordinates | None = None
    """`relative` (0-1000 grid) or `absolute` (pixels of the model's frame); None: unknown for this model."""
    sent_orientation: int = 1
    """EXIF orientation the sent bytes still carried (1: upright; anything else leaves the frame unknown)."""

    def __post_init__(self) -> None:
        for name in ("width", "height", "sent_width", "sent_height", "model_width", "model_height"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise GroundingError(f"ImageGeometry.{name} must be a positive whole number of pixels, got {value!r}")
        if self.coordinates is not None and self.coordinates not in _MODES:
            raise GroundingError(
                f"ImageGeometry.coordinates must be 'relative', 'absolute' or None, got {self.coordinates!r}"
            )
        if isinstance(self.sent_orientation, bool) or self.sent_orientation not in range(1, 9):
            raise GroundingError(
                f"ImageGeometry.sent_orientation must be an EXIF orientation 1-8, got {self.sent_orientation!r}"
            )

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict (the `qwen_vl_images` metadata entries); `from_dict` reads it back."""
        return {
            "width": self.width,
            "height": self.height,
            "sent_width": self.sent_width,
            "sent_height": self.sent_height,
            "model_width": self.model_width,
            "model_height": self.model_height,
            "coordinates": self.coordinates,
            "sent_orientation": self.sent_orientation,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ImageGeometry:
        if not isinstance(data, Mapping):
            raise GroundingError(
                f"image geometry must be a mapping (ImageGeometry.to_dict()), got {type(data).__name__}"
            )
        missing = [k for k in ("width", "height", "model_width", "model_height") if k not in data]
        if missing:
            raise GroundingError(
                f"image geometry is missing {', '.join(missing)} (expected the keys of ImageGeometry.to_dict())"
            )
        return cls(
            width=data["width"],
            height=data["height"],
            sent_width=data.get("sent_width", data["width"]),
            sent_height=data.get("sent_height", data["height"]),
            model_width=data["model_width"],
            model_height=data["model_height"],
            coordinates=data.get("coordinates"),
            sent_orientation=data.get("sent_orientation", 1),
        )


def _spec(model: str | ModelSpec) -> ModelSpec:
    return model if isinstance(model, ModelSpec) else get_spec(model, warn=False)


def geometry_from_sent(
    width: int,
    height: int,
    *,
    sent_width: int,
    sent_height: int,
    model: str | ModelSpec,
    high_res: bool = False,
    max_pixels: int | None = None,
    coordinates: GroundingCoordinates | None = None,
    sent_orientation: int = 1,
) -> ImageGeometry:
    """The geometry when both sizes are known (the request pipeline knows what it sent).

    `coordinates` defaults to the model family's convention from the catalog (None when unknown).
    """
    spec = _spec(model)
    budget = image_budget(spec, high_res=high_res, max_pixels=max_pixels)
    try:
        model_h, model_w = smart_resize(sent_height, sent_width, budget.factor, budget.min_pixels, budget.max_pixels)
    except ValueError as exc:
        raise GroundingError(str(exc)) from exc
    return ImageGeometry(
        width=width,
        height=height,
        sent_width=sent_width,
        sent_height=sent_height,
        model_width=model_w,
        model_height=model_h,
        coordinates=coordinates if coordinates is not None else spec.grounding,
        sent_orientation=sent_orientation,
    )


def _image_bytes(source: Any) -> bytes:
    if isinstance(source, str) and source.startswith(("http://", "https://")):
        raise GroundingError(
            "Remote image URLs are never downloaded, so this image's size is unknown: pass the image itself "
            "(a path, bytes or PIL image) or its size, size=(width, height)."
        )
    try:
        part = source if isinstance(source, ImagePart) else image_part(source)
    except ValueError as exc:
        raise GroundingError(str(exc)) from exc
    if part.data is not None:
        return part.data
    url = part.url or ""
    if not url.startswith("data:"):  # http(s): refused; a path or file:// URL in an ImagePart: read
        return _image_bytes(url)
    head, _, payload = url.partition(",")
    try:
        return base64.b64decode(payload, validate=False) if ";base64" in head else b""
    except binascii.Error as exc:
        raise GroundingError(f"The image's data URL is not valid base64 ({exc}).") from exc


def image_geometry(
    image: Any = None,
    *,
    size: tuple[int, int] | None = None,
    model: str | ModelSpec,
    high_res: bool = False,
    max_pixels: int | None = None,
    downscale: bool = True,
    coordinates: GroundingCoordinates | None = None,
) -> ImageGeometry:
    """The geometry of an image sent to `model`, computed the way the request pipeline sends it.

    Give the image (path, `file://` URL, data URL, bytes, base64, PIL image or `ImagePart`) or, when
    only its size is known, `size=(width, height)` as the user sees it (then it is taken to be sent
    upright). `high_res` is `vl_high_resolution_images`; `max_pixels` the per-image setting (an
    `ImagePart`'s own is used when not given); `downscale` the client's `downscale_images`.
    """
    spec = _spec(model)
    if (image is None) == (size is None):
        raise GroundingError("Give either the image or size=(width, height), not both and not neither.")
    if max_pixels is None and isinstance(image, ImagePart):
        max_pixels = image.max_pixels
    budget = image_budget(spec, high_res=high_res, max_pixels=max_pixels)
    if size is not None:
        width, height = size
        if (
            isinstance(width, bool)
            or isinstance(height, bool)
            or not isinstance(width, int)
            or not isinstance(height, int)
        ):
            raise GroundingError(f"size must be (width, height) in whole pixels, got {size!r}")
        sent_h, sent_w = height, width
        if downscale and pillow_available() and width > 0 and height > 0:
            sent_h, sent_w = _resize(height, width, budget) or (height, width)
        return geometry_from_sent(
            width, height, sent_width=sent_w, sent_height=sent_h, model=spec, high_res=high_res,
            max_pixels=max_pixels, coordinates=coordinates,
        )  # fmt: skip
    data = _image_bytes(image)
    mime = detect_image_mime(data)
    stored = image_size(data) if mime is not None else None
    if mime is None or stored is None:
        raise GroundingError("Cannot read this image's size (not a BMP, GIF, JPEG, PNG, TIFF, WEBP or HEIC image).")
    orientation = exif_orientation(data)
    width, height = (stored[1], stored[0]) if orientation in _QUARTER_TURNS else stored
    if pillow_available() and needs_reencoding(data, mime, stored, budget, downscale=downscale):
        # fit_image: turned upright, and downscaled with the same smart_resize when over the budget.
        sent_h, sent_w = height, width
        if downscale:
            sent_h, sent_w = _resize(height, width, budget) or (height, width)
        sent_orientation = 1
    else:
        (sent_w, sent_h), sent_orientation = stored, orientation
    return geometry_from_sent(
        width, height, sent_width=sent_w, sent_height=sent_h, model=spec, high_res=high_res,
        max_pixels=max_pixels, coordinates=coordinates, sent_orientation=sent_orientation,
    )  # fmt: skip


def _resize(height: int, width: int, budget: ImageBudget) -> tuple[int, int] | None:
    """The client's downscale, as `fit_image` does it (None: sent at its size)."""
    try:
        return client_resize(height, width, budget)
    except ValueError as exc:
        raise GroundingError(str(exc)) from exc


def resolve_geometry(
    *,
    geometry: ImageGeometry | Mapping[str, Any] | None = None,
    image: Any = None,
    size: tuple[int, int] | None = None,
    images: Sequence[Any] | None = None,
    index: int = 0,
    model: str | ModelSpec | None = None,
    high_res: bool = False,
    max_pixels: int | None = None,
    downscale: bool = True,
    coordinates: GroundingCoordinates | None = None,
    where: str = "the response",
) -> ImageGeometry:
    """The geometry an adapter maps to: explicit `geometry`, else `image` / `size` (with `model`),
    else entry `index` of the `qwen_vl_images` metadata (`images`: one `ImageGeometry.to_dict()` per
    image of the request, in order, None for a remote URL); a clear error when none is there."""
    found: ImageGeometry
    if geometry is not None:
        found = geometry if isinstance(geometry, ImageGeometry) else ImageGeometry.from_dict(geometry)
    elif image is not None or size is not None:
        if model is None:
            raise GroundingError(
                f"No model name in {where} to compute the image's resize from; pass model='...' (the model you asked)."
            )
        found = image_geometry(
            image, size=size, model=model, high_res=high_res, max_pixels=max_pixels, downscale=downscale
        )
    elif images:
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < len(images):
            raise GroundingError(
                f"{where} carries {len(images)} image(s) in 'qwen_vl_images'; index {index!r} is not one of them."
            )
        if images[index] is None:  # a remote URL image: its entry keeps the places of the others
            raise GroundingError(
                f"Image {index} of the request is a remote URL, which is never downloaded, so its size is unknown: "
                "pass the image itself (image=path, bytes or PIL image) or its size (size=(width, height))."
            )
        found = ImageGeometry.from_dict(images[index])
    else:
        raise GroundingError(
            f"No image size to map the boxes to: {where} carries no 'qwen_vl_images' metadata (remote URL images "
            "are never downloaded, so their size is unknown). Pass the image you sent (image=path, bytes or PIL "
            "image), its size (size=(width, height)), or geometry=image_geometry(...)."
        )
    return replace(found, coordinates=coordinates) if coordinates is not None else found


def _clamp(value: float, limit: float) -> tuple[float, bool]:
    clamped = min(max(value, 0.0), limit)
    return clamped, clamped != value


def map_to_image(
    result: GroundingResult, geometry: ImageGeometry, *, coordinates: GroundingCoordinates | None = None
) -> GroundingResult:
    """The result with every box and point in pixels of the original image; out-of-range values are
    clamped (flagged `clamped`), swapped corners put in order (flagged `reordered`)."""
    if result.geometry is not None:
        raise GroundingError(
            "This result is already mapped to an image; map the parsed answer (geometry None) instead."
        )
    mode = coordinates or geometry.coordinates
    if mode is None:
        raise GroundingError(
            "This model's coordinate convention is unknown (it is not in the catalog), and it is not guessed: pass "
            "coordinates='relative' (Qwen3-VL and later: a 0-1000 grid) or coordinates='absolute' (Qwen2.5-VL-era "
            "models such as QVQ: pixels of the image as the server resized it)."
        )
    if mode not in _MODES:
        raise GroundingError(f"coordinates must be 'relative' or 'absolute', got {mode!r}")
    if geometry.sent_orientation != 1:
        raise GroundingError(
            f"The image was sent with EXIF orientation {geometry.sent_orientation} (stored rotated or mirrored) and "
            "not re-encoded upright, so whether the model saw it turned is unknown (the server's EXIF handling is "
            "not documented). Send it upright: keep downscale_images on with Pillow installed (the library then "
            "re-encodes it), or turn it yourself (PIL.ImageOps.exif_transpose)."
        )
    if mode == "relative":
        limit_x = limit_y = float(RELATIVE_GRID)
    else:
        limit_x, limit_y = float(geometry.model_width), float(geometry.model_height)
    w, h = geometry.width, geometry.height

    boxes: list[Box] = []
    for box in result.boxes:
        (x1, c1), (y1, c2), (x2, c3), (y2, c4) = (
            _clamp(v, lim) for v, lim in zip(box.raw, (limit_x, limit_y) * 2, strict=True)
        )
        reordered = x1 > x2 or y1 > y2
        x1, x2 = min(x1, x2), max(x1, x2)
        y1, y2 = min(y1, y2), max(y1, y2)
        boxes.append(
            replace(
                box,
                x1=x1 * w / limit_x,
                y1=y1 * h / limit_y,
                x2=x2 * w / limit_x,
                y2=y2 * h / limit_y,
                clamped=c1 or c2 or c3 or c4,
                reordered=reordered,
            )
        )
    points: list[Point] = []
    for point in result.points:
        (x, cx), (y, cy) = _clamp(point.raw[0], limit_x), _clamp(point.raw[1], limit_y)
        points.append(replace(point, x=x * w / limit_x, y=y * h / limit_y, clamped=cx or cy))
    return replace(result, boxes=tuple(boxes), points=tuple(points), geometry=replace(geometry, coordinates=mode))
