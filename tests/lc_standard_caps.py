"""Capabilities `ChatQwenVL` declares to langchain-tests, shared by the unit suite
(`tests/langchain/test_standard.py`) and the live integration suite (`tests/live/`).
Importable from both because pytest puts `tests/` (it holds a conftest.py) on `sys.path`.
"""

from __future__ import annotations

from langchain_qwen_vl import ChatQwenVL


class VisionCaps:
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
