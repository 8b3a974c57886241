"""LangChain chat model for Qwen3-VL and QVQ visual reasoning on Alibaba Cloud Model Studio."""

from __future__ import annotations

from langchain_qwen_vl.chat_models import ChatQwenVL

__all__ = ["ChatQwenVL"]
