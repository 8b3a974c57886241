"""Where the Model Studio Batch API can run visual models, and its file limits, as data.

Every entry names the page it comes from; the support check runs before anything is built or
uploaded (`check_support=False` / `--no-support-check` skips it when the lists change first).
Every line of one file must request the same model; batch calls cost 50% of real time.
"""

from __future__ import annotations

from collections.abc import Mapping

from .. import regions
from ..catalog import get_spec

__all__ = [
    "BATCH_API_MODELS",
    "MAX_FILE_BYTES",
    "MAX_FILE_REQUESTS",
    "MAX_LINE_BYTES",
    "check_batch_support",
    "region_of",
]

_BEIJING_PAGE = "https://help.aliyun.com/zh/model-studio/batch-interfaces-compatible-with-openai"
_SINGAPORE_PAGE = "https://www.alibabacloud.com/help/es/model-studio/batch-inference"

BATCH_API_MODELS: Mapping[str, frozenset[str]] = {
    # Beijing, "多模态模型 / 图像与视频理解" (image and video understanding) on _BEIJING_PAGE (the 2026 list
    # with the Qwen3.8 series; the English page help.aliyun.com/en/model-studio/batch-interfaces-compatible-
    # with-openai names qwen3.5-plus/flash, qwen3.6-plus and qwen3.7-plus the same way). qwen-vl-max and
    # qwen-vl-plus, listed in 2025, are no longer on it.
    "cn": frozenset(
        {
            "qwen3.8-max",
            "qwen3.8-flash",
            "qwen3.7-plus",
            "qwen3.7-flash",
            "qwen3.6-plus",
            "qwen3.6-flash",
            "qwen3.5-plus",
            "qwen3.5-flash",
            "qwen3-vl-plus",
            "qwen3-vl-flash",
        }
    ),
    # Singapore, "Ámbito / Singapore: qwen3.7-plus, qwen-max, qwen-plus, qwen-flash" on _SINGAPORE_PAGE
    # (updated 2026-10-12); qwen3.7-plus is the only one of those that takes images.
    "intl": frozenset({"qwen3.7-plus"}),
}
"""Region → the models with image input its Batch API accepts. Virginia (us) has no Batch API."""

# "1 つのファイルには最大 50,000 件のリクエストを含めることができ、サイズは 500 MB を超えることはできません"
# and "各 JSON オブジェクトは 6 MB 以下" (Model Studio "バッチ推論", 2026-02-04,
# https://www.alibabacloud.com/help/ja/model-studio/batch-inference). "MB" is read as 10^6 bytes,
# the smaller reading, so a file this library accepts is never over the service's limit.
MAX_FILE_REQUESTS = 50_000
MAX_FILE_BYTES = 500 * 1000 * 1000
MAX_LINE_BYTES = 6 * 1000 * 1000

_REGION_NAMES = {"cn": "Beijing (cn)", "intl": "Singapore (intl)", "us": "Virginia (us)"}
region_of = regions.region_of  # the core's: shared hosts and workspace domains of every region


def _where(model: str) -> list[str]:
    return [region for region, models in BATCH_API_MODELS.items() if model in models]


def check_batch_support(model: str, region: str | None) -> None:
    """ValueError unless the Batch API can run `model` in `region` (None: a custom endpoint, any listed region).

    Streaming-only models never (batch requests do not stream); otherwise the documented lists.
    """
    spec = get_spec(model, warn=False)
    if spec.stream_only:
        raise ValueError(
            f"{model} answers only streaming requests, and Batch API requests do not stream, so it cannot be "
            "batched. Use --via realtime (streams each item), or a model such as qwen3-vl-plus."
        )
    if region is not None and region not in BATCH_API_MODELS:
        where = _REGION_NAMES.get(region, region)
        raise ValueError(
            f"The Model Studio Batch API does not run visual models in {where}; it does in Beijing (cn) and, "
            "for qwen3.7-plus, Singapore (intl). Use --region cn (or intl) with a key of that region, or "
            "--via realtime here."
        )
    regions = [region] if region is not None else list(BATCH_API_MODELS)
    if any(model in BATCH_API_MODELS[r] for r in regions):
        return
    elsewhere = _where(model)
    if elsewhere and region is not None:
        names = " and ".join(_REGION_NAMES[r] for r in elsewhere)
        raise ValueError(
            f"{model} is batched only in {names}, not in {_REGION_NAMES[region]}. Use --region "
            f"{elsewhere[0]} with a key of that region, or --via realtime here."
        )
    listed = "; ".join(f"{_REGION_NAMES[r]}: {', '.join(sorted(BATCH_API_MODELS[r]))}" for r in BATCH_API_MODELS)
    raise ValueError(
        f"{model} is not on Model Studio's Batch API list for image input ({listed}). Use one of those, or "
        "--via realtime (same records, full price)."
    )
