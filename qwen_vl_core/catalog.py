"""Model catalog: one frozen `ModelSpec` per model family, as data.

Facts come from the Model Studio visual-reasoning guide and the protocol fact sheet (section 6).
Dated (`-2025-09-23`), `-latest` and `-us` names resolve to their family. An unknown name gets a
permissive spec (nothing is rejected locally) and one `UnknownModelWarning`.
"""

from __future__ import annotations

import functools
import re
import warnings
from dataclasses import dataclass, replace
from typing import Literal

__all__ = [
    "KNOWN_MODELS",
    "GroundingCoordinates",
    "ModelSpec",
    "ThinkingKind",
    "UnknownModelWarning",
    "get_spec",
    "list_specs",
]

ThinkingKind = Literal["hybrid", "only"]
GroundingCoordinates = Literal["relative", "absolute"]


class UnknownModelWarning(UserWarning):
    """A model name the catalog does not know; the permissive default spec is used."""


@dataclass(frozen=True)
class ModelSpec:
    """Capabilities and limits of one model family."""

    name: str
    """The name as given by the caller (the family name for catalog entries)."""
    family: str
    """The catalog family the name resolved to (`"unknown"` when it did not)."""
    thinking: ThinkingKind
    """`hybrid`: `enable_thinking` toggles reasoning; `only`: the model always reasons."""
    thinking_default: bool
    """Whether the model reasons when `enable_thinking` is not sent."""
    stream_only: bool
    """The API rejects non-streaming requests (QVQ)."""
    supports_tools: bool
    supports_json_mode: bool
    """JSON mode / structured output (never in thinking mode)."""
    supports_thinking_budget: bool
    context_window: int
    max_input_tokens: int
    max_output_tokens: int
    max_reasoning_tokens: int | None
    """Maximum chain-of-thought length, also the largest accepted `thinking_budget`."""
    pixel_unit: int
    """Side of one vision token in pixels: 32 for Qwen3-VL, 28 for QVQ."""
    default_max_pixels: int
    high_res_max_pixels: int
    grounding: GroundingCoordinates | None = None
    """How boxes and points in answers are expressed: `relative` on a 0-1000 grid of the image, or
    `absolute` pixels of the image as the server resized it; None when no source says."""
    known: bool = True

    @property
    def thinking_only(self) -> bool:
        return self.thinking == "only"

    def thinking_enabled(self, enable_thinking: bool | None) -> bool:
        """Whether a request with this `enable_thinking` value runs in thinking mode."""
        if self.thinking == "only":
            return True
        return self.thinking_default if enable_thinking is None else enable_thinking


_QWEN3_VL = ModelSpec(
    name="qwen3-vl-plus",
    family="qwen3-vl-plus",
    thinking="hybrid",
    thinking_default=False,
    stream_only=False,
    supports_tools=True,
    supports_json_mode=True,
    supports_thinking_budget=True,
    context_window=262_144,
    max_input_tokens=258_048,
    max_output_tokens=32_768,
    max_reasoning_tokens=81_920,
    pixel_unit=32,
    default_max_pixels=2560 * 32 * 32,  # 2,560 tokens
    high_res_max_pixels=16384 * 32 * 32,  # 16,384 tokens
    # Relative 0-1000 grid: QwenLM/Qwen3-VL README and cookbooks/spatial_understanding.ipynb.
    grounding="relative",
)


def _qwen3_vl_hybrid(name: str) -> ModelSpec:
    return replace(_QWEN3_VL, name=name, family=name)


def _qwen3_vl_thinking(name: str) -> ModelSpec:
    # The open-weight thinking models: smaller context, always think, no JSON mode (thinking forbids it).
    return replace(
        _QWEN3_VL,
        name=name,
        family=name,
        thinking="only",
        thinking_default=True,
        supports_json_mode=False,
        context_window=131_072,
        max_input_tokens=126_976,
    )


def _qvq(name: str) -> ModelSpec:
    # Qwen2.5-VL based: 28-px tokens, 1,280-token default budget, streaming only, no tools.
    return replace(
        _qwen3_vl_thinking(name),
        stream_only=True,
        supports_tools=False,
        supports_thinking_budget=False,
        max_input_tokens=106_496,
        max_output_tokens=8_192,
        max_reasoning_tokens=16_384,
        pixel_unit=28,
        default_max_pixels=1280 * 28 * 28,
        high_res_max_pixels=16384 * 28 * 28,
        # Qwen2.5-VL era: absolute pixels of the image as the server resized it (maintainer answer,
        # QwenLM/Qwen3-VL#676).
        grounding="absolute",
    )


_FAMILIES: dict[str, ModelSpec] = {
    spec.family: spec
    for spec in (
        _qwen3_vl_hybrid("qwen3-vl-plus"),
        _qwen3_vl_hybrid("qwen3-vl-flash"),
        _qwen3_vl_thinking("qwen3-vl-235b-a22b-thinking"),
        _qwen3_vl_thinking("qwen3-vl-32b-thinking"),
        _qwen3_vl_thinking("qwen3-vl-30b-a3b-thinking"),
        _qwen3_vl_thinking("qwen3-vl-8b-thinking"),
        _qvq("qvq-max"),
        _qvq("qvq-plus"),
    )
}

KNOWN_MODELS: tuple[str, ...] = (
    "qwen3-vl-plus",
    "qwen3-vl-plus-2025-09-23",
    "qwen3-vl-plus-2025-12-19",
    "qwen3-vl-flash",
    "qwen3-vl-flash-2025-10-15",
    "qwen3-vl-flash-us",
    "qwen3-vl-flash-2025-10-15-us",
    "qwen3-vl-235b-a22b-thinking",
    "qwen3-vl-32b-thinking",
    "qwen3-vl-30b-a3b-thinking",
    "qwen3-vl-8b-thinking",
    "qvq-max",
    "qvq-max-latest",
    "qvq-max-2025-03-25",
    "qvq-max-2025-05-15",
    "qvq-plus",
    "qvq-plus-latest",
    "qvq-plus-2025-05-15",
)
"""Every model name the Model Studio visual-reasoning guide lists."""

_SUFFIX = re.compile(r"(?:-latest|-\d{4}-\d{2}-\d{2})?(?:-us)?$")

_PERMISSIVE = replace(
    _QWEN3_VL,
    name="",
    family="unknown",
    max_input_tokens=262_144,
    max_reasoning_tokens=None,  # no local budget check: the server decides
    grounding=None,
    known=False,
)


def _family_of(name: str) -> str | None:
    # Self-hosted servers use Hugging Face ids ("Qwen/Qwen3-VL-8B-Thinking"); the part after "/" counts.
    lowered = name.strip().lower().rsplit("/", 1)[-1]
    if lowered in _FAMILIES:
        return lowered
    stripped = _SUFFIX.sub("", lowered, count=1)
    return stripped if stripped in _FAMILIES else None


@functools.lru_cache(maxsize=512)
def _lookup(name: str) -> ModelSpec:
    family = _family_of(name)
    if family is None:
        return replace(_PERMISSIVE, name=name)
    spec = _FAMILIES[family]
    return spec if spec.name == name else replace(spec, name=name)


@functools.lru_cache(maxsize=512)
def _warn_unknown(name: str) -> None:
    warnings.warn(
        f"Model {name!r} is not in the qwen-vl catalog; no capability checks are applied "
        "(thinking, streaming-only, tool and JSON-mode rules are left to the server).",
        UnknownModelWarning,
        stacklevel=4,
    )


def get_spec(name: str, *, warn: bool = True) -> ModelSpec:
    """The spec for a model name; an unknown name gets a permissive spec and, once, a warning."""
    spec = _lookup(name)
    if warn and not spec.known:
        _warn_unknown(name)
    return spec


def list_specs() -> list[ModelSpec]:
    """Specs for every model name the guide lists, in catalog order."""
    return [get_spec(name) for name in KNOWN_MODELS]
