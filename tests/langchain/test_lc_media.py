"""Images and videos reach the wire exactly as DashScope's compat API wants them."""

from __future__ import annotations

import base64
from collections.abc import Callable
from pathlib import Path

import pytest
from langchain_core.messages import HumanMessage

from langchain_qwen_vl import ChatQwenVL
from qwen_vl_core.testing import DashScopeEmulator, Reply

ChatFactory = Callable[..., ChatQwenVL]
URL = "https://example.com/triangle.png"


def _sent_content(emu: DashScopeEmulator) -> object:
    messages = emu.last_request.body["messages"]
    assert len(messages) == 1
    return messages[0]["content"]


def test_image_by_url_keeps_order_and_max_pixels(make_model: ChatFactory, emu: DashScopeEmulator) -> None:
    make_model().invoke(
        [
            HumanMessage(
                content=[
                    {"type": "text", "text": "Compare"},
                    {"type": "image_url", "image_url": {"url": URL}, "max_pixels": 1_003_520},
                    {"type": "text", "text": "with"},
                    {"type": "image", "url": "https://example.com/b.jpg"},
                ]
            )
        ]
    )
    assert _sent_content(emu) == [
        {"type": "text", "text": "Compare"},
        {"type": "image_url", "image_url": {"url": URL}, "max_pixels": 1_003_520},
        {"type": "text", "text": "with"},
        {"type": "image_url", "image_url": {"url": "https://example.com/b.jpg"}},
    ]


def test_data_url_file_url_and_base64_block(
    make_model: ChatFactory, emu: DashScopeEmulator, png_file: Path, png_bytes: bytes
) -> None:
    b64 = base64.b64encode(png_bytes).decode()
    data_url = f"data:image/png;base64,{b64}"
    make_model("qvq-max").invoke(
        [
            HumanMessage(
                content=[
                    {"type": "image_url", "image_url": {"url": data_url}},
                    {"type": "image_url", "image_url": {"url": png_file.as_uri()}},
                    {"type": "image", "base64": b64, "mime_type": "image/png"},
                    {"type": "image", "source_type": "base64", "data": b64, "mime_type": "image/png"},
                    {"type": "image", "url": png_file.as_uri()},
                    {"type": "text", "text": "Same picture five times?"},
                ]
            )
        ]
    )
    assert _sent_content(emu) == [
        *[{"type": "image_url", "image_url": {"url": data_url}}] * 5,
        {"type": "text", "text": "Same picture five times?"},
    ]


def test_videos(make_model: ChatFactory, emu: DashScopeEmulator) -> None:
    make_model().invoke(
        [
            HumanMessage(
                content=[
                    {"type": "video", "video": [URL, URL, URL, URL], "fps": 2},
                    {"type": "video_url", "video_url": {"url": "https://example.com/a.mp4"}},
                    {"type": "video", "url": "https://example.com/b.mp4", "extras": {"fps": 0.5}},
                    {"type": "text", "text": "What happens?"},
                ]
            )
        ]
    )
    assert _sent_content(emu) == [
        {"type": "video", "video": [URL, URL, URL, URL], "fps": 2},
        {"type": "video_url", "video_url": {"url": "https://example.com/a.mp4"}},
        {"type": "video_url", "video_url": {"url": "https://example.com/b.mp4"}, "fps": 0.5},
        {"type": "text", "text": "What happens?"},
    ]


@pytest.mark.parametrize(
    ("block", "error"),
    [
        (
            {"type": "audio", "base64": "AAAA", "mime_type": "audio/wav"},
            "Unsupported content block type 'audio' at messages[0].content[1]",
        ),
        (
            {"type": "file", "base64": "AAAA", "mime_type": "application/pdf"},
            "Unsupported content block type 'file' at messages[0].content[1]",
        ),
        (
            {"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}},
            "Unsupported content block type 'audio' at messages[0].content[1]",
        ),
        ({"type": "image", "file_id": "file-1"}, "messages[0].content[1]: image blocks by file_id are not supported"),
    ],
)
def test_bad_blocks_fail_before_any_request(
    make_model: ChatFactory, emu: DashScopeEmulator, block: dict[str, object], error: str
) -> None:
    with pytest.raises(ValueError, match="^" + error.replace("[", r"\[").replace("]", r"\]")):
        make_model().invoke([HumanMessage(content=[{"type": "text", "text": "Hi"}, block])])
    assert emu.requests == []


def test_usage_reports_image_tokens(make_model: ChatFactory, emu: DashScopeEmulator) -> None:
    usage = {
        "prompt_tokens": 544,
        "completion_tokens": 590,
        "total_tokens": 1134,
        "prompt_tokens_details": {"text_tokens": 24, "image_tokens": 520},
        "completion_tokens_details": {"text_tokens": 590},
    }
    emu.enqueue(Reply(reasoning="Look.", text="A cat.", usage=usage))
    message = make_model("qvq-max").invoke([HumanMessage(content=[{"type": "image", "url": URL}])])
    assert message.usage_metadata == {
        "input_tokens": 544,
        "output_tokens": 590,
        "total_tokens": 1134,
        "input_token_details": {"image": 520},
    }
    assert message.response_metadata["token_usage"] == usage
