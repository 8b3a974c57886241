"""Visual reasoning over thousands of images: resumable real-time runs and the Model Studio Batch API.

    from qwen_vl_core.batch import BatchSettings, load_items, run_realtime

    items = load_items("photos/")                       # or a JSONL manifest
    settings = BatchSettings(model="qwen3-vl-flash", prompt="Label this product photo.")
    summary = run_realtime(items, "labels.jsonl", settings=settings, concurrency=16, rpm=600)

Both paths write the same records to an append-only JSONL file (see `records`); running again
skips what is already there. `arun_realtime` / `arun_batch_api` are the async forms; the Batch API
(Beijing only, half price) goes through `BatchAPIClient` (`submit`, `status`, `fetch_batch`,
`cancel`). The `qwen-vl batch` command wraps all of it.
"""

from __future__ import annotations

from .batch_api import FetchResult, afetch_batch, arun_batch_api, fetch_batch, run_batch_api
from .build import BatchSettings, build_request, estimate_tokens
from .items import BatchItem, items_from_folder, items_from_manifest, load_items
from .output import RecordWriter, read_records, scan_output
from .pricing import PRICES, CostEstimate, CostMeter
from .progress import RunSummary, format_summary
from .ratelimit import RateLimiter
from .realtime import arun_realtime, run_realtime
from .records import BatchItemError, record_from_batch_line, record_from_error, record_from_result
from .remote import BatchAPIClient, BatchFailedError, BatchStatus, build_batch_line
from .support import BATCH_API_MODELS, check_batch_support

__all__ = [
    "BATCH_API_MODELS",
    "PRICES",
    "BatchAPIClient",
    "BatchFailedError",
    "BatchItem",
    "BatchItemError",
    "BatchSettings",
    "BatchStatus",
    "CostEstimate",
    "CostMeter",
    "FetchResult",
    "RateLimiter",
    "RecordWriter",
    "RunSummary",
    "afetch_batch",
    "arun_batch_api",
    "arun_realtime",
    "build_batch_line",
    "build_request",
    "check_batch_support",
    "estimate_tokens",
    "fetch_batch",
    "format_summary",
    "items_from_folder",
    "items_from_manifest",
    "load_items",
    "read_records",
    "record_from_batch_line",
    "record_from_error",
    "record_from_result",
    "run_batch_api",
    "run_realtime",
    "scan_output",
]
