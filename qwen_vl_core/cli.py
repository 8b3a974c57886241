"""The `qwen-vl` command: ask a visual question with streamed thinking, ground, list the catalog."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import TextIO

from .batch.cli import add_batch_parser, run_batch_command
from .catalog import ModelSpec, get_spec, list_specs
from .client import QwenVLClient
from .errors import MissingAPIKeyError, QwenVLError
from .events import ReasoningDelta, TextDelta, Usage, UsageUpdate
from .formats import detect_image_mime
from .grounding.command import add_coordinates_option, add_ground_parser, draw_answer, draw_target, run_ground
from .imaging import image_size
from .media import estimate_request_tokens, image, image_to_url, video_to_url
from .tokens import image_budget, smart_resize
from .types import ChatRequest, ImagePart, Message, Part, TextPart, ThinkingOptions, VideoPart

__all__ = ["main"]

_VIDEO_SUFFIXES = {".mp4", ".avi", ".mkv", ".mov", ".flv", ".wmv", ".webm"}
_DEMO_REASONING = (
    "The image shows a right triangle with legs 3 cm and 4 cm. The area of a right triangle is half "
    "the product of its legs: 3 × 4 / 2 = 6."
)
_DEMO_ANSWER = "The area is 6 cm²."


def _part(source: str) -> Part:
    suffix = Path(source.split("?", 1)[0]).suffix.lower()
    if suffix in _VIDEO_SUFFIXES:
        return VideoPart(url=video_to_url(source))
    return ImagePart(image_to_url(source))


def _format_usage(usage: Usage) -> str:
    inp = f"input {usage.input_tokens}"
    media = [f"{name} {n}" for name, n in (("image", usage.image_tokens), ("video", usage.video_tokens)) if n]
    if media:
        inp += f" ({', '.join(media)})"
    out = f"output {usage.output_tokens}"
    if usage.reasoning_tokens is not None:
        out += f" (reasoning {usage.reasoning_tokens})"
    return f"tokens: {inp}, {out}, total {usage.total_tokens}"


class _Printer:
    """Sets the thinking apart from the answer: a header for each, thinking dimmed on a terminal."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.tty = out.isatty()
        self.section: str | None = None

    def write(self, section: str, text: str) -> None:
        if section != self.section:
            if self.section is not None:
                self._style("\n")
            self._style(f"── {section} ──\n", bold=True)
            self.section = section
        self._style(text, dim=section == "thinking")

    def _style(self, text: str, *, dim: bool = False, bold: bool = False) -> None:
        if self.tty and (dim or bold):
            text = f"\x1b[{2 if dim else 1}m{text}\x1b[0m"
        self.out.write(text)
        self.out.flush()


def _ask(args: argparse.Namespace, out: TextIO) -> int:
    *sources, question = args.inputs
    parts: list[Part] = [_part(s) for s in sources]
    parts.append(TextPart(question))
    request = ChatRequest(
        model=args.model,
        messages=(Message("user", tuple(parts)),),
        thinking=ThinkingOptions(enable=args.thinking, budget=args.budget),
        vl_high_resolution_images=True if args.high_res else None,
    )
    drawing = draw_target(sources, args) if args.draw else None  # checked before anything is sent
    answer: list[str] = []
    with ExitStack() as stack:
        base_url, api_key = args.base_url, args.api_key
        if args.emulator:
            from .testing import DashScopeEmulator, Reply

            emulator = stack.enter_context(DashScopeEmulator())
            emulator.enqueue(Reply(reasoning=_DEMO_REASONING, text=_DEMO_ANSWER, chunk_size=6, delay=0.01))
            base_url, api_key = emulator.base_url, emulator.api_key
        client = QwenVLClient(api_key=api_key, region=args.region, base_url=base_url)
        stack.callback(client.close)
        printer = _Printer(out)
        usage: Usage | None = None
        for event in client.stream(request):
            if type(event) is ReasoningDelta:
                printer.write("thinking", event.text)
            elif type(event) is TextDelta:
                printer.write("answer", event.text)
                answer.append(event.text)
            elif type(event) is UsageUpdate:
                usage = event.usage
        out.write("\n")
        if usage is not None:
            out.write(_format_usage(usage) + "\n")
    if drawing is not None:
        draw_answer(*drawing, "".join(answer), args.draw, out)
    return 0


def _image_tokens(part: ImagePart, spec: ModelSpec, high_res: bool) -> int:
    """Tokens of one image as `ask` would send it: `prepare_media`'s checks run first (ValueError)."""
    request = ChatRequest(spec.name, (Message("user", (part,)),), vl_high_resolution_images=high_res or None)
    return estimate_request_tokens(request, spec)


def _estimate(args: argparse.Namespace, out: TextIO) -> int:
    spec = get_spec(args.model)
    rows: list[tuple[str, ...]] = [("input", "format", "pixels", "bytes", "tokens", "tokens (high-res)", "sent as")]
    total = 0
    problems: list[str] = []
    for source in args.files:
        if source.startswith(("http://", "https://")):
            rows.append((source, "remote", "?", "?", "?", "?", "URL (not downloaded)"))
            continue
        part = None
        try:
            part = image(source)
            tokens = _image_tokens(part, spec, args.high_res)
            high = _image_tokens(part, spec, True)
        except ValueError as exc:  # the same checks `ask` runs: each bad file is reported, the rest go on
            rows.append((part.label or source if part else source, "?", "?", "?", "?", "?", "rejected (see below)"))
            where = f"Image 1 of message 1 ({part.label})" if part is not None else None
            text = str(exc)
            problems.append(
                source + text.removeprefix(where) if where and text.startswith(where) else f"{source}: {text}"
            )
            continue
        data = part.data or b""
        size = image_size(data)
        mime = (detect_image_mime(data) or "?").removeprefix("image/")
        if size is None:
            rows.append((part.label or source, mime, "?", f"{len(data):,}", "?", "?", "?"))
            continue
        width, height = size
        budget = image_budget(spec, high_res=args.high_res)
        h_bar, w_bar = smart_resize(height, width, budget.factor, budget.min_pixels, budget.max_pixels)
        sent = f"{w_bar}x{h_bar} (downscaled)" if width * height > budget.max_pixels else "as is"
        label = part.label or source
        rows.append((label, mime, f"{width}x{height}", f"{len(data):,}", f"{tokens:,}", f"{high:,}", sent))
        total += tokens
    _table(rows, out)
    for problem in problems:
        out.write(f"error: {problem}\n")
    limit = f"{spec.max_input_tokens:,}" if spec.max_input_tokens is not None else "unknown"
    out.write(f"total: {total:,} image tokens for {spec.name} (max input {limit})")
    out.write(f"; {len(problems)} of {len(args.files)} files rejected\n" if problems else "\n")
    return 1 if problems else 0


def _table(rows: list[tuple[str, ...]], out: TextIO) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        out.write("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() + "\n")


def _yes_no(value: bool | None) -> str:
    return "?" if value is None else "yes" if value else "no"


def _count(value: int | None) -> str:
    return "?" if value is None else f"{value:,}"


def _thinking_label(spec: ModelSpec) -> str:
    if spec.thinking == "only":
        return "always"
    if spec.thinking == "none":
        return "never"
    default = {True: "on", False: "off", None: "?"}[spec.thinking_default]
    return f"toggle ({default})"


def _models(out: TextIO) -> int:
    """The catalog; `?` is a fact no source gives (the library then assumes nothing)."""
    header = (
        "model",
        "thinking",
        "stream-only",
        "tools",
        "json",
        "context",
        "max input",
        "max output",
        "max reasoning",
        "px/token",
    )
    rows: list[tuple[str, ...]] = [header]
    for s in list_specs():
        rows.append(
            (
                s.name,
                _thinking_label(s),
                "yes" if s.stream_only else "no",
                _yes_no(s.supports_tools),
                _yes_no(s.supports_json_mode),
                _count(s.context_window),
                _count(s.max_input_tokens),
                _count(s.max_output_tokens),
                _count(s.max_reasoning_tokens) if s.thinking != "none" else "-",
                str(s.pixel_unit),
            )
        )
    _table(rows, out)
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="qwen-vl",
        description="Visual reasoning with Qwen3-VL and QVQ on Alibaba Cloud Model Studio (DashScope).",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    ask = sub.add_parser("ask", help="ask about images or videos; streams the thinking, then the answer")
    ask.add_argument(
        "inputs",
        nargs="+",
        metavar="IMAGE_OR_URL... QUESTION",
        help="image/video paths or URLs, then the question (last)",
    )
    ask.add_argument("--model", default="qwen3-vl-plus", help="model name (default: qwen3-vl-plus)")
    ask.add_argument(
        "--thinking",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="switch thinking on or off (hybrid models; default: the model's own)",
    )
    ask.add_argument("--budget", type=int, default=None, help="thinking budget in tokens")
    ask.add_argument("--high-res", action="store_true", help="send vl_high_resolution_images=true")
    ask.add_argument(
        "--region",
        choices=["intl", "us", "cn"],
        default=None,
        help="intl (Singapore, default), us (Virginia / Global), cn (Beijing)",
    )
    ask.add_argument(
        "--base-url",
        default=None,
        help="an explicit endpoint: a Model Studio workspace URL or a self-hosted "
        "OpenAI-compatible server (vLLM, SGLang, Ollama, llama.cpp)",
    )
    ask.add_argument("--api-key", default=None, help="key for --base-url (default: $DASHSCOPE_API_KEY for DashScope)")
    ask.add_argument(
        "--emulator",
        action="store_true",
        help="answer from the built-in offline emulator (a canned reply; no key or network)",
    )
    ask.add_argument("--draw", default=None, metavar="OUT.png", help="draw the answer's boxes / points on the image")
    add_coordinates_option(ask)
    add_ground_parser(sub)
    sub.add_parser("models", help="list the model catalog")
    est = sub.add_parser(
        "estimate", help="image tokens (and what would be sent) for local images, per model; checks them like ask"
    )
    est.add_argument("files", nargs="+", metavar="FILE")
    est.add_argument("--model", default="qwen3-vl-plus")
    est.add_argument("--high-res", action="store_true", help="estimate with vl_high_resolution_images=true")
    add_batch_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None, *, out: TextIO | None = None, err: TextIO | None = None) -> int:
    out = out or sys.stdout
    err = err or sys.stderr
    args = _parser().parse_args(argv)
    if args.command == "models":
        return _models(out)
    if args.command == "batch":
        return run_batch_command(args, out, err)
    if args.command == "ground":
        return run_ground(args, out, err)
    if args.command == "estimate":
        try:
            return _estimate(args, out)
        except ValueError as exc:
            err.write(f"error: {exc}\n")
            return 2
    if len(args.inputs) < 1:
        err.write("qwen-vl ask: give at least the question.\n")
        return 2
    try:
        return _ask(args, out)
    except MissingAPIKeyError as exc:
        err.write(
            f"error: {exc.message}\n\n"
            "  export DASHSCOPE_API_KEY=sk-...        # then run the command again\n"
            "  qwen-vl ask --region cn ...            # if the key is from Beijing (us: Virginia)\n"
            "  qwen-vl ask --base-url http://localhost:8000/v1 ...   # a self-hosted server\n"
            "  qwen-vl ask --emulator ...             # try it offline\n"
        )
        return 2
    except ValueError as exc:
        err.write(f"error: {exc}\n")
        return 2
    except QwenVLError as exc:
        err.write(f"\nerror: {exc}\n")
        return 1
    except KeyboardInterrupt:
        err.write("\ninterrupted\n")
        return 130


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
