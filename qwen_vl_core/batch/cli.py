"""`qwen-vl batch ...`: run, submit, status, fetch and cancel (wired into `qwen_vl_core.cli`).

Exit codes: 0 every item succeeded, 1 some item or the batch failed (records say which), 2 bad
input or options (nothing was sent), 3 `fetch` of a batch that is still running, 130 interrupted.
"""

from __future__ import annotations

import argparse
from contextlib import ExitStack
from pathlib import Path
from typing import Any, TextIO

from ..client import QwenVLClient
from ..errors import MissingAPIKeyError, QwenVLError
from ..regions import resolve_endpoint
from .batch_api import fetch_batch, run_batch_api
from .build import BatchSettings
from .items import BatchItem, load_items
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
        help="skip the local model/region/limit checks of the Batch API (if Model Studio's list changed)",
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


def add_batch_parser(sub: Any) -> None:
    """Add `batch` and its sub-commands to the `qwen-vl` parser."""
    batch = sub.add_parser("batch", help="many items: resumable real-time runs, or the Model Studio Batch API")
    commands = batch.add_subparsers(dest="batch_command", required=True)
    run = commands.add_parser("run", help="run every item not yet in --out and append its record")
    _inputs(run)
    run.add_argument("--out", required=True, metavar="OUT.jsonl", help="output records (appended; resumable)")
    run.add_argument("--via", choices=["realtime", "batch-api"], default="realtime", help="realtime (default)")
    run.add_argument("--concurrency", type=int, default=DEFAULT_CONCURRENCY, help="requests in flight (8)")
    run.add_argument("--rpm", type=float, default=None, help="at most this many requests per minute")
    run.add_argument("--tpm", type=float, default=None, help="at most about this many tokens per minute")
    run.add_argument("--emulator", action="store_true", help="answer from the built-in offline emulator (a demo)")
    _connection(run)
    _batch_api_options(run)
    submit = commands.add_parser("submit", help="upload the items as a Batch API job and print its id")
    _inputs(submit)
    submit.add_argument("--out", default=None, metavar="OUT.jsonl", help="skip items done there; record local errors")
    _connection(submit)
    _batch_api_options(submit)
    for name, text in (("status", "show a batch's progress"), ("cancel", "cancel a batch")):
        command = commands.add_parser(name, help=text)
        command.add_argument("batch_id", metavar="BATCH_ID")
        _connection(command)
    fetch = commands.add_parser("fetch", help="append a finished batch's records to --out (needs only the id)")
    fetch.add_argument("batch_id", metavar="BATCH_ID")
    fetch.add_argument("--out", required=True, metavar="OUT.jsonl")
    fetch.add_argument("--wait", action="store_true", help="wait for the batch to finish")
    fetch.add_argument("--no-reasoning", action="store_true", help="leave the reasoning out of the records")
    fetch.add_argument("--retry-failed", action="store_true", help="replace error records of the same ids")
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


def _load(args: argparse.Namespace) -> list[BatchItem]:
    if Path(args.input).is_dir() and not args.prompt:
        raise ValueError("a folder of images needs --prompt (what to ask about each image)")
    return load_items(args.input)


def _run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    if args.via == "batch-api" and (
        args.rpm is not None or args.tpm is not None or args.concurrency != DEFAULT_CONCURRENCY
    ):
        raise ValueError(
            "--concurrency, --rpm and --tpm pace real-time runs; the Batch API schedules the requests itself. "
            "Drop them, or use --via realtime."
        )
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
        common: dict[str, Any] = {"include_reasoning": not args.no_reasoning, "retry_failed": args.retry_failed}
        summary: RunSummary
        if args.via == "realtime":
            client = QwenVLClient(api_key=api_key, region=args.region, base_url=base_url)
            stack.callback(client.close)
            summary = run_realtime(
                items, args.out, client=client, settings=settings, concurrency=args.concurrency, rpm=args.rpm,
                tpm=args.tpm, progress=err, cost_region=region, **common,
            )  # fmt: skip
        else:
            api = _api(args, base_url, api_key)
            summary = run_batch_api(items, args.out, api=api, settings=settings, progress=err, **common)
    out.write(format_summary(summary, region_label=_REGION_LABELS.get(region or "")))
    return 1 if summary.failed else 0


def _submit(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from .output import RecordWriter, scan_output

    items = _load(args)
    api = _api(args)
    skip: set[str] = set()
    if args.out:
        skip = scan_output(args.out).done(retry_failed=args.retry_failed)
    status, rejected = api.submit([i for i in items if i.id not in skip], _settings(args))
    for record in rejected:
        err.write(f"not submitted: {record['id']}: {record['error']['message']}\n")
    if rejected and args.out:
        with RecordWriter(args.out) as writer:
            for record in rejected:
                writer.write(record)
    out.write(f"{status.id}\n")
    err.write(
        f"submitted {status.total or len(items) - len(skip) - len(rejected):,} requests as batch {status.id}; "
        f"later, from any machine with the key: qwen-vl batch fetch {status.id} --out OUT.jsonl\n"
    )
    return 1 if rejected else 0


def _fetch(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    result = fetch_batch(
        _api(args), args.batch_id, args.out, include_reasoning=not args.no_reasoning, retry_failed=args.retry_failed,
        wait=args.wait, on_status=lambda s: err.write(s.describe() + "\n"),
    )  # fmt: skip
    if not result.ready:
        err.write(f"{result.status.describe()}\nnot finished yet: fetch again later, or pass --wait\n")
        return 3
    out.write(f"{result.status.describe()}\nwrote {result.written:,} records to {args.out}")
    out.write(f" ({result.skipped:,} already there)\n" if result.skipped else "\n")
    return 0 if result.status.status == "completed" and result.status.failed == 0 else 1


def _show(status: BatchStatus, out: TextIO) -> int:
    out.write(status.describe() + "\n")
    for name, value in (("output file", status.output_file_id), ("error file", status.error_file_id)):
        if value:
            out.write(f"  {name}: {value}\n")
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
        if command == "status":
            return _show(_api(args).status(args.batch_id), out)
        return _show(_api(args).cancel(args.batch_id), out)
    except MissingAPIKeyError as exc:
        err.write(
            f"error: {exc.message}\n  (the Batch API for Qwen-VL runs in Beijing: --region cn with a Beijing key)\n"
        )
        return 2
    except ValueError as exc:
        err.write(f"error: {exc}\n")
        return 2
    except QwenVLError as exc:
        err.write(f"error: {exc}\n")
        return 1
    except KeyboardInterrupt:
        where = getattr(args, "out", None)
        saved = f"; finished records are saved in {where}: run the same command again to resume" if where else ""
        err.write(f"\ninterrupted{saved}\n")
        return 130
