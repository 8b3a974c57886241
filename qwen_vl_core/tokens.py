"""Vision token arithmetic, exactly as Model Studio documents it (protocol fact sheet section 5).

`smart_resize` is the service's own rounding (also in the open-source `qwen-vl-utils`): sides are
rounded to the model's pixel unit (32 for Qwen3-VL, 28 for QVQ) and scaled into the pixel budget.
An image costs `(h * w) / unit**2 + 2` tokens (the +2 are the vision start/end tokens).
Billing is what `usage` reports; these are estimates made before anything is sent.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .catalog import ModelSpec, get_spec

__all__ = [
    "MAX_ASPECT_RATIO",
    "VIDEO_MAX_FRAMES",
    "VIDEO_MIN_FRAMES",
    "ImageBudget",
    "client_resize",
    "estimate_image_tokens",
    "estimate_text_tokens",
    "estimate_video_tokens",
    "image_budget",
    "smart_resize",
    "video_frame_budget",
]

MAX_ASPECT_RATIO = 200
MIN_IMAGE_TOKENS = 4
VIDEO_MIN_FRAMES = 4
VIDEO_MAX_FRAMES = 2000
"""Frame lists must hold 4 to 2,000 images (2026 vision guide)."""
_VIDEO_SAMPLED_FRAMES = 768  # qwen-vl-utils FPS_MAX_FRAMES: the most frames sampled from a video file
_VIDEO_FRAME_MIN_TOKENS, _VIDEO_FRAME_MAX_TOKENS = 128, 768


def smart_resize(height: int, width: int, factor: int, min_pixels: int, max_pixels: int) -> tuple[int, int]:
    """The (height, width) the service resizes an image to; ValueError beyond 200:1."""
    if min(height, width) <= 0:
        raise ValueError(f"image size must be positive, got {width}x{height}")
    if max(height, width) / min(height, width) > MAX_ASPECT_RATIO:
        raise ValueError(
            f"aspect ratio {max(height, width) / min(height, width):.0f}:1 of a {width}x{height} image is over "
            f"the API's limit of {MAX_ASPECT_RATIO}:1"
        )
    h_bar = max(factor, round(height / factor) * factor)
    w_bar = max(factor, round(width / factor) * factor)
    if h_bar * w_bar > max_pixels:
        beta = math.sqrt(height * width / max_pixels)
        h_bar = max(factor, math.floor(height / beta / factor) * factor)
        w_bar = max(factor, math.floor(width / beta / factor) * factor)
    elif h_bar * w_bar < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h_bar = math.ceil(height * beta / factor) * factor
        w_bar = math.ceil(width * beta / factor) * factor
    return h_bar, w_bar


@dataclass(frozen=True)
class ImageBudget:
    factor: int
    min_pixels: int
    max_pixels: int


def client_resize(height: int, width: int, budget: ImageBudget) -> tuple[int, int] | None:
    """The (height, width) the client downscales an image to, or None when it is sent at its size.

    None when it fits the budget, and also when the service's rounding would give a shape past the
    API's 200:1 limit (a 79x12703 image becomes 56x12684 on QVQ's 28-px grid): the server checks the
    shape of what it receives, so such an image goes as it is and the server resizes the original.
    """
    if width * height <= budget.max_pixels:
        return None
    h_bar, w_bar = smart_resize(height, width, budget.factor, budget.min_pixels, budget.max_pixels)
    if max(h_bar, w_bar) / min(h_bar, w_bar) > MAX_ASPECT_RATIO:
        return None
    return h_bar, w_bar


def _spec(model: str | ModelSpec) -> ModelSpec:
    return model if isinstance(model, ModelSpec) else get_spec(model)


def image_budget(model: str | ModelSpec, *, high_res: bool = False, max_pixels: int | None = None) -> ImageBudget:
    """The pixel range one image is fitted into.

    With `vl_high_resolution_images` the cap is 16,384 tokens and `max_pixels` is ignored; otherwise
    it is the larger of the default cap (2,560 tokens for Qwen3-VL, 1,280 for QVQ) and `max_pixels`,
    as the vision guide states. A budget no source gives is taken as the largest one, so nothing is
    thrown away that the model might use.
    """
    spec = _spec(model)
    factor = spec.pixel_unit
    if high_res:
        cap = spec.sizing_high_res_pixels
    else:
        cap = min(max(spec.sizing_max_pixels, max_pixels or 0), spec.sizing_high_res_pixels)
    return ImageBudget(factor, MIN_IMAGE_TOKENS * factor * factor, cap)


def video_frame_budget(model: str | ModelSpec) -> ImageBudget:
    """Per-frame pixel range for video (128 to 768 tokens a frame, as qwen-vl-utils samples)."""
    factor = _spec(model).pixel_unit
    return ImageBudget(factor, _VIDEO_FRAME_MIN_TOKENS * factor * factor, _VIDEO_FRAME_MAX_TOKENS * factor * factor)


def estimate_image_tokens(
    width: int,
    height: int,
    *,
    model: str | ModelSpec = "qwen3-vl-plus",
    high_res: bool = False,
    max_pixels: int | None = None,
) -> int:
    """Tokens one image of this size costs (example: 1024x406 on Qwen3-VL → 1024x416 → 418)."""
    budget = image_budget(model, high_res=high_res, max_pixels=max_pixels)
    h_bar, w_bar = smart_resize(height, width, budget.factor, budget.min_pixels, budget.max_pixels)
    return h_bar * w_bar // (budget.factor * budget.factor) + 2


def estimate_video_tokens(
    width: int,
    height: int,
    *,
    frames: int | None = None,
    duration: float | None = None,
    fps: float = 2.0,
    model: str | ModelSpec = "qwen3-vl-plus",
) -> int:
    """Tokens for a video: a frame list (`frames`) or a file of `duration` seconds sampled at `fps`.

    Frames are merged in pairs (FRAME_FACTOR 2) and each frame is fitted into 128-768 tokens; the
    service adds per-frame timestamps for Qwen3-VL, so treat this as a close lower bound.
    """
    if frames is None:
        if duration is None:
            raise ValueError("give either frames= (a frame list) or duration= (seconds of video)")
        frames = min(max(int(duration * fps), VIDEO_MIN_FRAMES), _VIDEO_SAMPLED_FRAMES)
    frames = max(frames - frames % 2, 2)
    budget = video_frame_budget(model)
    h_bar, w_bar = smart_resize(height, width, budget.factor, budget.min_pixels, budget.max_pixels)
    return (frames // 2) * (h_bar // budget.factor) * (w_bar // budget.factor) + 2


def estimate_text_tokens(text: str) -> int:
    """A deliberately low estimate (about 4 characters of English or 1.5 of Chinese a token)."""
    ascii_chars = sum(1 for ch in text if ord(ch) < 128)
    return ascii_chars // 4 + int((len(text) - ascii_chars) / 1.5)
