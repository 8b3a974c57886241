"""LlamaIndex adapter: `QwenVL`, Qwen3-VL and QVQ visual reasoning as a `FunctionCallingLLM`.

Also importable as `llama_index.llms.qwen_vl` (the LlamaHub convention).
"""

from __future__ import annotations

from .base import QwenVL

__all__ = ["QwenVL"]
