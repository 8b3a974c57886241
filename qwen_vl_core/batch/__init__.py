"""Visual reasoning over thousands (or millions) of images: resumable real-time runs, Batch API jobs, Ray.

    from qwen_vl_core.batch import BatchSettings, load_items, run_realtime

    items = load_items("photos/")                       # or a JSONL manifest
    settings = BatchSettings(model="qwen3-vl-flash", prompt="Label this product photo.")
    summary = run_realtime(items, "labels.jsonl", settings=settings, concurrency=16, rpm=600)

Every path writes the same records to an append-only JSONL file (see `records`) that starts with
the settings it was produced with (see `fingerprint`); running again skips what is already there,
and refuses to resume with other settings. `arun_realtime` is the async form. The Batch API (half
price) runs jobs of any size through `submit_job` / `fetch_job` / `job_status` / `cancel_job`
(sharded, resumable; `run_batch_api` does all of it), on a `BatchAPIClient`. Many machines:
`qwen_vl_core.batch.ray.run_ray` (needs the `ray` extra). The `qwen-vl batch` command wraps it all.
"""

from __future__ import annotations

from .batch_api import FetchResult, afetch_batch, arun_batch_api, fetch_batch, run_batch_api
from .build import BatchSettings, build_request, estimate_tokens
from .fingerprint import SettingsMismatchError, settings_record
from .items import BatchItem, items_from_folder, items_from_manifest, load_items
from .jobs import (
    JobFetch,
    acancel_job,
    afetch_job,
    ajob_status,
    asubmit_job,
    cancel_job,
    fetch_job,
    job_status,
    submit_job,
)
from .manifest import JobManifest, ShardState
from .output import RecordWriter, read_records, scan_output
from .pricing import PRICES, CostEstimate, CostMeter
from .progress import RunSummary, format_summary
from .ratelimit import RateLimiter
from .realtime import arun_realtime, run_realtime
from .records import BatchItemError, record_from_batch_line, record_from_error, record_from_result
from .remote import BatchAPIClient, BatchFailedError, BatchStatus
from .shards import ShardLimits, build_batch_line
from .support import BATCH_API_MODELS, check_batch_support
from .thinking import BatchThinkingWarning

__all__ = [
    "BATCH_API_MODELS",
    "PRICES",
    "BatchAPIClient",
    "BatchFailedError",
    "BatchItem",
    "BatchItemError",
    "BatchSettings",
    "BatchStatus",
    "BatchThinkingWarning",
    "CostEstimate",
    "CostMeter",
    "FetchResult",
    "JobFetch",
    "JobManifest",
    "RateLimiter",
    "RecordWriter",
    "RunSummary",
    "SettingsMismatchError",
    "ShardLimits",
    "ShardState",
    "acancel_job",
    "afetch_batch",
    "afetch_job",
    "ajob_status",
    "arun_batch_api",
    "arun_realtime",
    "asubmit_job",
    "build_batch_line",
    "build_request",
    "cancel_job",
    "check_batch_support",
    "estimate_tokens",
    "fetch_batch",
    "fetch_job",
    "format_summary",
    "items_from_folder",
    "items_from_manifest",
    "job_status",
    "load_items",
    "read_records",
    "record_from_batch_line",
    "record_from_error",
    "record_from_result",
    "run_batch_api",
    "run_realtime",
    "scan_output",
    "settings_record",
    "submit_job",
]
