"""Catalog `ModelSpec` → LangChain `ModelProfile`, so agents and middleware can read capabilities."""

from __future__ import annotations

from typing import cast

from langchain_core.language_models import ModelProfile

from qwen_vl_core import ModelSpec

__all__ = ["model_profile"]


def model_profile(spec: ModelSpec) -> ModelProfile:
    """Every Qwen-VL model reads images and videos and can reason; tools and JSON depend on the family.

    `tool_choice` (forcing a tool) is False for thinking-only models because the API rejects forced
    choices in thinking mode; `structured_output` mirrors JSON-mode support (never in thinking mode).
    A later system message is sent as user text by the core, hence `mid_conversation_system_messages`.
    """
    facts: dict[str, object] = {
        "max_input_tokens": spec.max_input_tokens,
        "max_output_tokens": spec.max_output_tokens,
        "text_inputs": True,
        "image_inputs": True,
        "image_url_inputs": True,
        "video_inputs": True,
        "audio_inputs": False,
        "pdf_inputs": False,
        "image_tool_message": False,
        "pdf_tool_message": False,
        "reasoning_output": spec.thinking != "none",
        "text_outputs": True,
        "image_outputs": False,
        "audio_outputs": False,
        "video_outputs": False,
        "tool_calling": spec.supports_tools,
        "tool_choice": None if spec.supports_tools is None else spec.supports_tools and not spec.thinking_only,
        "tool_call_streaming": spec.supports_tools,
        "structured_output": spec.supports_json_mode,
        "mid_conversation_system_messages": False,
        "temperature": True,
    }
    # An unknown fact (None) is left out: the profile says only what the docs say.
    return cast("ModelProfile", {k: v for k, v in facts.items() if v is not None})
