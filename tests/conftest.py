"""Test-wide setup: `live` tests run only with a real key; everything else stays on loopback."""

from __future__ import annotations

import os

import pytest

# The emulator's fixture is opt-in (no pytest11 entry point); this suite opts in.
pytest_plugins = ["qwen_vl_core.testing.pytest_plugin"]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get("DASHSCOPE_API_KEY"):
        return
    skip = pytest.mark.skip(reason="live test: set DASHSCOPE_API_KEY to run it against the real API")
    for item in items:
        if "live" in item.keywords:
            item.add_marker(skip)
