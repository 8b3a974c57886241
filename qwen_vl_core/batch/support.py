"""Where the Model Studio Batch API can run Qwen-VL, as data, checked before anything is uploaded.

Sources (2025-09 to 2026-03 versions of Model Studio "OpenAI compatible - Batch (file input)",
https://www.alibabacloud.com/help/en/model-studio/batch-interfaces-compatible-with-openai and
https://help.aliyun.com/zh/model-studio/developer-reference/batch-interfaces-compatible-with-openai):
only the Chinese mainland deployment (Beijing, `dashscope.aliyuncs.com`) runs multimodal models;
Singapore lists text models only (qwen-max/plus/flash/turbo) and Virginia has no Batch API. The
Beijing list names qwen3-vl-plus, qwen-vl-max(-latest), qwen-vl-plus(-latest) and, in 2026, the
Qwen-VL-Flash family (qwen3-vl-flash); snapshots (dated names) and open-source Qwen3-VL models are
not listed. Every line of one file must request the same model. Batch calls cost 50% of real time.
The per-file limits below are [I] inferred (OpenAI's documented maximum requests, a size ceiling
we could not confirm for Model Studio); pass `check_support=False` to skip all of this.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlsplit

from ..catalog import get_spec

__all__ = [
    "BATCH_API_MODELS",
    "MAX_BATCH_BYTES",
    "MAX_BATCH_REQUESTS",
    "check_batch_support",
    "region_of",
]

BATCH_API_MODELS: Mapping[str, frozenset[str]] = {
    "cn": frozenset(
        {"qwen3-vl-plus", "qwen3-vl-flash", "qwen-vl-max", "qwen-vl-max-latest", "qwen-vl-plus", "qwen-vl-plus-latest"}
    ),
}
"""Region → the vision models its Batch API accepts (`qwen-vl models` lists what this library knows)."""

MAX_BATCH_REQUESTS = 50_000
MAX_BATCH_BYTES = 500 * 1024 * 1024

_REGION_NAMES = {"cn": "Beijing (cn)", "intl": "Singapore (intl)", "us": "Virginia (us)"}
_HOST_REGIONS = {
    "dashscope.aliyuncs.com": "cn",
    "dashscope-intl.aliyuncs.com": "intl",
    "dashscope-us.aliyuncs.com": "us",
}


def region_of(base_url: str) -> str | None:
    """The region of a Model Studio URL (legacy hosts and `*.<region-id>.maas.aliyuncs.com`), else None."""
    host = (urlsplit(base_url).hostname or "").lower()
    if host in _HOST_REGIONS:
        return _HOST_REGIONS[host]
    if host.endswith(".maas.aliyuncs.com"):
        if ".cn-beijing." in f".{host}":
            return "cn"
        if ".ap-southeast-1." in f".{host}":
            return "intl"
        if ".us-east-1." in f".{host}":
            return "us"
    return None


def check_batch_support(model: str, region: str | None) -> None:
    """ValueError unless the Batch API can run `model` in `region` (None: a custom endpoint, not checked).

    The model rules (streaming-only models never; otherwise the documented list) apply everywhere;
    the region rule applies when the region is known.
    """
    spec = get_spec(model, warn=False)
    if spec.stream_only:
        raise ValueError(
            f"{model} answers only streaming requests, and Batch API requests do not stream, so it cannot be "
            "batched. Use --via realtime (streams each item), or a Qwen3-VL model such as qwen3-vl-plus."
        )
    supported = sorted(BATCH_API_MODELS["cn"])
    if region is not None and region not in BATCH_API_MODELS:
        where = _REGION_NAMES.get(region, region)
        raise ValueError(
            f"The Model Studio Batch API runs Qwen-VL models only in the Beijing region (cn); this endpoint is in "
            f"{where}. Use --region cn with a Beijing API key, or --via realtime here."
        )
    if model not in BATCH_API_MODELS.get(region or "cn", frozenset()):
        raise ValueError(
            f"{model} is not on Model Studio's Batch API list for Qwen-VL (Beijing): {', '.join(supported)}. "
            "Use one of those, or --via realtime (same records, full price)."
        )
