"""Package surface: exports, and the `llama_index.llms.qwen_vl` alias next to llama-index-core."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import llama_index_qwen_vl

ROOT = Path(__file__).resolve().parents[2]


def test_all_is_pinned() -> None:
    assert llama_index_qwen_vl.__all__ == ["QwenVL", "grounding_from_response"]


def test_namespace_dirs_have_no_init() -> None:
    # An __init__.py here would shadow llama-index-core and every other integration.
    assert not (ROOT / "llama_index" / "__init__.py").exists()
    assert not (ROOT / "llama_index" / "llms" / "__init__.py").exists()
    assert (ROOT / "llama_index" / "llms" / "qwen_vl" / "__init__.py").is_file()


def test_alias_imports_beside_llama_index_core(tmp_path: Path) -> None:
    # A fresh interpreter outside the repo: the alias must come from the installed (editable)
    # distribution and share the namespace with llama-index-core.
    code = (
        "import llama_index.core, llama_index.llms.qwen_vl as alias, llama_index_qwen_vl as pkg\n"
        "from llama_index.core.llms import LLM\n"
        "assert alias.QwenVL is pkg.QwenVL and issubclass(alias.QwenVL, LLM)\n"
        "assert alias.__all__ == ['QwenVL']\n"
        "print(len(list(__import__('llama_index').__path__)))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "2\n"  # site-packages/llama_index and the repo's llama_index
