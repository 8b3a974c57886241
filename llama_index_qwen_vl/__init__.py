"""LlamaIndex adapter: `QwenVL`, Qwen3-VL and QVQ visual reasoning as a `FunctionCallingLLM`.

Also importable as `llama_index.llms.qwen_vl` (the LlamaHub convention).
"""

from __future__ import annotations

from .base import QwenVL
from .grounding import grounding_from_response

__all__ = ["QwenVL", "grounding_from_response"]
