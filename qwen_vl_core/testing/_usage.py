"""Prompt token counts for the emulator's automatic usage: text, images and videos.

Text is ~4 characters a token plus one. Images and videos follow the service's documented rules,
the same ones the library estimates with (`qwen_vl_core.tokens.smart_resize`, +2 tokens an image,
frames merged in pairs), but with the pixel unit and budgets of the emulator's own fact table:

- an image is fitted into [4, cap] tokens, where cap is the model's default cap or the item's
  `max_pixels` (the larger, never above the high-resolution cap), or the high-resolution cap alone
  with `vl_high_resolution_images`; it costs h*w/unit^2 + 2 tokens;
- a video costs (frames // 2) * (h/unit) * (w/unit) + 2 tokens, each frame fitted into 128-768
  tokens (qwen-vl-utils' VIDEO_MIN/MAX_TOKEN_NUM, protocol fact sheet section 5.3), the frame count
  made even; a frame list counts its frames; a video file is sampled at `fps` (default 2.0) and
  clamped to 4-768 frames (qwen-vl-utils FPS_MIN/MAX_FRAMES).

Sizes come from the header of an inline base64 data URL (the first 96 KiB decoded, nothing more).
The emulator fetches nothing, so remote URLs and undecodable data are assumed to be
`ASSUMED_IMAGE_SIZE` pixels, and a video file `ASSUMED_VIDEO_SECONDS` long. A model whose pixel
facts are unknown is counted with Qwen3-VL's (an assumption for the numbers only; no rule uses it).
An image beyond the 200:1 ratio counts the 4-token minimum.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from qwen_vl_core.imaging import image_size
from qwen_vl_core.testing._facts import ModelFacts
from qwen_vl_core.tokens import smart_resize

__all__ = ["ASSUMED_IMAGE_SIZE", "ASSUMED_VIDEO_SECONDS", "PromptTokens", "Visual", "count_prompt"]

ASSUMED_IMAGE_SIZE = (1024, 1024)
"""(width, height) assumed for an image (or video frame) whose size the emulator cannot read."""
ASSUMED_VIDEO_SECONDS = 10.0
"""Duration assumed for a video file (the emulator never decodes video)."""

_HEADER_CHARS = 131_072  # base64 characters decoded for a size: 96 KiB covers EXIF-heavy JPEG headers
_MIN_IMAGE_TOKENS = 4  # VISION page: at least 4 tokens an image
_FRAME_MIN_TOKENS, _FRAME_MAX_TOKENS = 128, 768  # qwen-vl-utils VIDEO_MIN_TOKEN_NUM / VIDEO_MAX_TOKEN_NUM
_MIN_FRAMES, _MAX_FRAMES = 4, 768  # qwen-vl-utils FPS_MIN_FRAMES / FPS_MAX_FRAMES
_DEFAULT_FPS = 2.0  # protocol fact sheet section 2.3: DashScope fps default 2.0, range (0.1, 10)


@dataclass(frozen=True)
class _Pixels:
    unit: int
    default: int
    high: int


_ASSUMED_PIXELS = _Pixels(32, 2560 * 32 * 32, 16384 * 32 * 32)  # Qwen3-VL's (VISION page), for unknown facts


def _pixels(facts: ModelFacts | None) -> _Pixels:
    if facts is None:
        return _ASSUMED_PIXELS
    unit, default, high = facts.pixel_unit, facts.default_max_pixels, facts.high_res_max_pixels
    if unit is None or default is None or high is None:
        return _ASSUMED_PIXELS
    return _Pixels(unit, default, high)


@dataclass(frozen=True)
class Visual:
    """One image or video item of a request."""

    kind: Literal["image", "video"]
    urls: tuple[str, ...]
    """One URL for an image or a video file; the frames of a frame list."""
    frame_list: bool = False
    max_pixels: Any = None
    fps: Any = None


@dataclass(frozen=True)
class PromptTokens:
    text: int
    image: int
    video: int

    @property
    def total(self) -> int:
        return self.text + self.image + self.video


def _data_url_size(url: str) -> tuple[int, int] | None:
    comma = url.find(",", 0, 256)
    if comma < 0 or ";base64" not in url[:comma].lower():
        return None
    head = url[comma + 1 : comma + 1 + _HEADER_CHARS]
    try:
        data = base64.b64decode(head[: len(head) // 4 * 4])
    except (binascii.Error, ValueError):
        return None
    return image_size(data)


def _size(url: str) -> tuple[int, int]:
    size = _data_url_size(url) if url[:5].lower() == "data:" else None
    return size if size is not None and min(size) > 0 else ASSUMED_IMAGE_SIZE


def _grid(size: tuple[int, int], unit: int, min_pixels: int, max_pixels: int) -> tuple[int, int] | None:
    width, height = size
    try:
        h_bar, w_bar = smart_resize(height, width, unit, min_pixels, max_pixels)
    except ValueError:  # over the 200:1 ratio
        return None
    return h_bar // unit, w_bar // unit


def _image_tokens(visual: Visual, pixels: _Pixels, high_res: bool) -> int:
    unit, requested = pixels.unit, visual.max_pixels
    if isinstance(requested, bool) or not isinstance(requested, int):
        requested = 0
    cap = pixels.high if high_res else min(max(pixels.default, requested), pixels.high)
    grid = _grid(_size(visual.urls[0]), unit, _MIN_IMAGE_TOKENS * unit * unit, cap)
    return (grid[0] * grid[1] if grid else _MIN_IMAGE_TOKENS) + 2


def _frames(visual: Visual) -> int:
    if visual.frame_list:
        return len(visual.urls)
    fps = visual.fps
    if isinstance(fps, bool) or not isinstance(fps, int | float) or not 0.1 < fps < 10:
        fps = _DEFAULT_FPS
    return min(max(int(ASSUMED_VIDEO_SECONDS * fps), _MIN_FRAMES), _MAX_FRAMES)


def _video_tokens(visual: Visual, pixels: _Pixels) -> int:
    unit = pixels.unit
    frames = _frames(visual)
    frames = max(frames - frames % 2, 2)
    size = _size(visual.urls[0]) if visual.frame_list else ASSUMED_IMAGE_SIZE
    grid = _grid(size, unit, _FRAME_MIN_TOKENS * unit * unit, _FRAME_MAX_TOKENS * unit * unit)
    per_frame = grid[0] * grid[1] if grid else _FRAME_MIN_TOKENS
    return (frames // 2) * per_frame + 2


def count_prompt(
    texts: Sequence[str], visuals: Sequence[Visual], facts: ModelFacts | None, params: Mapping[str, Any]
) -> PromptTokens:
    """Token counts of one request's input, in the emulator's deterministic approximation."""
    text = sum(len(t) for t in texts) // 4 + 1
    if not visuals:
        return PromptTokens(text, 0, 0)
    pixels = _pixels(facts)
    high_res = params.get("vl_high_resolution_images") is True
    image = sum(_image_tokens(v, pixels, high_res) for v in visuals if v.kind == "image" and v.urls)
    video = sum(_video_tokens(v, pixels) for v in visuals if v.kind == "video" and v.urls)
    return PromptTokens(text, image, video)
