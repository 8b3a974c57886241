"""Without an adapter's extra installed, importing the adapter names the extra to install."""

from __future__ import annotations

import subprocess
import sys

import pytest

BLOCK_AND_IMPORT = """
import sys
sys.modules[{blocked!r}] = None  # as if the package were not installed
try:
    import {module}
except ImportError as exc:
    print(exc)
"""


@pytest.mark.parametrize(
    ("module", "blocked", "message"),
    [
        (
            "langchain_qwen_vl",
            "langchain_core",
            "langchain_qwen_vl needs LangChain (langchain-core), which is not installed: pip install "
            '"qwen-vl-reasoning[langchain]"',
        ),
        (
            "llama_index_qwen_vl",
            "llama_index.core",
            "llama_index_qwen_vl needs LlamaIndex (llama-index-core), which is not installed: pip install "
            '"qwen-vl-reasoning[llama-index]"',
        ),
        (
            "llama_index.llms.qwen_vl",
            "llama_index.core",
            "llama_index_qwen_vl needs LlamaIndex (llama-index-core), which is not installed: pip install "
            '"qwen-vl-reasoning[llama-index]"',
        ),
    ],
)
def test_missing_extra_names_what_to_install(module: str, blocked: str, message: str) -> None:
    code = BLOCK_AND_IMPORT.format(blocked=blocked, module=module)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert result.stdout.strip() == message


def test_the_core_imports_without_either_framework() -> None:
    code = (
        "import sys\n"
        "for name in ('langchain_core', 'llama_index', 'llama_index.core'):\n"
        "    sys.modules[name] = None\n"
        "import qwen_vl_core, qwen_vl_core.kit, qwen_vl_core.testing\n"
        "print('ok')\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert result.stdout.strip() == "ok"
