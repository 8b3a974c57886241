"""Find things in a local image with Qwen3-VL: print the boxes in pixels and write an annotated copy.

The model answers on its own grid (Qwen3-VL: 0-1000 relative; QVQ: pixels of the image as the
server resized it); `QwenGroundingParser` maps the boxes back to the pixels of *your* image.

    DASHSCOPE_API_KEY=sk-... python examples/grounding.py --image photo.jpg --find "every person"
    python examples/grounding.py --emulator                     # offline: a generated picture, a scripted reply
    python examples/grounding.py --image photo.jpg --find "every cup" --model qvq-max --out cups.png
"""

from __future__ import annotations

import argparse
import contextlib
import json
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from langchain_core.messages import HumanMessage

from langchain_qwen_vl import ChatQwenVL, QwenGroundingParser
from qwen_vl_core.grounding import GroundingResult, draw_grounding, grounding_prompt

DEMO_SIZE = (1003, 701)  # not a multiple of the 32-px unit: the mapping has to be exact anyway
DEMO_SHAPES = {"circle": ((150, 200, 450, 500), "red"), "square": ((600, 150, 850, 400), "blue")}


def demo_image(folder: Path) -> Path:
    """A picture with a red circle on a dark half and a blue square on a light half."""
    from PIL import Image, ImageDraw

    img = Image.new("RGB", DEMO_SIZE, (245, 245, 240))
    draw = ImageDraw.Draw(img)
    draw.rectangle((0, 0, DEMO_SIZE[0] // 2, DEMO_SIZE[1]), fill=(25, 25, 35))
    draw.ellipse(DEMO_SHAPES["circle"][0], fill=(220, 30, 30))
    draw.rectangle(DEMO_SHAPES["square"][0], fill=(30, 60, 220))
    path = folder / "demo_shapes.png"
    img.save(path)
    return path


def scripted_answer() -> str:
    """What Qwen3-VL would answer for the demo picture: a ```json fence, boxes on the 0-1000 grid."""
    width, height = DEMO_SIZE
    items = [
        {
            "bbox_2d": [
                round(x1 / width * 1000),
                round(y1 / height * 1000),
                round(x2 / width * 1000),
                round(y2 / height * 1000),
            ],
            "label": name,
            "color": color,
        }
        for name, ((x1, y1, x2, y2), color) in DEMO_SHAPES.items()
    ]
    return "Here are the shapes:\n```json\n" + json.dumps(items, indent=2) + "\n```"


def find(model: ChatQwenVL, image: Path, what: str) -> GroundingResult:
    """Ask for boxes around `what` and map them to the image's pixels (the reasoning is not parsed)."""
    prompt = grounding_prompt(what, fields={"color": "the object's color"})
    print(f"Prompt: {prompt}")
    question = HumanMessage(
        content=[{"type": "image", "url": image.resolve().as_uri()}, {"type": "text", "text": prompt}]
    )
    chain = model | QwenGroundingParser(image=image)
    return chain.invoke([question])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--emulator", action="store_true", help="use an in-process emulator (no key, no network)")
    parser.add_argument("--image", type=Path, default=None, help="a local image (default with --emulator: a demo)")
    parser.add_argument("--find", default="every shape", help='what to find, e.g. "every person"')
    parser.add_argument("--model", default="qwen3-vl-plus", help="qwen3-vl-plus, qwen3-vl-flash, qvq-max, ...")
    parser.add_argument("--out", type=Path, default=Path("annotated.png"), help="where to write the annotated image")
    args = parser.parse_args(argv)
    connection: dict[str, Any] = {}  # the real API: key from DASHSCOPE_API_KEY, region intl
    with contextlib.ExitStack() as stack:
        image = args.image
        if args.emulator:
            from qwen_vl_core.testing import DashScopeEmulator, Reply

            emu = stack.enter_context(DashScopeEmulator())
            # The reasoning mentions boxes too; only the answer is parsed.
            emu.enqueue(Reply(reasoning="A red circle [left] and a blue square {right}.", text=scripted_answer()))
            connection = {"base_url": emu.base_url, "api_key": emu.api_key}
            if image is None:
                image = demo_image(Path(stack.enter_context(tempfile.TemporaryDirectory())))
        if image is None:
            parser.error("give --image (or --emulator for the demo picture)")
        model = ChatQwenVL(model=args.model, enable_thinking=True, **connection)
        result = find(model, image, args.find)
        print(
            f"{len(result.boxes)} boxes in pixels of {image.name} ({result.geometry.width}x{result.geometry.height}):"
        )
        for box in result.boxes:
            x1, y1, x2, y2 = box.rounded
            print(f"  {box.label:<8} {box.extra.get('color', ''):<6} ({x1}, {y1}) - ({x2}, {y2})")
        for problem in result.problems:
            print(f"  problem: {problem.message}")
        draw_grounding(image, result, out=args.out)
        print(f"Wrote {args.out.name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
