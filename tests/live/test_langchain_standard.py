"""langchain-tests' standard integration suite for `ChatQwenVL` against the real API.

Collected always; runs only when DASHSCOPE_API_KEY is set (tests/conftest.py skips `live` items).
"""

from __future__ import annotations

from typing import Any

import pytest
from langchain_tests.integration_tests import ChatModelIntegrationTests
from lc_standard_caps import VisionCaps

pytestmark = pytest.mark.live


class TestChatQwenVLHybrid(VisionCaps, ChatModelIntegrationTests):
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


class TestChatQwenVLQVQ(VisionCaps, ChatModelIntegrationTests):
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
