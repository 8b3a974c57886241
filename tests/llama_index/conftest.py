"""Fixtures for the LlamaIndex adapter tests: an emulator-backed `QwenVL` factory on both wire
protocols (the `protocol` fixture) and tiny media."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from li_support import PNG, PROTOCOLS, endpoint

from llama_index_qwen_vl import QwenVL
from qwen_vl_core.testing import DashScopeEmulator


@pytest.fixture
def emu(dashscope_emulator: DashScopeEmulator) -> DashScopeEmulator:
    return dashscope_emulator


@pytest.fixture(params=PROTOCOLS)
def protocol(request: pytest.FixtureRequest) -> str:
    """Every test that builds an LLM through `make_llm` runs once per wire protocol."""
    return str(request.param)


@pytest.fixture
async def make_llm(emu: DashScopeEmulator, protocol: str) -> AsyncIterator[Callable[..., QwenVL]]:
    """`make_llm(model, **fields)`: a `QwenVL` pointed at the emulator's route for `protocol`, closed
    (sync and async) after the test, inside the test's event loop."""
    made: list[QwenVL] = []

    def make(model: str = "qwen3-vl-plus", **fields: Any) -> QwenVL:
        # One response per server event: tests count responses (coalescing has its own tests).
        fields.setdefault("coalesce_deltas", False)
        llm = QwenVL(model=model, api_key=emu.api_key, **endpoint(emu, protocol), **fields)
        made.append(llm)
        return llm

    yield make
    for llm in made:
        llm.close()
        await llm.aclose()


@pytest.fixture
def png_file(tmp_path: Path) -> Path:
    path = tmp_path / "dot.png"
    path.write_bytes(PNG)
    return path
