"""pytest plugin: the `dashscope_emulator` fixture. Opt-in; it is not registered automatically.

Enable it in your root `conftest.py`:

    pytest_plugins = ["qwen_vl_core.testing.pytest_plugin"]

or for one run: `pytest -p qwen_vl_core.testing.pytest_plugin`. Importing this module only
defines the fixture; no server starts until a test asks for it.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from qwen_vl_core.testing._server import DashScopeEmulator

__all__ = ["dashscope_emulator"]


@pytest.fixture
def dashscope_emulator() -> Iterator[DashScopeEmulator]:
    """A running `DashScopeEmulator` (key `test-key`, rules enforced), stopped after the test."""
    with DashScopeEmulator() as emulator:
        yield emulator
