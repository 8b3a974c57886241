"""Test-wide setup: `live` tests run only with a real key; everything else stays on loopback. The
fixtures that drive both adapters through one scenario live here too."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from adapter_support import ADAPTERS, Adapter
from protocol_support import PROTOCOLS, endpoint

from qwen_vl_core.testing import DashScopeEmulator

# The emulator's fixture is opt-in (no pytest11 entry point); this suite opts in.
pytest_plugins = ["qwen_vl_core.testing.pytest_plugin"]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get("DASHSCOPE_API_KEY"):
        return
    skip = pytest.mark.skip(reason="live test: set DASHSCOPE_API_KEY to run it against the real API")
    for item in items:
        if "live" in item.keywords:
            item.add_marker(skip)


# -- both adapters, one scenario (test_parity.py, test_families.py) -------------------------------


@pytest.fixture(params=list(ADAPTERS))
def adapter(request: pytest.FixtureRequest) -> Adapter:
    return ADAPTERS[request.param]


@pytest.fixture(params=PROTOCOLS)
def protocol(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def emu(dashscope_emulator: DashScopeEmulator) -> DashScopeEmulator:
    return dashscope_emulator


@pytest.fixture
def make(adapter: Adapter, emu: DashScopeEmulator, protocol: str) -> Iterator[Callable[..., Any]]:
    made: list[Any] = []

    def build(model: str = "qwen3-vl-plus", **fields: Any) -> Any:
        instance = adapter.make(model=model, api_key=emu.api_key, **endpoint(emu, protocol), **fields)
        made.append(instance)
        return instance

    yield build
    for instance in made:
        instance.close()
