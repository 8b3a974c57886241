"""`qwen-vl batch ...`: run, submit, status, fetch and cancel (wired into `qwen_vl_core.cli`).

Exit codes: 0 every item succeeded, 1 some item or a batch failed (records say which), 2 bad input
or options (nothing was sent), 3 `fetch` of a job or batch that is still running, 130 interrupted.
"""

from __future__ import annotations

import argparse
import warnings
from contextlib import ExitStack
from pathlib import Path
from typing import Any, TextIO

from ..client import QwenVLClient
from ..errors import MissingAPIKeyError, QwenVLError
from ..regions import resolve_endpoint
from .batch_api import fetch_batch, run_batch_api
from .build import BatchSettings
from .items import BatchItem, load_items
from .jobs import DEFAULT_UPLOAD_CONCURRENCY, cancel_job, describe_job, fetch_job, job_status, submit_job
from .manifest import JobManifest
from .progress import RunSummary, format_summary
from .realtime import DEFAULT_CONCURRENCY, run_realtime
from .remote import BatchAPIClient, BatchStatus
from .support import region_of

__all__ = ["add_batch_parser", "run_batch_command"]

_REGIONS = ["intl", "us", "cn"]
_REGION_LABELS = {"cn": "Beijing (cn)", "intl": "Singapore (intl)", "us": "Virginia (us)"}
_DEMO_REASONING = "The photo shows one object on a plain background."
_DEMO_ANSWER = "A product photo."


def _connection(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--region", choices=_REGIONS, default=None, help="intl (Singapore, default), us (Virginia), cn (Beijing)"
    )
    parser.add_argument("--base-url", default=None, help="an explicit endpoint (with --region: the region it is in)")
    parser.add_argument("--api-key", default=None, help="key for --base-url (default: $DASHSCOPE_API_KEY)")


def _batch_api_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--poll-interval", type=float, default=None, help="first poll delay in seconds (5)")
    parser.add_argument(
        "--no-support-check",
        action="store_true",
        help="skip the local model/region check of the Batch API (if Model Studio's list changed)",
    )


def _job_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--job", default=None, metavar="DIR", help="the job folder (default: OUT.jsonl.job)")
    parser.add_argument(
        "--upload-concurrency", type=int, default=DEFAULT_UPLOAD_CONCURRENCY, help="uploads at a time (4)"
    )


def _inputs(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", metavar="INPUT", help="a folder of images, or a JSONL manifest (one item per line)")
    parser.add_argument("--model", default="qwen3-vl-plus", help="model name (default: qwen3-vl-plus)")
    parser.add_argument("--prompt", default=None, help="the prompt for every item (required for a folder)")
    parser.add_argument("--system", default=None, help="a system prompt for every item")
    parser.add_argument(
        "--thinking", action=argparse.BooleanOptionalAction, default=None, help="thinking on or off (hybrid models)"
    )
    parser.add_argument("--budget", type=int, default=None, help="thinking budget in tokens")
    parser.add_argument("--max-tokens", type=int, default=None, help="maximum answer tokens per item")
    parser.add_argument("--high-res", action="store_true", help="send vl_high_resolution_images=true")
    parser.add_argument("--no-reasoning", action="store_true", help="leave the reasoning out of the records")
    parser.add_argument("--retry-failed", action="store_true", help="run again the items whose record is an error")
    parser.add_argument(
        "--new-settings", action="store_true", help="OUT holds other settings: write to OUT-<fingerprint> instead"
    )


def add_batch_parser(sub: Any) -> None:
    """Add `batch` and its sub-commands to the `qwen-vl` parser."""
    batch = sub.add_parser("batch", help="many items: resumable real-time runs, Batch API jobs, or Ray")
    commands = batch.add_subparsers(dest="batch_command", required=True)
    run = commands.add_parser("run", help="run every item not yet in --out and append its record")
    _inputs(run)
    run.add_argument("--out", required=True, metavar="OUT", help="output records (OUT.jsonl; with --via ray also a "
                     "Parquet folder OUT.parquet); appended, resumable")  # fmt: skip
    run.add_argument("--via", choices=["realtime", "batch-api", "ray"], default="realtime", help="realtime (default)")
    run.add_argument("--concurrency", type=int, default=DEFAULT_CONCURRENCY, help="requests in flight (8; per worker)")
    run.add_argument("--rpm", type=float, default=None, help="at most this many requests per minute (all workers)")
    run.add_argument("--tpm", type=float, default=None, help="at most about this many tokens per minute")
    run.add_argument("--workers", type=int, default=2, help="--via ray: worker actors (2)")
    run.add_argument("--ray-address", default=None, help="--via ray: a cluster (ray://host:10001, auto); default local")
    run.add_argument("--emulator", action="store_true", help="answer from the built-in offline emulator (a demo)")
    _connection(run)
    _batch_api_options(run)
    _job_options(run)
    submit = commands.add_parser("submit", help="upload the items as a Batch API job (as many batches as needed)")
    _inputs(submit)
    submit.add_argument("--out", required=True, metavar="OUT.jsonl", help="where fetch writes the records")
    _connection(submit)
    _batch_api_options(submit)
    _job_options(submit)
    for name, text in (("status", "show a job's (or a batch's) progress"), ("cancel", "cancel a job (or a batch)")):
        command = commands.add_parser(name, help=text)
        command.add_argument("target", metavar="JOB_OR_BATCH_ID", help="a job folder, or one batch id")
        _connection(command)
    fetch = commands.add_parser("fetch", help="append the finished records of a job (or one batch) to its output")
    fetch.add_argument("target", metavar="JOB_OR_BATCH_ID", help="a job folder, or one batch id (then --out)")
    fetch.add_argument("--out", default=None, metavar="OUT.jsonl", help="output records (default: the job's)")
    fetch.add_argument("--wait", action="store_true", help="wait for every batch to finish")
    fetch.add_argument("--no-reasoning", action="store_true", help="one batch id: leave the reasoning out")
    fetch.add_argument("--retry-failed", action="store_true", help="one batch id: replace error records")
    _connection(fetch)
    _batch_api_options(fetch)


def _settings(args: argparse.Namespace) -> BatchSettings:
    values = {
        "thinking": args.thinking,
        "thinking_budget": args.budget,
        "max_tokens": args.max_tokens,
        "high_res": True if args.high_res else None,
        "system": args.system,
    }
    return BatchSettings(args.model, args.prompt, {k: v for k, v in values.items() if v is not None})


def _region(args: argparse.Namespace, base_url: str | None) -> str | None:
    """The region prices are judged by: the endpoint's, or the one --region declares for --base-url."""
    endpoint = resolve_endpoint(region=args.region, base_url=base_url)
    return endpoint.region or region_of(endpoint.base_url) or (args.region if base_url else None)


def _api(args: argparse.Namespace, base_url: str | None = None, api_key: str | None = None) -> BatchAPIClient:
    poll = getattr(args, "poll_interval", None)
    return BatchAPIClient(
        api_key=api_key or args.api_key,
        region=args.region,
        base_url=base_url or args.base_url,
        poll_interval=poll if poll is not None else 5.0,
        check_support=not getattr(args, "no_support_check", False),
    )


def _job_api(args: argparse.Namespace, job: JobManifest) -> BatchAPIClient:
    """The job's own endpoint unless --region / --base-url say otherwise."""
    if args.region is None and args.base_url is None:
        args.base_url, args.region = job.base_url, job.region
    return _api(args)


def _load(args: argparse.Namespace) -> list[BatchItem]:
    if Path(args.input).is_dir() and not args.prompt:
        raise ValueError("a folder of images needs --prompt (what to ask about each image)")
    return load_items(args.input)


def _check_pacing(args: argparse.Namespace) -> None:
    if args.via == "batch-api" and (
        args.rpm is not None or args.tpm is not None or args.concurrency != DEFAULT_CONCURRENCY
    ):
        raise ValueError(
            "--concurrency, --rpm and --tpm pace real-time runs; the Batch API schedules the requests itself. "
            "Drop them, or use --via realtime."
        )
    if args.via != "ray" and (args.ray_address is not None or args.workers != 2):
        raise ValueError("--workers and --ray-address apply to --via ray only.")


def _via_ray(args: argparse.Namespace, items: list[BatchItem], settings: BatchSettings, **run: Any) -> RunSummary:
    try:
        from .ray import ClientConfig, run_ray
    except ImportError as exc:
        raise ValueError(f"--via ray needs Ray: pip install 'qwen-vl-reasoning[ray]' ({exc})") from None
    config = ClientConfig(api_key=run.pop("api_key"), region=args.region, base_url=run.pop("base_url"))
    return run_ray(
        items, args.out, settings=settings, client=config, workers=args.workers, concurrency=args.concurrency,
        rpm=args.rpm, tpm=args.tpm, address=args.ray_address, **run,
    )  # fmt: skip


def _run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    _check_pacing(args)
    items = _load(args)
    settings = _settings(args)
    with ExitStack() as stack:
        base_url, api_key = args.base_url, args.api_key
        if args.emulator:
            from ..testing import DashScopeEmulator, Reply

            emulator = stack.enter_context(
                DashScopeEmulator(default_reply=Reply(reasoning=_DEMO_REASONING, text=_DEMO_ANSWER))
            )
            base_url, api_key = emulator.base_url, emulator.api_key
            if args.poll_interval is None:
                args.poll_interval = 0.05
        region = _region(args, base_url)
        common: dict[str, Any] = {
            "include_reasoning": not args.no_reasoning,
            "retry_failed": args.retry_failed,
            "new_settings": args.new_settings,
            "progress": err,
        }
        summary: RunSummary
        if args.via == "realtime":
            client = QwenVLClient(api_key=api_key, region=args.region, base_url=base_url)
            stack.callback(client.close)
            summary = run_realtime(
                items, args.out, client=client, settings=settings, concurrency=args.concurrency, rpm=args.rpm,
                tpm=args.tpm, cost_region=region, **common,
            )  # fmt: skip
        elif args.via == "ray":
            summary = _via_ray(args, items, settings, api_key=api_key, base_url=base_url, cost_region=region, **common)
        else:
            api = _api(args, base_url, api_key)
            summary = run_batch_api(
                items, args.out, api=api, settings=settings, job=args.job,
                upload_concurrency=args.upload_concurrency, **common,
            )  # fmt: skip
    out.write(format_summary(summary, region_label=_REGION_LABELS.get(region or "")))
    if summary.output is not None and Path(summary.output).resolve() != Path(args.out).resolve():
        out.write(f"records: {summary.output}\n")
    return 1 if summary.failed else 0


def _submit(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    items = _load(args)
    api = _api(args)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        job = submit_job(
            api, items, _settings(args), out=args.out, job=args.job, include_reasoning=not args.no_reasoning,
            retry_failed=args.retry_failed, new_settings=args.new_settings,
            upload_concurrency=args.upload_concurrency, on_note=lambda note: err.write(note + "\n"),
        )  # fmt: skip
    for warning in caught:
        err.write(f"warning: {warning.message}\n")
    requests = sum(s.requests for s in job.shards)
    out.write(f"{job.folder}\n")
    if not job.shards:
        err.write(f"nothing to submit: {job.skipped:,} of {job.items:,} items are already in {job.out}\n")
    else:
        err.write(
            f"submitted {requests:,} requests as {len(job.shards)} batch(es) (job {job.job_id}); later, from any "
            f"machine with the key and this folder: qwen-vl batch fetch {job.folder}\n"
        )
    if job.rejected:
        err.write(f"{job.rejected:,} items could not be built; their error records go to {job.out} on fetch\n")
    return 1 if job.rejected else 0


def _fetch(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    if not Path(args.target).exists():
        if args.out is None:
            raise ValueError("fetching one batch by id needs --out (a job folder knows its output)")
        result = fetch_batch(
            _api(args), args.target, args.out, include_reasoning=not args.no_reasoning,
            retry_failed=args.retry_failed, wait=args.wait, on_status=lambda s: err.write(s.describe() + "\n"),
        )  # fmt: skip
        if not result.ready:
            err.write(f"{result.status.describe()}\nnot finished yet: fetch again later, or pass --wait\n")
            return 3
        out.write(f"{result.status.describe()}\nwrote {result.written:,} records to {args.out}")
        out.write(f" ({result.skipped:,} already there)\n" if result.skipped else "\n")
        return 0 if result.status.status == "completed" and result.status.failed == 0 else 1
    job = JobManifest.load(args.target)
    fetched = fetch_job(
        _job_api(args, job), job.folder, out=args.out, wait=args.wait,
        on_status=lambda s: err.write(s.describe() + "\n"),
    )  # fmt: skip
    target = args.out or fetched.job.out
    out.write(describe_job(fetched.job))
    out.write(f"wrote {fetched.written:,} records to {target}")
    out.write(f" ({fetched.skipped:,} already there)\n" if fetched.skipped else "\n")
    if not fetched.ready:
        err.write(f"{len(fetched.pending)} batch(es) not finished yet: fetch again later, or pass --wait\n")
        return 3
    failed = any(s.status != "completed" or s.counts["failed"] for s in fetched.job.shards if s.batch_id is not None)
    return 1 if failed or fetched.job.rejected else 0


def _show(status: BatchStatus, out: TextIO) -> int:
    out.write(status.describe() + "\n")
    for name, value in (("output file", status.output_file_id), ("error file", status.error_file_id)):
        if value:
            out.write(f"  {name}: {value}\n")
    return 0


def _status_or_cancel(args: argparse.Namespace, out: TextIO) -> int:
    cancel = args.batch_command == "cancel"
    if not Path(args.target).exists():
        api = _api(args)
        return _show(api.cancel(args.target) if cancel else api.status(args.target), out)
    job = JobManifest.load(args.target)
    api = _job_api(args, job)
    out.write(describe_job(cancel_job(api, job.folder) if cancel else job_status(api, job.folder)))
    return 0


def run_batch_command(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    command = args.batch_command
    try:
        if command == "run":
            return _run(args, out, err)
        if command == "submit":
            return _submit(args, out, err)
        if command == "fetch":
            return _fetch(args, out, err)
        return _status_or_cancel(args, out)
    except MissingAPIKeyError as exc:
        err.write(
            f"error: {exc.message}\n  (the Batch API for visual models runs in Beijing: --region cn with a Beijing "
            "key; qwen3.7-plus also in Singapore)\n"
        )
        return 2
    except ValueError as exc:
        err.write(f"error: {exc}\n")
        return 2
    except QwenVLError as exc:
        job = getattr(args, "job", None) or (f"{args.out}.job" if command == "submit" else None)
        hint = f"\n  the job is saved in {job}: run the same command again to resume" if job else ""
        err.write(f"error: {exc}{hint}\n")
        return 1
    except KeyboardInterrupt:
        where = getattr(args, "out", None)
        saved = f"; finished records are saved in {where}: run the same command again to resume" if where else ""
        err.write(f"\ninterrupted{saved}\n")
        return 130
