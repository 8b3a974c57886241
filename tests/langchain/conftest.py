"""Fixtures for the LangChain adapter tests: an emulator-backed `ChatQwenVL` factory on both wire
protocols (the `protocol` fixture) and a real PNG."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from lc_support import PROTOCOLS, endpoint
from PIL import Image

from langchain_qwen_vl import ChatQwenVL
from qwen_vl_core.testing import DashScopeEmulator


@pytest.fixture(autouse=True)
def _no_dashscope_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A developer's real key or region must never change what these offline tests see."""
    for name in ("DASHSCOPE_API_KEY", "DASHSCOPE_BASE_URL", "DASHSCOPE_REGION", "LC_OUTPUT_VERSION"):
        monkeypatch.delenv(name, raising=False)
    return


@pytest.fixture
def emu(dashscope_emulator: DashScopeEmulator) -> DashScopeEmulator:
    return dashscope_emulator


@pytest.fixture(params=PROTOCOLS)
def protocol(request: pytest.FixtureRequest) -> str:
    """Every test that builds a model through `make_model` runs once per wire protocol."""
    return str(request.param)


@pytest.fixture
async def make_model(emu: DashScopeEmulator, protocol: str) -> AsyncIterator[Callable[..., ChatQwenVL]]:
    """`make_model(model, **fields)`: a `ChatQwenVL` pointed at the emulator's route for `protocol`,
    no retries.

    Async so the teardown closes each model's async HTTP pool on the test's own event loop.
    """
    made: list[ChatQwenVL] = []

    def make(model: str = "qwen3-vl-plus", **fields: Any) -> ChatQwenVL:
        fields.setdefault("max_retries", 0)
        # One chunk per server event: tests count chunks (coalescing has its own tests).
        fields.setdefault("coalesce_deltas", False)
        chat = ChatQwenVL(model=model, api_key=emu.api_key, **endpoint(emu, protocol), **fields)
        made.append(chat)
        return chat

    yield make
    for chat in made:
        client = chat._clients.client
        if client is not None:
            client.close()
            await client.aclose()


@pytest.fixture
def png_bytes() -> bytes:
    """A real 32x32 PNG made with Pillow (the API wants both sides above 10 px)."""
    buffer = io.BytesIO()
    Image.new("RGB", (32, 32), (255, 0, 0)).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
def png_file(tmp_path: Path, png_bytes: bytes) -> Path:
    path = tmp_path / "red.png"
    path.write_bytes(png_bytes)
    return path
