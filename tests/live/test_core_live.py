"""Against the real API; collected always, run only when DASHSCOPE_API_KEY is set (see tests/conftest.py)."""

from __future__ import annotations

import os

import pytest

from qwen_vl_core import (
    ChatRequest,
    ImagePart,
    Message,
    QwenVLClient,
    ReasoningDelta,
    StreamEnd,
    TextPart,
    ThinkingOptions,
    UsageUpdate,
)

pytestmark = pytest.mark.live

IMAGE = "https://help-static-aliyun-doc.aliyuncs.com/file-manage-files/zh-CN/20241022/emyrja/dog_and_girl.jpeg"
REGION = os.environ.get("DASHSCOPE_REGION", "intl")


def _question() -> tuple[Message, ...]:
    return (Message("user", (ImagePart(IMAGE), TextPart("How many living beings are in the picture? One word."))),)


def test_hybrid_thinking_stream_has_reasoning_answer_and_usage() -> None:
    client = QwenVLClient(region=REGION)
    request = ChatRequest(
        model="qwen3-vl-flash", messages=_question(), thinking=ThinkingOptions(enable=True, budget=500)
    )
    events = list(client.stream(request))
    assert any(isinstance(e, ReasoningDelta) for e in events)
    usage = next(e.usage for e in events if isinstance(e, UsageUpdate))
    assert usage.input_tokens > 0
    assert isinstance(events[-1], StreamEnd)
    assert events[-1].finish_reason == "stop"


def test_qvq_chat_streams_and_aggregates() -> None:
    result = QwenVLClient(region=REGION).chat(ChatRequest(model="qvq-max", messages=_question()))
    assert result.reasoning
    assert result.text
    assert result.finish_reason == "stop"
