"""The public surface of `langchain_qwen_vl` is exactly `ChatQwenVL` and `QwenGroundingParser`."""

from __future__ import annotations

import subprocess
import sys

import langchain_qwen_vl


def test_all_is_pinned() -> None:
    assert langchain_qwen_vl.__all__ == ["ChatQwenVL", "QwenGroundingParser"]


def test_every_name_in_all_is_importable() -> None:
    for name in langchain_qwen_vl.__all__:
        assert getattr(langchain_qwen_vl, name).__name__ == name


def test_importing_the_adapter_does_not_load_llama_index() -> None:
    code = "import sys, langchain_qwen_vl; print(sorted(m for m in sys.modules if m.startswith('llama_index')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
