"""A LangChain agent (`create_agent`) with two tools on a thinking Qwen3-VL model.

The model calls `get_weather` for two cities in parallel, converts the warmer temperature with
`to_fahrenheit`, then answers; each step's reasoning, tool calls and results are printed. Images
go in the `HumanMessage` content exactly as in `langchain_math_from_image.py`.

    DASHSCOPE_API_KEY=sk-... python examples/langchain_agent.py      # the real API
    python examples/langchain_agent.py --emulator                     # offline, scripted replies
"""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Sequence
from typing import Any

from langchain.agents import create_agent
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langchain_core.tools import tool

from langchain_qwen_vl import ChatQwenVL

WEATHER = {"paris": 18.0, "tokyo": 24.0}


@tool
def get_weather(city: str) -> str:
    """Current temperature of a city in degrees Celsius."""
    celsius = WEATHER.get(city.strip().lower())
    return f"{celsius} C" if celsius is not None else f"No data for {city}."


@tool
def to_fahrenheit(celsius: float) -> float:
    """Convert a temperature from Celsius to Fahrenheit."""
    return round(celsius * 9 / 5 + 32, 1)


def _script(emu: Any) -> None:
    from qwen_vl_core.testing import Reply, ToolCallReply

    emu.enqueue(
        Reply(
            reasoning="The user asks which of Paris and Tokyo is warmer; I will look both up.",
            tool_calls=[
                ToolCallReply("get_weather", '{"city": "Paris"}'),
                ToolCallReply("get_weather", '{"city": "Tokyo"}'),
            ],
        ),
        Reply(
            reasoning="Tokyo is warmer at 24 C; convert it.",
            tool_calls=[ToolCallReply("to_fahrenheit", '{"celsius": 24}')],
        ),
        Reply(reasoning="I have everything.", text="Tokyo is warmer: 24 C, which is 75.2 F."),
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--emulator", action="store_true", help="use an in-process emulator (no key, no network)")
    parser.add_argument("--model", default="qwen3-vl-plus")
    args = parser.parse_args(argv)
    connection: dict[str, Any] = {}  # the real API: key from DASHSCOPE_API_KEY, region intl
    with contextlib.ExitStack() as stack:
        if args.emulator:
            from qwen_vl_core.testing import DashScopeEmulator

            emu = stack.enter_context(DashScopeEmulator())
            _script(emu)
            connection = {"base_url": emu.base_url, "api_key": emu.api_key}
        model = ChatQwenVL(model=args.model, enable_thinking=True, parallel_tool_calls=True, **connection)
        agent = create_agent(
            model,
            tools=[get_weather, to_fahrenheit],
            system_prompt="You are a travel assistant. Use the tools; never guess temperatures.",
        )
        question = HumanMessage("I'm choosing between Paris and Tokyo. Which is warmer now, in Fahrenheit?")
        printer = _Printer()
        for update in agent.stream({"messages": [question]}, stream_mode="updates"):
            for step in update.values():
                for message in (step or {}).get("messages", []):
                    printer.show(message)
    return 0


class _Printer:
    """Prints each step; parallel tool results (which finish in any order) in the order they were called."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.results: dict[str, ToolMessage] = {}

    def show(self, message: Any) -> None:
        if isinstance(message, AIMessage):
            reasoning = message.additional_kwargs.get("reasoning_content")
            if reasoning:
                print(f"[thinking] {reasoning}")
            for call in message.tool_calls:
                print(f"[tool call] {call['name']}({call['args']})")
            if message.text:
                print(f"[answer] {message.text}")
            self.calls, self.results = [str(call["id"]) for call in message.tool_calls], {}
        elif isinstance(message, ToolMessage):
            self.results[message.tool_call_id] = message
            if set(self.calls) <= set(self.results):
                for call_id in self.calls:
                    result = self.results[call_id]
                    print(f"[tool result] {result.name}: {result.text}")


if __name__ == "__main__":
    raise SystemExit(main())
