"""`ModelSpec`: what the library knows about one model family, and what it does not.

Every capability or limit is either a sourced fact or None, "unknown". Unknown is read safely
everywhere: nothing is refused locally on an unknown (the server judges), and nothing the model
might use is thrown away (no image is downscaled below the high-resolution budget). See
`qwen_vl_core.policies` for what each unknown means for a request.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["GroundingCoordinates", "ModelSpec", "ThinkingKind"]

ThinkingKind = Literal["hybrid", "only", "none"]
GroundingCoordinates = Literal["relative", "absolute"]

_FALLBACK_PIXELS = 16384 * 32 * 32
"""The largest documented image budget (16,384 tokens of 32 px): what an unknown budget sizes to."""


@dataclass(frozen=True)
class ModelSpec:
    """Capabilities and limits of one model family (None: no source gives it)."""

    name: str
    """The name as given by the caller (the family name for catalog entries)."""
    family: str
    """The catalog family the name resolved to (`"unknown"` when it did not)."""
    thinking: ThinkingKind
    """`hybrid`: `enable_thinking` toggles reasoning; `only`: always reasons; `none`: never does."""
    thinking_default: bool | None
    """Whether the model reasons when `enable_thinking` is not sent (None: unknown)."""
    stream_only: bool
    """The API rejects non-streaming requests (QVQ)."""
    supports_tools: bool | None
    supports_json_mode: bool | None
    """JSON mode / structured output (never in thinking mode)."""
    supports_thinking_budget: bool | None
    supports_preserve_thinking: bool | None
    """Takes `preserve_thinking` (earlier turns' reasoning sent back and read)."""
    context_window: int | None
    max_input_tokens: int | None
    """Maximum input in thinking mode (the smaller limit where the modes differ)."""
    max_input_tokens_non_thinking: int | None
    max_output_tokens: int | None
    max_reasoning_tokens: int | None
    """Maximum chain-of-thought length, also the largest accepted `thinking_budget`."""
    pixel_unit: int
    """Side of one vision token in pixels: 32 for Qwen3-VL and later, 28 for QVQ."""
    default_max_pixels: int | None
    """The per-image pixel budget without `vl_high_resolution_images` (None: unknown)."""
    high_res_max_pixels: int | None
    grounding: GroundingCoordinates | None = None
    """How boxes and points in answers are expressed: `relative` on a 0-1000 grid of the image, or
    `absolute` pixels of the image as the server resized it; None when no source says."""
    regions: frozenset[str] | None = None
    """Regions the docs say serve it (None: unknown); informational, never used to refuse a call."""
    known: bool = True
    """False for a name the catalog does not know (the unknown spec)."""

    @property
    def thinking_only(self) -> bool:
        return self.thinking == "only"

    def thinking_enabled(self, enable_thinking: bool | None) -> bool | None:
        """Whether a request with this `enable_thinking` value runs in thinking mode (None: unknown)."""
        if self.thinking == "only":
            return True
        if self.thinking == "none":
            return False
        return self.thinking_default if enable_thinking is None else enable_thinking

    def input_limit(self, thinking: bool | None) -> int | None:
        """The maximum input for a request in that mode (the smaller one when the mode is unknown)."""
        if thinking is False and self.max_input_tokens_non_thinking is not None:
            return self.max_input_tokens_non_thinking
        return self.max_input_tokens

    @property
    def sizing_max_pixels(self) -> int:
        """The budget images are downscaled to: the default, or the largest one when it is unknown."""
        return self.default_max_pixels or self.high_res_max_pixels or _FALLBACK_PIXELS

    @property
    def sizing_high_res_pixels(self) -> int:
        return self.high_res_max_pixels or _FALLBACK_PIXELS
