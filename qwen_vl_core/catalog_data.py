"""The model families, as data: every fact with the page it came from (`docs/models.md` is the table).

Sources (the numbers in the comments):
  [VR]  help.aliyun.com/{zh,en}/model-studio/visual-reasoning (2026-02 and current EN)
  [DT]  alibabacloud.com/help/en/model-studio/deep-thinking (Sep 2 2026)
  [QT]  docs.qwencloud.com/developer-guides/text-generation/thinking
  [QV]  docs.qwencloud.com/developer-guides/multimodal/vision
  [ML]  help.aliyun.com/zh/model-studio/models (model list: context, input, output, CoT)
  [API] help.aliyun.com/zh/model-studio/qwen-api-via-dashscope (pixel defaults per model)
  [OAI] help.aliyun.com/zh/model-studio/qwen-api-via-openai-chat-completions
  [37P] help.aliyun.com/zh/model-studio/qwen3-7-plus (updated 2026-09-28)
  [M26] ../shared/docs/models-2026.md (sourced digest: Qwen Cloud vision guide for the 1M context)
  [CB]  QwenLM/Qwen3-VL cookbooks (spatial_understanding): relative 0-1000 boxes
  [676] QwenLM/Qwen3-VL#676 (maintainer): Qwen2.5-VL-era models answer in absolute pixels
  [MNT] QwenLM/Qwen3.8-Flash-Next#4 (maintainer, 2026-08-27): Qwen3.5+ ground on 0-1000 too
  [PD]  ../shared/docs/dashscope-protocol.md (tools: QVQ not among the tool-calling models)
  [BI]  help.aliyun.com/en/model-studio/batch-inference (newest: qwen3.7-flash batched in Beijing)
None means no source gives the fact: the library then assumes nothing (see `catalog.ModelSpec`).
Where two sources disagree, the choice is noted beside the value and in docs/models.md.
"""

from __future__ import annotations

from dataclasses import replace

from .catalog_types import ModelSpec

__all__ = ["FAMILIES", "NAMES"]

_PX32 = 32 * 32
_REGIONS_VL = frozenset({"cn", "intl", "us"})  # Beijing, Singapore, Virginia (Global) [ML]

QWEN3_VL = ModelSpec(
    name="qwen3-vl-plus",
    family="qwen3-vl-plus",
    thinking="hybrid",  # [VR]
    thinking_default=False,  # [VR][DT]: off by default only for qwen3-vl-plus / -flash
    stream_only=False,  # non-streaming allowed in both modes [VR]
    supports_tools=True,  # [QT]
    supports_json_mode=True,  # non-thinking mode only [QV]
    supports_thinking_budget=True,  # [VR][DT]
    supports_preserve_thinking=False,  # not in the list of models that take it [DT][OAI]
    context_window=262_144,  # [ML]
    max_input_tokens=258_048,  # thinking mode [ML] (a Beijing mirror's 252K is older: docs/models.md)
    max_input_tokens_non_thinking=260_096,  # [ML]
    max_output_tokens=32_768,  # [ML]
    max_reasoning_tokens=81_920,  # [ML]; also the largest thinking_budget
    pixel_unit=32,  # [QV][API]
    default_max_pixels=2560 * _PX32,  # 2,621,440 px = 2,560 tokens [QV][API]
    high_res_max_pixels=16384 * _PX32,  # 16,777,216 px with vl_high_resolution_images [QV][API]
    grounding="relative",  # [CB]
    regions=_REGIONS_VL,
)

_QWEN3_VL_THINKING = replace(
    QWEN3_VL,
    thinking="only",  # [VR]; enable_thinking=false is a 400
    thinking_default=True,
    supports_json_mode=False,  # always thinking, and JSON mode needs thinking off [QV]
    context_window=131_072,  # [ML]
    max_input_tokens=126_976,  # [ML]
    max_input_tokens_non_thinking=None,
)

_QWEN3_VL_INSTRUCT = replace(
    QWEN3_VL,
    thinking="none",  # non-thinking; enable_thinking is refused (NotSupportEnableThinking) [ML][PD]
    # Tools and JSON mode as the other Qwen3-VL models [QT][QV]; pixel maths the same [QV][API].
    thinking_default=False,
    supports_thinking_budget=False,
    context_window=131_072,  # [ML]
    max_input_tokens=129_024,  # [ML]
    max_input_tokens_non_thinking=129_024,
    max_reasoning_tokens=None,
)

_QVQ = replace(
    _QWEN3_VL_THINKING,
    stream_only=True,  # "only support stream mode" [VR]
    supports_tools=False,  # not among the tool-calling models [PD]
    supports_thinking_budget=False,  # [VR]
    context_window=131_072,  # [ML]
    max_input_tokens=106_496,  # [ML]
    max_output_tokens=8_192,  # [ML]
    max_reasoning_tokens=16_384,  # [ML]
    pixel_unit=28,  # Qwen2.5-VL based [QV][API]
    default_max_pixels=1280 * 28 * 28,  # 1,003,520 px = 1,280 tokens [QV][API]
    # [QV] says high resolution is "not supported", [API] gives a 12,845,056 cap: the larger one is
    # used for sizing, so the client never throws away pixels the server might keep.
    high_res_max_pixels=16384 * 28 * 28,
    grounding="absolute",  # [676]
    regions=frozenset({"cn", "intl"}),  # [ML]
)

_QWEN35 = replace(
    QWEN3_VL,
    thinking_default=True,  # on by default for the Qwen3.5 / 3.6 / 3.7 series [VR][DT][QT]
    supports_preserve_thinking=False,  # not in the list [DT]
    context_window=1_000_000,  # [ML]
    max_input_tokens=983_616,  # [ML]
    max_input_tokens_non_thinking=991_808,  # [ML]
    max_output_tokens=65_536,  # [ML]
    max_reasoning_tokens=81_920,  # [ML]
    grounding="relative",  # [MNT]
    # Pixel maths as Qwen3-VL: 32-px tokens, 2,560 / 16,384-token budgets [QV][API]
)

_QWEN35_OPEN = replace(
    _QWEN35,
    context_window=262_144,  # [ML]
    max_input_tokens=258_048,  # [ML]
    max_input_tokens_non_thinking=260_096,  # [ML]
)

# Qwen3.6 / 3.7: only what an official page gives; the rest stays unknown (None).
_QWEN36 = replace(
    _QWEN35,
    context_window=1_000_000,  # [M26] (Qwen Cloud vision guide)
    max_input_tokens=None,
    max_input_tokens_non_thinking=None,
    max_output_tokens=None,
    max_reasoning_tokens=None,  # thinking_budget accepted, the server judges its range
    regions=frozenset({"cn"}),  # Batch page lists it for Beijing; other regions unknown
)

_QWEN37_PLUS = replace(
    _QWEN35,
    supports_preserve_thinking=True,  # [DT]
    context_window=1_000_000,  # [37P]
    max_input_tokens=983_616,  # [37P]
    max_input_tokens_non_thinking=991_808,  # [37P]
    max_output_tokens=131_072,  # [37P] (models.dev's 65,536 is older: docs/models.md)
    max_reasoning_tokens=262_144,  # [37P]
    regions=frozenset({"cn", "intl", "us", "hk", "eu", "jp"}),  # [37P]
)


def _family(base: ModelSpec, name: str, **changes: object) -> ModelSpec:
    return replace(base, name=name, family=name, **changes)  # type: ignore[arg-type]


FAMILIES: dict[str, ModelSpec] = {
    spec.family: spec
    for spec in (
        _family(QWEN3_VL, "qwen3-vl-plus"),
        _family(QWEN3_VL, "qwen3-vl-flash"),
        *(_family(_QWEN3_VL_THINKING, f"qwen3-vl-{size}-thinking") for size in ("235b-a22b", "32b", "30b-a3b", "8b")),
        *(_family(_QWEN3_VL_INSTRUCT, f"qwen3-vl-{size}-instruct") for size in ("235b-a22b", "32b", "30b-a3b", "8b")),
        _family(_QVQ, "qvq-max"),
        _family(_QVQ, "qvq-plus"),
        _family(_QWEN35, "qwen3.5-plus"),
        _family(_QWEN35, "qwen3.5-flash"),
        *(_family(_QWEN35_OPEN, f"qwen3.5-{size}") for size in ("397b-a17b", "122b-a10b", "27b", "35b-a3b")),
        _family(_QWEN36, "qwen3.6-plus", supports_preserve_thinking=True),  # [DT]
        # [OAI] lists qwen3.6-flash for preserve_thinking, [DT] does not: unknown (sent only if asked).
        _family(_QWEN36, "qwen3.6-flash", supports_preserve_thinking=None),
        _family(_QWEN36, "qwen3.6-35b-a3b", context_window=None, regions=None),
        _family(_QWEN37_PLUS, "qwen3.7-plus"),
        _family(
            _QWEN36,
            "qwen3.7-flash",
            supports_preserve_thinking=True,  # [DT]
            context_window=None,
            regions=frozenset({"cn"}),  # Batch, Beijing [BI]; other regions unknown
        ),
    )
}

NAMES: tuple[str, ...] = (
    # [ML] model list; dated snapshots resolve to their family.
    "qwen3-vl-plus",
    "qwen3-vl-plus-2025-12-19",
    "qwen3-vl-plus-2025-09-23",
    "qwen3-vl-flash",
    "qwen3-vl-flash-2026-01-22",
    "qwen3-vl-flash-2025-10-15",
    "qwen3-vl-flash-us",
    "qwen3-vl-flash-2025-10-15-us",
    "qwen3-vl-235b-a22b-thinking",
    "qwen3-vl-32b-thinking",
    "qwen3-vl-30b-a3b-thinking",
    "qwen3-vl-8b-thinking",
    "qwen3-vl-235b-a22b-instruct",
    "qwen3-vl-32b-instruct",
    "qwen3-vl-30b-a3b-instruct",
    "qwen3-vl-8b-instruct",
    "qvq-max",
    "qvq-max-latest",
    "qvq-max-2025-03-25",
    "qvq-max-2025-05-15",
    "qvq-plus",
    "qvq-plus-latest",
    "qvq-plus-2025-05-15",
    "qwen3.5-plus",
    "qwen3.5-plus-2026-02-15",
    "qwen3.5-flash",
    "qwen3.5-flash-2026-02-23",
    "qwen3.5-397b-a17b",
    "qwen3.5-122b-a10b",
    "qwen3.5-27b",
    "qwen3.5-35b-a3b",
    "qwen3.6-plus",
    "qwen3.6-plus-2026-04-02",
    "qwen3.6-flash",
    "qwen3.6-flash-2026-04-16",
    "qwen3.6-35b-a3b",
    "qwen3.7-plus",
    "qwen3.7-plus-2026-05-26",
    "qwen3.7-plus-us",
    "qwen3.7-flash",
    "qwen3.7-flash-2026-07-15",
)
"""Every model name the current visual-reasoning / vision / deep-thinking / model-list pages give."""
