"""The LlamaIndex examples run offline (`--emulator`) and print exactly the scripted conversation."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_multimodal_query_example(capsys: pytest.CaptureFixture[str]) -> None:
    _load("llama_index_multimodal_query").main(["--emulator"])
    assert capsys.readouterr().out == (
        "Two small squares, one red and one blue.\n\n[reasoning]\nTwo small squares: one red, one blue.\n"
    )


def test_multimodal_query_example_on_a_given_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    module = _load("llama_index_multimodal_query")
    with pytest.raises(SystemExit, match=r"^No images in "):
        module.main([str(tmp_path), "--emulator"])


# Deprecations inside llama-index-core / llama-index-workflows (see test_li_agents.py).
@pytest.mark.filterwarnings("ignore::pydantic.warnings.PydanticDeprecationWarning")
def test_agent_example(capsys: pytest.CaptureFixture[str]) -> None:
    _load("llama_index_agent").main(["--emulator"])
    assert capsys.readouterr().out == (
        "[thinking] I need the prices of apples and bananas.\n"
        "[tool] unit_price({'fruit': 'apple'}) -> 0.5\n"
        "[tool] unit_price({'fruit': 'banana'}) -> 0.25\n"
        "[thinking] Six apples at 0.5 each.\n"
        "[tool] multiply({'a': 6, 'b': 0.5}) -> 3.0\n"
        "[thinking] Done.\n"
        "Six apples cost 3.00 EUR; a banana costs 0.25 EUR.\n"
    )
