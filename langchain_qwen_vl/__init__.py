"""LangChain chat model for Qwen3-VL and QVQ visual reasoning on Alibaba Cloud Model Studio."""

from __future__ import annotations

from langchain_qwen_vl.chat_models import ChatQwenVL
from langchain_qwen_vl.grounding import QwenGroundingParser

__all__ = ["ChatQwenVL", "QwenGroundingParser"]
