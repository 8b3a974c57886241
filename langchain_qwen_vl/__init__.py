"""LangChain chat model for Qwen3-VL and QVQ visual reasoning on Alibaba Cloud Model Studio."""

from __future__ import annotations

try:
    import langchain_core  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised in a subprocess by the tests
    raise ImportError(
        "langchain_qwen_vl needs LangChain (langchain-core), which is not installed: "
        'pip install "qwen-vl-reasoning[langchain]"'
    ) from exc

from langchain_qwen_vl.chat_models import ChatQwenVL
from langchain_qwen_vl.grounding import QwenGroundingParser

__all__ = ["ChatQwenVL", "QwenGroundingParser"]
