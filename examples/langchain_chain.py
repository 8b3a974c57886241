"""A LangChain chain: prompt template (with an image) | ChatQwenVL | output parser.

DASHSCOPE_API_KEY=sk-... python examples/langchain_chain.py      # the real API
python examples/langchain_chain.py --emulator                     # offline, scripted replies
"""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Sequence
from typing import Any

from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import ChatPromptTemplate
from pydantic import BaseModel, Field

from langchain_qwen_vl import ChatQwenVL

IMAGE_URL = "https://img.alicdn.com/imgextra/i1/O1CN01gDEY8M1W114Hi3XcN_!!6000000002727-0-tps-1024-406.jpg"

prompt = ChatPromptTemplate.from_messages(
    [
        ("system", "You are a patient maths tutor. Answer in {language}, in at most three sentences."),
        (
            "human",
            [
                {"type": "image_url", "image_url": {"url": "{image_url}"}},
                {"type": "text", "text": "{question}"},
            ],
        ),
    ]
)


class Solution(BaseModel):
    """The final result of a maths problem."""

    value: float = Field(description="the numeric answer")
    unit: str = Field(description="the unit of the answer, e.g. cm^2")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--emulator", action="store_true", help="use an in-process emulator (no key, no network)")
    parser.add_argument("--model", default="qwen3-vl-plus")
    args = parser.parse_args(argv)
    connection: dict[str, Any] = {}  # the real API: key from DASHSCOPE_API_KEY, region intl
    with contextlib.ExitStack() as stack:
        if args.emulator:
            from qwen_vl_core.testing import DashScopeEmulator, Reply, ToolCallReply

            emu = stack.enter_context(DashScopeEmulator())
            emu.enqueue(
                Reply(text="Multiply the width by the height: 4 cm x 3 cm = 12 cm^2."),
                Reply(tool_calls=[ToolCallReply("Solution", '{"value": 12, "unit": "cm^2"}')]),
            )
            connection = {"base_url": emu.base_url, "api_key": emu.api_key}
        model = ChatQwenVL(model=args.model, temperature=0.2, **connection)
        inputs = {"language": "English", "image_url": IMAGE_URL, "question": "How do I solve this problem?"}

        explain = prompt | model | StrOutputParser()
        print("Explanation:", explain.invoke(inputs))

        # Same prompt, typed result: function calling with the tool forced (thinking stays off).
        extract = prompt | model.with_structured_output(Solution)
        solution = extract.invoke({**inputs, "question": "Give only the final answer."})
        print("Structured:", repr(solution))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
