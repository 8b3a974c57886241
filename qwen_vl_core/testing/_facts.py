"""The emulator's own per-model facts, kept apart from the library's catalog on purpose.

The emulator must not read `qwen_vl_core.catalog`: a wrong catalog fact would then be wrong on both
sides of every test and pass. Each fact below carries the page it comes from; a fact no source
gives is None, and the rule that would need it is not applied (the request is accepted). Names are
exact, case-sensitive Model Studio model ids: dated snapshots and `-latest` names only where a page
lists them. `DashScopeEmulator(models={...})` / `register_model` add names for a test.

Sources (cited below by their short name):

- SEED: the Japanese "visual reasoning" guide, https://www.alibabacloud.com/help/ja/model-studio/visual-reasoning
  (copy in shared/seed/): model lists per region, hybrid vs thinking-only, QVQ streaming only.
- VR_2026: https://www.alibabacloud.com/help/en/model-studio/visual-reasoning (2026-03): adds Qwen3.5;
  "false (default for qwen3-vl-plus, qwen3-vl-flash series)"; "Qwen3.5, Qwen3-VL, and kimi-k2.5
  support both streaming and non-streaming methods. The QVQ series supports only streaming output."
- VR_ALIYUN: https://help.aliyun.com/en/model-studio/visual-reasoning (2026): lists the Qwen3.7,
  Qwen3.6 and Qwen3.5 names and snapshots; enable_thinking true is the "default for Qwen3.6 and
  Qwen3.5 series".
- QVQ_PAGE: https://www.alibabacloud.com/help/en/model-studio/qvq: context 131,072, max input
  106,496, max CoT 16,384, 28x28 pixels a token, 1,280 tokens an image by default.
- VISION: https://www.alibabacloud.com/help/en/model-studio/vision token table (protocol fact sheet
  section 5.1): Qwen3-VL 32x32 pixels a token, 2,560 tokens (2,621,440 px) by default, 16,384 tokens
  with `vl_high_resolution_images`; QVQ 28x28, 1,280 tokens (1,003,520 px), 16,384 tokens
  (12,845,056 px). Its qwen3-vl-plus thinking example: max input 258,048.
- QC_VISION: https://docs.qwencloud.com/developer-guides/multimodal/vision: feature table "Qwen3.6/3.5
  series: tool calling Support, structured output Supported in non-thinking mode"; 1M context for
  Qwen3.5 / Qwen3.6 (shared/docs/models-2026.md).
- VL_COMPAT: https://www.alibabacloud.com/help/en/model-studio/qwen-vl-compatible-with-openai: the
  Qwen3-VL instruct (non-thinking) model names.
- CARDS [2nd]: Beijing model cards mirrored at
  http://47.109.151.80:15030/Maas2-group/Maas-Model-platform/raw/master/backend/parsed_json/ (qwen3-vl-plus.json,
  qwen3-vl-flash.json, qwen3-vl-32b-thinking.json): K-rounded limits (252K = 258,048 ...),
  function_calling, max_thinking_length 80K = 81,920.
- QWEN35_BLOG: https://www.alibabacloud.com/blog/qwen3-5-towards-native-multimodal-agents_602894:
  Qwen3.5-Plus "a 1M context window by default".
- DEEP_THINKING: https://www.alibabacloud.com/help/en/model-studio/deep-thinking (2026-09-02): lists
  qwen3.7-flash, qwen3.7-flash-2026-07-15 and qwen3.7-plus-us among the hybrid models that think by
  default ("enable_thinking ... defaults to true" for the Qwen3.5 and later series).
- CAPTURE_36: shared/wire-samples/cnblogs-native-qwen3.6-plus-thinking-websearch-multimodal-endpoint-nonstream.json:
  a non-streaming qwen3.6-plus call with thinking on (its default) answered with reasoning.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Any, Literal

__all__ = ["MODEL_FACTS", "ModelFacts", "ThinkingKind", "active_table", "lookup"]

ThinkingKind = Literal["hybrid", "only", "none"]


@dataclass(frozen=True)
class ModelFacts:
    """What the emulator knows about one model name; None everywhere means "unknown, do not check".

    `ModelFacts()` makes a name known (no model-not-found) without any model rule.
    """

    thinking: ThinkingKind | None = None
    """`hybrid`: `enable_thinking` toggles; `only`: always thinks (false is refused); `none`: true is refused."""
    thinking_default: bool | None = None
    """Whether a hybrid model thinks when `enable_thinking` is not sent."""
    stream_only: bool | None = None
    """Non-streaming requests are refused (QVQ)."""
    non_stream_thinking_refused: bool | None = None
    """Non-streaming requests in thinking mode are refused (`parameter.enable_thinking must be set to false ...`)."""
    max_thinking_budget: int | None = None
    """The largest accepted `thinking_budget` (the model's maximum chain of thought)."""
    tools: bool | None = None
    """Whether `tools` are accepted; False refuses them with `The tool call is not supported.`."""
    json_mode: bool | None = None
    """Whether JSON mode exists (non-thinking only). Recorded, not enforced: no capture shows the refusal."""
    context_window: int | None = None
    """Recorded, not enforced: the server's input check names `max_input_tokens`, which is smaller."""
    max_input_tokens: int | None = None
    """Longest accepted input (thinking mode, or every mode when the next field is None)."""
    max_input_tokens_non_thinking: int | None = None
    """Longest accepted input in non-thinking mode, where it differs."""
    pixel_unit: int | None = None
    """Side of one vision token in pixels (32 Qwen3-VL, 28 QVQ); usage counting only."""
    default_max_pixels: int | None = None
    high_res_max_pixels: int | None = None
    """Pixel caps of one image without / with `vl_high_resolution_images`; usage counting only."""

    def thinking_mode(self, enable_thinking: Any) -> bool | None:
        """Whether a request with this `enable_thinking` value runs in thinking mode; None when unknown."""
        if self.thinking == "only":
            return True
        if self.thinking == "none":
            return False
        if self.thinking == "hybrid":
            return enable_thinking if isinstance(enable_thinking, bool) else self.thinking_default
        return None

    def input_limit(self, thinking: bool | None) -> int | None:
        """The input cap for this mode; the larger one when the mode is unknown (refuse only the certain)."""
        other = self.max_input_tokens_non_thinking
        if other is None or self.max_input_tokens is None:
            return self.max_input_tokens
        if thinking is None:
            return max(self.max_input_tokens, other)
        return self.max_input_tokens if thinking else other


_QWEN3_VL_PIXELS = ModelFacts(
    pixel_unit=32,  # VISION: 32x32 pixels a token for Qwen3-VL
    default_max_pixels=2560 * 32 * 32,  # VISION: 2,560 tokens = 2,621,440 px by default
    high_res_max_pixels=16384 * 32 * 32,  # VISION: 16,384 tokens = 16,777,216 px with vl_high_resolution_images
)

_QVQ_PIXELS = ModelFacts(
    pixel_unit=28,  # QVQ_PAGE and VISION: 28x28 pixels a token
    default_max_pixels=1280 * 28 * 28,  # QVQ_PAGE: 1,280 tokens an image by default = 1,003,520 px
    high_res_max_pixels=16384 * 28 * 28,  # VISION: 16,384 tokens = 12,845,056 px
)

_QWEN3_VL_HYBRID = replace(
    _QWEN3_VL_PIXELS,
    thinking="hybrid",  # SEED: hybrid-thinking models
    thinking_default=False,  # VR_2026: false is the default for the qwen3-vl-plus / qwen3-vl-flash series
    stream_only=False,  # VR_2026: Qwen3-VL supports both streaming and non-streaming
    non_stream_thinking_refused=False,  # VR_2026: the same sentence, thinking included
    max_thinking_budget=81_920,  # CARDS: max_thinking_length 80K; SEED examples send 81920
    tools=True,  # CARDS: function_calling true
    json_mode=True,  # CARDS: structured_output true (non-thinking mode only)
    context_window=262_144,  # CARDS: context_length 256K
    max_input_tokens=258_048,  # VISION: qwen3-vl-plus thinking max input 258,048; CARDS 252K
    max_input_tokens_non_thinking=260_096,  # CARDS: max_input_length 254K
)

# VR_2026 says Qwen3-VL supports both streaming and non-streaming; a 2026 skill digest [2nd] calls
# the 235b and 32b thinking models "Streaming only". The official page wins.
_QWEN3_VL_THINKING = replace(
    _QWEN3_VL_PIXELS,
    thinking="only",  # SEED: thinking-only models
    stream_only=False,  # VR_2026
    non_stream_thinking_refused=False,  # VR_2026
)

_QWEN3_VL_INSTRUCT = replace(_QWEN3_VL_PIXELS, thinking="none")  # VL_COMPAT: instruct models, no thinking

_QVQ = replace(
    _QVQ_PIXELS,
    thinking="only",  # SEED: QVQ thinking-only
    stream_only=True,  # SEED and QVQ_PAGE: streaming output only
    context_window=131_072,  # QVQ_PAGE (qvq-max); protocol fact sheet section 6 [2nd] for qvq-plus
)

_QVQ_MAX = replace(
    _QVQ,
    max_thinking_budget=16_384,  # QVQ_PAGE: maximum CoT 16,384
    max_input_tokens=106_496,  # QVQ_PAGE: maximum input 106,496
)

_NEW_HYBRID = ModelFacts(
    thinking="hybrid",  # VR_ALIYUN / VR_2026: hybrid-thinking models
    thinking_default=True,  # VR_ALIYUN: thinking is the default for the Qwen3.6 and Qwen3.5 series
    tools=True,  # QC_VISION: Qwen3.6/3.5 series tool calling
    json_mode=True,  # QC_VISION: structured output in non-thinking mode
)

_QWEN35 = replace(
    _NEW_HYBRID,
    stream_only=False,  # VR_2026: Qwen3.5 supports both streaming and non-streaming
    non_stream_thinking_refused=False,  # VR_2026: the same sentence
)

_ONE_MILLION = 1_000_000  # QC_VISION / models-2026.md: Qwen3.5 and Qwen3.6 context is 1M; QWEN35_BLOG for 3.5-plus

_QWEN36_PLUS = replace(
    _NEW_HYBRID,
    stream_only=False,  # CAPTURE_36: a non-streaming call answered
    non_stream_thinking_refused=False,  # CAPTURE_36: thinking on (default) and non-streaming, answered
    context_window=_ONE_MILLION,
)

_QWEN37 = ModelFacts(
    thinking="hybrid",  # VR_ALIYUN: Qwen3.7 hybrid-thinking models (its default is not stated there)
    tools=True,  # can1357/oh-my-pi#886 (2026-06 comment): qwen3.7-plus called with tools
)


def _names(facts: ModelFacts, *names: str) -> dict[str, ModelFacts]:
    return dict.fromkeys(names, facts)


MODEL_FACTS: Mapping[str, ModelFacts] = MappingProxyType(
    {
        # Qwen3-VL hybrid: SEED (all regions) and VR_2026; -us names: SEED, US deployment mode.
        **_names(
            _QWEN3_VL_HYBRID,
            "qwen3-vl-plus",
            "qwen3-vl-plus-2025-09-23",
            "qwen3-vl-plus-2025-12-19",
            "qwen3-vl-flash",
            "qwen3-vl-flash-2025-10-15",
            "qwen3-vl-flash-us",
            "qwen3-vl-flash-2025-10-15-us",
        ),
        # Qwen3-VL thinking-only (open weights): SEED.
        "qwen3-vl-235b-a22b-thinking": replace(
            _QWEN3_VL_THINKING,
            context_window=131_072,  # [2nd] vercel.com/ai-gateway/models/qwen3-vl-thinking: 131.1K
        ),
        "qwen3-vl-32b-thinking": replace(
            _QWEN3_VL_THINKING,
            max_thinking_budget=81_920,  # CARDS (qwen3-vl-32b-thinking.json): max_thinking_length 80K
            tools=True,  # CARDS: function_calling true
            context_window=131_072,  # CARDS: context_length 128K
            max_input_tokens=126_976,  # CARDS: max_input_length 124K
        ),
        "qwen3-vl-30b-a3b-thinking": replace(
            _QWEN3_VL_THINKING,
            context_window=131_072,  # [2nd] haimaker.ai/models/qwen/qwen3-vl-30b-a3b-thinking: 131,072
        ),
        "qwen3-vl-8b-thinking": _QWEN3_VL_THINKING,
        # Qwen3-VL instruct (non-thinking): VL_COMPAT.
        **_names(
            _QWEN3_VL_INSTRUCT,
            "qwen3-vl-235b-a22b-instruct",
            "qwen3-vl-32b-instruct",
            "qwen3-vl-30b-a3b-instruct",
            "qwen3-vl-8b-instruct",
        ),
        # QVQ: SEED names the series; the dated and -latest names are the protocol fact sheet's
        # section 6 list (QVQ_PAGE: qvq-max, qvq-max-latest, qvq-max-2025-03-25).
        **_names(_QVQ_MAX, "qvq-max", "qvq-max-latest", "qvq-max-2025-03-25", "qvq-max-2025-05-15"),
        **_names(_QVQ, "qvq-plus", "qvq-plus-latest", "qvq-plus-2025-05-15"),
        # Qwen3.5: VR_ALIYUN / VR_2026 names.
        **_names(
            replace(_QWEN35, context_window=_ONE_MILLION),
            "qwen3.5-plus",
            "qwen3.5-plus-2026-02-15",
            "qwen3.5-flash",
            "qwen3.5-flash-2026-02-23",
        ),
        **_names(_QWEN35, "qwen3.5-397b-a17b", "qwen3.5-122b-a10b", "qwen3.5-27b", "qwen3.5-35b-a3b"),
        # Qwen3.6: VR_ALIYUN names.
        **_names(_QWEN36_PLUS, "qwen3.6-plus", "qwen3.6-plus-2026-04-02"),
        **_names(replace(_NEW_HYBRID, context_window=_ONE_MILLION), "qwen3.6-flash", "qwen3.6-flash-2026-04-16"),
        "qwen3.6-35b-a3b": _NEW_HYBRID,
        # Qwen3.7: VR_ALIYUN names.
        **_names(_QWEN37, "qwen3.7-plus", "qwen3.7-plus-2026-05-26", "qwen3.7-plus-us"),  # -us: DEEP_THINKING
        **_names(
            ModelFacts(thinking="hybrid", thinking_default=True),  # DEEP_THINKING
            "qwen3.7-flash",
            "qwen3.7-flash-2026-07-15",
        ),
    }
)
"""Every model name the emulator knows by default, with its sourced facts."""

active_table: ContextVar[Mapping[str, ModelFacts]] = ContextVar("qwen_vl_emulator_models", default=MODEL_FACTS)
"""The table requests are checked against; the server sets it to its own (registered names included)
around each request, so code that builds views without an emulator at hand (the Batch API) sees it too."""


def lookup(name: str) -> ModelFacts | None:
    """The facts for an exact model name in the active table; None for a name the server does not know."""
    return active_table.get().get(name)
