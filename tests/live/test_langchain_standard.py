"""langchain-tests' standard integration suite for `ChatQwenVL` against the real API.

Collected always; runs only when DASHSCOPE_API_KEY is set (tests/conftest.py skips `live` items).
"""

from __future__ import annotations

from typing import Any

import pytest
from langchain_tests.integration_tests import ChatModelIntegrationTests

from langchain_qwen_vl import ChatQwenVL

pytestmark = pytest.mark.live


class _VisionCaps:
    """Capabilities every Qwen-VL model shares."""

    @property
    def chat_model_class(self) -> type[ChatQwenVL]:
        return ChatQwenVL

    @property
    def supports_image_inputs(self) -> bool:
        return True

    @property
    def supports_image_urls(self) -> bool:
        return True

    @property
    def supports_video_inputs(self) -> bool:
        return True

    @property
    def supports_image_tool_message(self) -> bool:
        return False  # ToolMessage content is text only (ChatQwenVL raises a ValueError for images)


class TestChatQwenVLHybrid(_VisionCaps, ChatModelIntegrationTests):
    """qwen3-vl-flash with thinking off: tools, forced tool choice and JSON mode all apply."""

    @property
    def chat_model_params(self) -> dict[str, Any]:
        return {"model": "qwen3-vl-flash", "enable_thinking": False}

    @property
    def supports_json_mode(self) -> bool:
        return True

    @property
    def model_override_value(self) -> str:
        return "qwen3-vl-plus"


class TestChatQwenVLQVQ(_VisionCaps, ChatModelIntegrationTests):
    """qvq-max: always thinks, streaming-only (invoke must still work), no tools, no JSON mode."""

    @property
    def chat_model_params(self) -> dict[str, Any]:
        return {"model": "qvq-max"}

    @property
    def has_tool_calling(self) -> bool:
        return False

    @property
    def has_tool_choice(self) -> bool:
        return False

    @property
    def has_structured_output(self) -> bool:
        return False

    @property
    def model_override_value(self) -> str:
        return "qvq-plus"
