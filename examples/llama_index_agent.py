"""A LlamaIndex `FunctionAgent` with tools on `QwenVL`, streaming its thinking and its answer.

    DASHSCOPE_API_KEY=... python examples/llama_index_agent.py
    DASHSCOPE_API_KEY=... python examples/llama_index_agent.py --image shelf.jpg "How much do the apples cost?"
    python examples/llama_index_agent.py --emulator          # offline, scripted replies

The agent looks at the (optional) image, calls the tools (several in parallel when it can), and
answers. Thinking arrives as `AgentStream.thinking_delta`, the answer as `AgentStream.delta`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from llama_index.core.agent.workflow import AgentStream, FunctionAgent, ToolCallResult
from llama_index.core.base.llms.types import ChatMessage, ImageBlock, TextBlock

from llama_index_qwen_vl import QwenVL

PRICES = {"apple": 0.5, "banana": 0.25, "cherry": 4.0}


def unit_price(fruit: str) -> float:
    """Price of one fruit in euros (apple, banana or cherry)."""
    return PRICES[fruit.lower().rstrip("s")]


def multiply(a: float, b: float) -> float:
    """Multiply two numbers."""
    return a * b


@contextlib.contextmanager
def emulated() -> Iterator[dict[str, Any]]:
    """An in-process DashScope emulator scripted with two tool rounds and an answer."""
    from qwen_vl_core.testing import DashScopeEmulator, Reply, ToolCallReply

    with DashScopeEmulator() as emu:
        emu.enqueue(
            Reply(
                reasoning="I need the prices of apples and bananas.",
                tool_calls=[
                    ToolCallReply(name="unit_price", arguments='{"fruit": "apple"}'),
                    ToolCallReply(name="unit_price", arguments='{"fruit": "banana"}'),
                ],
            ),
            Reply(
                reasoning="Six apples at 0.5 each.",
                tool_calls=[ToolCallReply(name="multiply", arguments='{"a": 6, "b": 0.5}')],
            ),
            Reply(reasoning="Done.", text="Six apples cost 3.00 EUR; a banana costs 0.25 EUR."),
        )
        yield {"base_url": emu.base_url, "api_key": emu.api_key}


async def run(llm: QwenVL, question: str, image: Path | None) -> None:
    agent = FunctionAgent(
        tools=[unit_price, multiply],
        llm=llm,
        system_prompt="You are a shop assistant. Use the tools for every price and every calculation.",
    )
    blocks: list[Any] = [ImageBlock(path=image)] if image else []
    user_msg = ChatMessage(role="user", blocks=[*blocks, TextBlock(text=question)])
    try:
        handler = agent.run(user_msg=user_msg)
        thinking = False
        async for event in handler.stream_events():
            if isinstance(event, AgentStream):
                if event.thinking_delta:
                    if not thinking:
                        print("[thinking] ", end="")
                        thinking = True
                    print(event.thinking_delta, end="", flush=True)
                if event.delta:
                    if thinking:
                        print()
                        thinking = False
                    print(event.delta, end="", flush=True)
            elif isinstance(event, ToolCallResult):
                if thinking:
                    print()
                    thinking = False
                print(f"[tool] {event.tool_name}({event.tool_kwargs}) -> {event.tool_output.content}")
        await handler
        print()
    finally:
        await llm.aclose()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("question", nargs="?", default="What do six apples cost, and one banana?")
    parser.add_argument("--image", type=Path, help="an image to ask about")
    parser.add_argument("--model", default="qwen3-vl-plus", help="a Qwen3-VL model with tool calling")
    parser.add_argument("--emulator", action="store_true", help="run offline against an in-process emulator")
    args = parser.parse_args(argv)
    if args.emulator:
        with emulated() as connection:
            llm = QwenVL(model=args.model, enable_thinking=True, **connection)
            asyncio.run(run(llm, args.question, args.image))
        return
    asyncio.run(run(QwenVL(model=args.model, enable_thinking=True), args.question, args.image))


if __name__ == "__main__":
    main()
