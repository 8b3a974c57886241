"""Solve a maths problem from a picture with QVQ: stream the reasoning, then the answer.

This is the Model Studio "visual reasoning" guide's example, written with LangChain.

    DASHSCOPE_API_KEY=sk-... python examples/langchain_math_from_image.py      # the real API
    python examples/langchain_math_from_image.py --emulator                     # offline, scripted reply
    python examples/langchain_math_from_image.py --image file:///tmp/problem.png --model qwen3-vl-plus
"""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Sequence
from typing import Any

from langchain_core.messages import AIMessageChunk, HumanMessage

from langchain_qwen_vl import ChatQwenVL

IMAGE_URL = "https://img.alicdn.com/imgextra/i1/O1CN01gDEY8M1W114Hi3XcN_!!6000000002727-0-tps-1024-406.jpg"
QUESTION = "How do I solve this problem?"


def solve(model: ChatQwenVL, image: str, question: str) -> AIMessageChunk:
    """Stream one answer, printing the reasoning first and the answer after it."""
    message = HumanMessage(content=[{"type": "image", "url": image}, {"type": "text", "text": question}])
    print("=" * 20 + " Reasoning " + "=" * 20)
    full: AIMessageChunk | None = None
    answering = False
    for chunk in model.stream([message]):
        reasoning = chunk.additional_kwargs.get("reasoning_content")
        if reasoning:
            print(reasoning, end="", flush=True)
        if chunk.text:
            if not answering:
                print("\n" + "=" * 20 + " Answer " + "=" * 20)
                answering = True
            print(chunk.text, end="", flush=True)
        full = chunk if full is None else full + chunk
    assert full is not None
    print("\n" + "=" * 20 + " Usage " + "=" * 20)
    print(full.usage_metadata)
    return full


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--emulator", action="store_true", help="use an in-process emulator (no key, no network)")
    parser.add_argument("--model", default="qvq-max", help="qvq-max, qwen3-vl-plus, qwen3-vl-32b-thinking, ...")
    parser.add_argument("--image", default=IMAGE_URL, help="an http(s), data: or file:// URL")
    args = parser.parse_args(argv)
    connection: dict[str, Any] = {}  # the real API: key from DASHSCOPE_API_KEY, region intl
    with contextlib.ExitStack() as stack:
        if args.emulator:
            from qwen_vl_core.testing import DashScopeEmulator, Reply

            emu = stack.enter_context(DashScopeEmulator())
            emu.enqueue(
                Reply(
                    reasoning="The figure is a rectangle 4 cm wide and 3 cm high; its area is width times height.",
                    text="Area = 4 cm x 3 cm = 12 cm^2.",
                    usage={
                        "prompt_tokens": 544,
                        "completion_tokens": 40,
                        "total_tokens": 584,
                        "prompt_tokens_details": {"text_tokens": 24, "image_tokens": 520},
                    },
                )
            )
            connection = {"base_url": emu.base_url, "api_key": emu.api_key}
        # enable_thinking=True turns reasoning on for hybrid models; QVQ and *-thinking always reason.
        model = ChatQwenVL(model=args.model, enable_thinking=True, **connection)
        solve(model, args.image, QUESTION)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
