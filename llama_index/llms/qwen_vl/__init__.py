"""`from llama_index.llms.qwen_vl import QwenVL`: an alias of `llama_index_qwen_vl`.

`llama_index/` and `llama_index/llms/` are PEP 420 namespace packages shared with llama-index-core
and every other integration; they must never get an `__init__.py`.
"""

from __future__ import annotations

from llama_index_qwen_vl import QwenVL

__all__ = ["QwenVL"]
