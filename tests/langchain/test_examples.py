"""Each LangChain example runs end to end offline (`--emulator`) and prints exactly this."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

EXPECTED = {
    "langchain_math_from_image.py": """\
==================== Reasoning ====================
The figure is a rectangle 4 cm wide and 3 cm high; its area is width times height.
==================== Answer ====================
Area = 4 cm x 3 cm = 12 cm^2.
==================== Usage ====================
{'input_tokens': 544, 'output_tokens': 40, 'total_tokens': 584, 'input_token_details': {'image': 520}}
""",
    "langchain_chain.py": """\
Explanation: Multiply the width by the height: 4 cm x 3 cm = 12 cm^2.
Structured: Solution(value=12.0, unit='cm^2')
""",
    "langchain_agent.py": """\
[thinking] The user asks which of Paris and Tokyo is warmer; I will look both up.
[tool call] get_weather({'city': 'Paris'})
[tool call] get_weather({'city': 'Tokyo'})
[tool result] get_weather: 18.0 C
[tool result] get_weather: 24.0 C
[thinking] Tokyo is warmer at 24 C; convert it.
[tool call] to_fahrenheit({'celsius': 24})
[tool result] to_fahrenheit: 75.2
[thinking] I have everything.
[answer] Tokyo is warmer: 24 C, which is 75.2 F.
""",
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_example_runs_against_the_emulator(name: str) -> None:
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / name), "--emulator"],
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": ""},  # no DASHSCOPE_* variables: the emulator run must not need them
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == EXPECTED[name]


def test_every_langchain_example_is_tested() -> None:
    assert sorted(p.name for p in EXAMPLES.glob("langchain_*.py")) == sorted(EXPECTED)
