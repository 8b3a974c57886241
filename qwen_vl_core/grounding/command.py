"""`qwen-vl ground` and `qwen-vl ask --draw`: boxes as a table, and the annotated picture.

qwen-vl ground photo.jpg "every person" --out annotated.png
qwen-vl ground photo.jpg "the handle of the mug" --points --out annotated.png
qwen-vl ask photo.jpg "Box every defect, as JSON." --draw annotated.png
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any, TextIO

from ..catalog import get_spec
from ..client import QwenVLClient
from ..errors import MissingAPIKeyError, QwenVLError
from ..imaging import pillow_available
from ..sources import image, is_remote
from ..types import ChatRequest, ImagePart, Message, TextPart, ThinkingOptions
from .draw import draw_grounding
from .geometry import RELATIVE_GRID, ImageGeometry, image_geometry, map_to_image
from .parse import parse_answer
from .prompts import default_label, grounding_prompt
from .types import Box, GroundingError, GroundingResult

__all__ = ["add_coordinates_option", "add_ground_parser", "draw_answer", "draw_target", "report", "run_ground"]

_VIDEO_SUFFIXES = {".mp4", ".avi", ".mkv", ".mov", ".flv", ".wmv", ".webm"}
_DEMO_BOXES = ((0.10, 0.15, 0.45, 0.80), (0.55, 0.20, 0.90, 0.85))
"""Where the emulator's demo answer puts its two items, as fractions of the image."""


def add_ground_parser(sub: Any) -> None:
    """Add `ground` to the `qwen-vl` parser."""
    ground = sub.add_parser("ground", help="find things in an image: boxes (or points) as a table and a picture")
    ground.add_argument("image", metavar="IMAGE", help="a local image file")
    ground.add_argument("what", metavar="WHAT", help='what to find, e.g. "every person" or "the red car"')
    ground.add_argument("--out", default=None, metavar="OUT.png", help="write the annotated image here")
    ground.add_argument("--points", action="store_true", help="ask for points instead of boxes")
    ground.add_argument("--as-is", action="store_true", help="send WHAT as the whole prompt (no cookbook wording)")
    ground.add_argument("--model", default="qwen3-vl-plus", help="model name (default: qwen3-vl-plus)")
    ground.add_argument(
        "--thinking", action=argparse.BooleanOptionalAction, default=None, help="switch thinking on or off"
    )
    ground.add_argument("--budget", type=int, default=None, help="thinking budget in tokens")
    ground.add_argument("--high-res", action="store_true", help="send vl_high_resolution_images=true")
    add_coordinates_option(ground)
    ground.add_argument("--region", choices=["intl", "us", "cn"], default=None, help="intl (default), us or cn")
    ground.add_argument("--base-url", default=None, help="an explicit endpoint (workspace or self-hosted server)")
    ground.add_argument("--api-key", default=None, help="key for --base-url (default: $DASHSCOPE_API_KEY)")
    ground.add_argument("--emulator", action="store_true", help="answer from the built-in offline emulator (a demo)")


def add_coordinates_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--coordinates",
        choices=["relative", "absolute"],
        default=None,
        help="how the model answers: relative 0-1000 grid or absolute pixels (default: from the catalog)",
    )


def _local_image(source: str) -> ImagePart:
    if is_remote(source):
        raise ValueError(f"{source[:80]!r} is a URL: drawing needs a local image file (URLs are never downloaded).")
    return image(source)


def draw_target(sources: Sequence[str], args: argparse.Namespace) -> tuple[ImagePart, ImageGeometry]:
    """The image `ask --draw` draws on (the first local image) and its geometry; checked before sending."""
    for source in sources:
        if not is_remote(source) and Path(source.split("?", 1)[0]).suffix.lower() not in _VIDEO_SUFFIXES:
            return _checked(_local_image(source), args, drawing=True)
    raise ValueError("--draw needs a local image among the inputs (URLs are never downloaded, videos are not drawn).")


def _checked(part: ImagePart, args: argparse.Namespace, *, drawing: bool) -> tuple[ImagePart, ImageGeometry]:
    """The image's geometry, and every reason the answer could not be mapped or drawn, before sending."""
    if drawing and not pillow_available():
        raise ValueError("Drawing needs Pillow: pip install 'qwen-vl-reasoning[images]'.")
    spec = get_spec(args.model, warn=False)  # the request itself warns about an unknown model
    geometry = image_geometry(part, model=spec, high_res=bool(args.high_res), coordinates=args.coordinates)
    map_to_image(GroundingResult(), geometry)  # an unknown convention or frame fails here
    return part, geometry


def _rows(result: GroundingResult) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = [("#", "kind", "label", "x1", "y1", "x2", "y2", "notes")]
    for item in result.items:
        notes = [f"{k}={json.dumps(v, ensure_ascii=False)}" for k, v in item.extra.items()]
        if item.clamped:
            notes.append("clamped")
        if isinstance(item, Box):
            if item.reordered:
                notes.append("corners swapped")
            cells = ("box", *(str(v) for v in item.rounded))
        else:
            cells = ("point", *(str(v) for v in item.rounded), "", "")
        rows.append((str(item.index), cells[0], item.label or "", *cells[1:], ", ".join(notes)))
    return rows


def _table(rows: list[tuple[str, ...]], out: TextIO) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        out.write("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() + "\n")


def report(result: GroundingResult, name: str, out: TextIO) -> None:
    """The table of boxes and points, then every problem."""
    geometry = result.geometry
    assert geometry is not None
    counts = f"{len(result.boxes)} box(es), {len(result.points)} point(s)"
    out.write(
        f"{counts} in pixels of {name} ({geometry.width}x{geometry.height}; the model saw "
        f"{geometry.model_width}x{geometry.model_height}, {geometry.coordinates} coordinates)\n"
    )
    if result.items:
        _table(_rows(result), out)
    for problem in result.problems:
        out.write(f"problem: {problem.message}" + (f": {problem.excerpt}" if problem.excerpt else "") + "\n")


def draw_answer(part: ImagePart, geometry: ImageGeometry, text: str, target: str | None, out: TextIO) -> None:
    """Parse `text`, print the table, and draw on the image when `target` is given and there is something to draw."""
    result = map_to_image(parse_answer(text), geometry)
    name = part.label or "the image"
    report(result, name, out)
    if target is None:
        return
    if not result.items:
        out.write("nothing to draw: the answer has no boxes or points\n")
        return
    draw_grounding(part, result, out=target)
    out.write(f"wrote {target}\n")


def _demo_answer(geometry: ImageGeometry, what: str, points: bool) -> str:
    """The emulator's answer: two items in the model's own coordinates, so every model family maps back alike."""
    if geometry.coordinates == "absolute":
        sx, sy = geometry.model_width, geometry.model_height
    else:
        sx = sy = RELATIVE_GRID
    label = default_label(what)
    items = []
    for x1, y1, x2, y2 in _DEMO_BOXES:
        if points:
            items.append({"point_2d": [round((x1 + x2) / 2 * sx), round((y1 + y2) / 2 * sy)], "label": label})
        else:
            items.append({"bbox_2d": [round(x1 * sx), round(y1 * sy), round(x2 * sx), round(y2 * sy)], "label": label})
    return "```json\n" + json.dumps(items, ensure_ascii=False, indent=2) + "\n```"


def _ground(args: argparse.Namespace, out: TextIO) -> int:
    part, geometry = _checked(_local_image(args.image), args, drawing=args.out is not None)
    prompt = args.what if args.as_is else grounding_prompt(args.what, kind="point" if args.points else "box")
    request = ChatRequest(
        model=args.model,
        messages=(Message("user", (part, TextPart(prompt))),),
        thinking=ThinkingOptions(enable=args.thinking, budget=args.budget),
        vl_high_resolution_images=True if args.high_res else None,
    )
    with ExitStack() as stack:
        base_url, api_key = args.base_url, args.api_key
        if args.emulator:
            from ..testing import DashScopeEmulator, Reply

            emulator = stack.enter_context(DashScopeEmulator())
            emulator.enqueue(Reply(text=_demo_answer(geometry, args.what, args.points)))
            base_url, api_key = emulator.base_url, emulator.api_key
        client = QwenVLClient(api_key=api_key, region=args.region, base_url=base_url)
        stack.callback(client.close)
        answer = client.chat(request).text
    draw_answer(part, geometry, answer, args.out, out)
    return 0


def run_ground(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    try:
        return _ground(args, out)
    except MissingAPIKeyError as exc:
        err.write(f"error: {exc.message}\n  (or try it offline: qwen-vl ground --emulator ...)\n")
        return 2
    except (GroundingError, ValueError) as exc:
        err.write(f"error: {exc}\n")
        return 2
    except QwenVLError as exc:
        err.write(f"error: {exc}\n")
        return 1
    except KeyboardInterrupt:
        err.write("\ninterrupted\n")
        return 130
