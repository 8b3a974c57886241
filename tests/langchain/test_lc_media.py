"""Images and videos reach the wire exactly as each DashScope protocol wants them: the compat
`image_url` / `video_url` / `video` parts, and the native `{"image"}` / `{"video"}` items."""

from __future__ import annotations

import base64
from collections.abc import Callable
from pathlib import Path

import pytest
from langchain_core.messages import HumanMessage
from lc_support import COMPAT_WIRE, NATIVE_WIRE, sent_messages

from langchain_qwen_vl import ChatQwenVL
from qwen_vl_core.testing import DashScopeEmulator, Reply

ChatFactory = Callable[..., ChatQwenVL]
URL = "https://example.com/triangle.png"


def _sent_content(emu: DashScopeEmulator) -> object:
    messages = sent_messages(emu.last_request)
    assert [m["role"] for m in messages] == ["user"]
    return messages[0]["content"]


BY_URL = HumanMessage(
    content=[
        {"type": "text", "text": "Compare"},
        {"type": "image_url", "image_url": {"url": URL}, "max_pixels": 1_003_520},
        {"type": "text", "text": "with"},
        {"type": "image", "url": "https://example.com/b.jpg"},
    ]
)


@COMPAT_WIRE
def test_image_by_url_keeps_order_and_max_pixels_compat_wire(make_model: ChatFactory, emu: DashScopeEmulator) -> None:
    make_model().invoke([BY_URL])
    assert _sent_content(emu) == [
        {"type": "text", "text": "Compare"},
        {"type": "image_url", "image_url": {"url": URL}, "max_pixels": 1_003_520},
        {"type": "text", "text": "with"},
        {"type": "image_url", "image_url": {"url": "https://example.com/b.jpg"}},
    ]


@NATIVE_WIRE
def test_image_by_url_keeps_order_and_max_pixels_native_wire(make_model: ChatFactory, emu: DashScopeEmulator) -> None:
    make_model().invoke([BY_URL])
    assert emu.last_request.body == {
        "model": "qwen3-vl-plus",
        "input": {
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"text": "Compare"},
                        {"image": URL, "max_pixels": 1_003_520},
                        {"text": "with"},
                        {"image": "https://example.com/b.jpg"},
                    ],
                }
            ]
        },
        "parameters": {"result_format": "message"},
    }


def _five_images(png_file: Path, b64: str) -> HumanMessage:
    return HumanMessage(
        content=[
            {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{b64}"}},
            {"type": "image_url", "image_url": {"url": png_file.as_uri()}},
            {"type": "image", "base64": b64, "mime_type": "image/png"},
            {"type": "image", "source_type": "base64", "data": b64, "mime_type": "image/png"},
            {"type": "image", "url": png_file.as_uri()},
            {"type": "text", "text": "Same picture five times?"},
        ]
    )


@COMPAT_WIRE
def test_data_url_file_url_and_base64_block_compat_wire(
    make_model: ChatFactory, emu: DashScopeEmulator, png_file: Path, png_bytes: bytes
) -> None:
    b64 = base64.b64encode(png_bytes).decode()
    make_model("qvq-max").invoke([_five_images(png_file, b64)])
    assert _sent_content(emu) == [
        *[{"type": "image_url", "image_url": {"url": f"data:image/png;base64,{b64}"}}] * 5,
        {"type": "text", "text": "Same picture five times?"},
    ]


@NATIVE_WIRE
def test_data_url_file_url_and_base64_block_native_wire(
    make_model: ChatFactory, emu: DashScopeEmulator, png_file: Path, png_bytes: bytes
) -> None:
    b64 = base64.b64encode(png_bytes).decode()
    make_model("qvq-max").invoke([_five_images(png_file, b64)])
    content = [*[{"image": f"data:image/png;base64,{b64}"}] * 5, {"text": "Same picture five times?"}]
    assert emu.last_request.body == {
        "model": "qvq-max",
        "input": {"messages": [{"role": "user", "content": content}]},
        "parameters": {"result_format": "message", "incremental_output": True},
    }


VIDEOS = HumanMessage(
    content=[
        {"type": "video", "video": [URL, URL, URL, URL], "fps": 2},
        {"type": "video_url", "video_url": {"url": "https://example.com/a.mp4"}},
        {"type": "video", "url": "https://example.com/b.mp4", "extras": {"fps": 0.5}},
        {"type": "text", "text": "What happens?"},
    ]
)


@COMPAT_WIRE
def test_videos_compat_wire(make_model: ChatFactory, emu: DashScopeEmulator) -> None:
    make_model().invoke([VIDEOS])
    assert _sent_content(emu) == [
        {"type": "video", "video": [URL, URL, URL, URL], "fps": 2},
        {"type": "video_url", "video_url": {"url": "https://example.com/a.mp4"}},
        {"type": "video_url", "video_url": {"url": "https://example.com/b.mp4"}, "fps": 0.5},
        {"type": "text", "text": "What happens?"},
    ]


@NATIVE_WIRE
def test_videos_native_wire(make_model: ChatFactory, emu: DashScopeEmulator) -> None:
    make_model().invoke([VIDEOS])
    assert _sent_content(emu) == [
        {"video": [URL, URL, URL, URL], "fps": 2},
        {"video": "https://example.com/a.mp4"},
        {"video": "https://example.com/b.mp4", "fps": 0.5},
        {"text": "What happens?"},
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


def test_usage_reports_image_tokens(make_model: ChatFactory, emu: DashScopeEmulator, protocol: str) -> None:
    # The real QVQ capture's usage (text_tokens details, no reasoning_tokens), in each protocol's key names.
    usage = {
        "openai": {
            "prompt_tokens": 544,
            "completion_tokens": 590,
            "total_tokens": 1134,
            "prompt_tokens_details": {"text_tokens": 24, "image_tokens": 520},
            "completion_tokens_details": {"text_tokens": 590},
        },
        "dashscope": {
            "input_tokens": 544,
            "output_tokens": 590,
            "total_tokens": 1134,
            "input_tokens_details": {"text_tokens": 24, "image_tokens": 520},
            "output_tokens_details": {"text_tokens": 590},
        },
    }[protocol]
    emu.enqueue(Reply(reasoning="Look.", text="A cat.", usage=usage))
    message = make_model("qvq-max").invoke([HumanMessage(content=[{"type": "image", "url": URL}])])
    assert message.usage_metadata == {
        "input_tokens": 544,
        "output_tokens": 590,
        "total_tokens": 1134,
        "input_token_details": {"image": 520},
    }
    assert message.response_metadata["token_usage"] == usage
