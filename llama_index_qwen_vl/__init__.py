"""LlamaIndex adapter: `QwenVL`, Qwen3-VL and QVQ visual reasoning as a `FunctionCallingLLM`.

Also importable as `llama_index.llms.qwen_vl` (the LlamaHub convention).
"""

from __future__ import annotations

try:
    import llama_index.core  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised in a subprocess by the tests
    raise ImportError(
        "llama_index_qwen_vl needs LlamaIndex (llama-index-core), which is not installed: "
        'pip install "qwen-vl-reasoning[llama-index]"'
    ) from exc

from .base import QwenVL
from .grounding import grounding_from_response

__all__ = ["QwenVL", "grounding_from_response"]
