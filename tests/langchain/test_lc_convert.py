"""`_convert`: LangChain messages / blocks / tools → neutral core types, tested as pure functions."""

from __future__ import annotations

import base64
import copy
import re
from pathlib import Path

import pytest
from langchain_core.messages import AIMessage, ChatMessage, FunctionMessage, HumanMessage, SystemMessage, ToolMessage

from langchain_qwen_vl._convert import SUPPORTED_BLOCKS, convert_block, convert_messages
from qwen_vl_core import ImagePart, Message, TextPart, ToolCall, VideoPart

URL = "https://example.com/cat.png"
DATA = "data:image/png;base64,AAAA"


@pytest.mark.parametrize(
    ("block", "part"),
    [
        ("plain", TextPart("plain")),
        ({"type": "text", "text": "hi"}, TextPart("hi")),
        ({"type": "image_url", "image_url": URL}, ImagePart(URL)),
        ({"type": "image_url", "image_url": {"url": DATA}}, ImagePart(DATA)),
        ({"type": "image_url", "image_url": {"url": URL}, "max_pixels": 1024}, ImagePart(URL, 1024)),
        ({"type": "image_url", "image_url": {"url": URL, "detail": "high"}}, ImagePart(URL)),
        ({"type": "image", "url": URL}, ImagePart(URL)),
        ({"type": "image", "url": URL, "extras": {"max_pixels": 2048}}, ImagePart(URL, 2048)),
        ({"type": "image", "base64": "AAAA", "mime_type": "image/png"}, ImagePart(DATA)),
        ({"type": "image", "source_type": "url", "url": URL}, ImagePart(URL)),
        ({"type": "image", "source_type": "base64", "data": "AAAA", "mime_type": "image/png"}, ImagePart(DATA)),
        ({"type": "video", "url": "https://example.com/v.mp4"}, VideoPart(url="https://example.com/v.mp4")),
        (
            {"type": "video", "base64": "AAAA", "mime_type": "video/mp4", "extras": {"fps": 2}},
            VideoPart(url="data:video/mp4;base64,AAAA", fps=2),
        ),
        (
            {"type": "video", "source_type": "url", "url": "https://example.com/v.mp4"},
            VideoPart(url="https://example.com/v.mp4"),
        ),
        ({"type": "video", "video": [URL, URL], "fps": 1.5}, VideoPart(frames=(URL, URL), fps=1.5)),
        (
            {"type": "video_url", "video_url": {"url": "https://example.com/v.mp4"}, "fps": 4},
            VideoPart(url="https://example.com/v.mp4", fps=4),
        ),
        ({"type": "video_url", "video_url": "https://example.com/v.mp4"}, VideoPart(url="https://example.com/v.mp4")),
    ],
)
def test_convert_block(block: object, part: object) -> None:
    assert convert_block(block, 0, 0) == part  # type: ignore[arg-type]


def test_base64_without_mime_type_is_left_to_the_core(png_bytes: bytes) -> None:
    b64 = base64.b64encode(png_bytes).decode()
    # Mapping only: no decoding here; the media stage tells the type from the bytes.
    assert convert_block({"type": "image", "base64": b64}, 0, 0) == ImagePart(f"data:;base64,{b64}")


def test_file_urls_stay_urls_for_the_core_to_read(png_file: Path) -> None:
    file_url = png_file.as_uri()
    assert convert_block({"type": "image_url", "image_url": {"url": file_url}}, 0, 0) == ImagePart(file_url)
    assert convert_block({"type": "image", "url": file_url, "extras": {"max_pixels": 4096}}, 0, 0) == ImagePart(
        file_url, 4096
    )
    frames = {"type": "video", "video": [file_url, URL, URL, URL], "fps": 2}
    assert convert_block(frames, 0, 0) == VideoPart(frames=(file_url, URL, URL, URL), fps=2)
    assert convert_block({"type": "video", "url": file_url}, 0, 0) == VideoPart(url=file_url)


@pytest.mark.parametrize(
    ("block", "message"),
    [
        (
            {"type": "audio", "base64": "AAAA", "mime_type": "audio/wav"},
            f"Unsupported content block type 'audio' at messages[2].content[3]: DashScope's Qwen-VL models "
            f"take {SUPPORTED_BLOCKS}.",
        ),
        (
            {"type": "file", "base64": "AAAA", "mime_type": "application/pdf"},
            f"Unsupported content block type 'file' at messages[2].content[3]: DashScope's Qwen-VL models "
            f"take {SUPPORTED_BLOCKS}.",
        ),
        (
            {"type": "mystery"},
            f"Unsupported content block type 'mystery' at messages[2].content[3]: DashScope's Qwen-VL models "
            f"take {SUPPORTED_BLOCKS}.",
        ),
        (
            {"type": "image", "file_id": "file-123"},
            "messages[2].content[3]: image blocks by file_id are not supported (DashScope has no file store "
            "for them); pass the image as a url or as base64 + mime_type. "
            f"Supported: {SUPPORTED_BLOCKS}.",
        ),
        (
            {"type": "image", "source_type": "id", "id": "file-123"},
            "messages[2].content[3]: image blocks by file_id are not supported (DashScope has no file store "
            "for them); pass the image as a url or as base64 + mime_type. "
            f"Supported: {SUPPORTED_BLOCKS}.",
        ),
        (
            {"type": "video", "file_id": "file-1"},
            "messages[2].content[3]: video blocks by file_id are not supported (DashScope has no file store "
            "for them); pass the video as a url or as base64 + mime_type. "
            f"Supported: {SUPPORTED_BLOCKS}.",
        ),
        ({"type": "image"}, "messages[2].content[3]: the image block has neither a url nor base64 data."),
        (
            {"type": "image_url", "image_url": {}},
            "messages[2].content[3]: an image_url block needs a URL string (image_url.url).",
        ),
        ({"type": "video_url"}, "messages[2].content[3]: a video_url block needs a URL string (video_url.url)."),
        (
            {"type": "video", "video": []},
            "messages[2].content[3]: a video block's `video` list must hold frame image URLs.",
        ),
        (
            {"type": "text", "text": None},
            "messages[2].content[3]: a text block's `text` must be a string, got NoneType.",
        ),
    ],
)
def test_bad_blocks_name_the_block_and_its_position(block: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        convert_block(block, 2, 3)


def test_history_maps_every_role_and_keeps_order() -> None:
    messages = [
        SystemMessage("Be brief."),
        HumanMessage(content=[{"type": "text", "text": "A"}, {"type": "image_url", "image_url": URL}, "B"]),
        AIMessage(
            content=[{"type": "reasoning", "reasoning": "secret"}, {"type": "text", "text": "Calling."}],
            additional_kwargs={"reasoning_content": "secret"},
            tool_calls=[{"name": "area", "args": {"w": 3, "h": "四"}, "id": "call_1"}],
            invalid_tool_calls=[
                {"name": "bad", "args": '{"x": ', "id": "call_2", "error": "broken", "type": "invalid_tool_call"}
            ],
        ),
        ToolMessage("12", tool_call_id="call_1"),
        ToolMessage(content=[{"type": "text", "text": "err"}], tool_call_id="call_2"),
        ChatMessage(role="user", content="thanks"),
        ChatMessage(role="assistant", content="ok"),
    ]
    before = copy.deepcopy(messages)
    assert convert_messages(messages) == (
        Message("system", (TextPart("Be brief."),)),
        Message("user", (TextPart("A"), ImagePart(URL), TextPart("B"))),
        Message(
            "assistant",
            (TextPart("Calling."),),
            tool_calls=(
                ToolCall("call_1", "area", '{"w": 3, "h": "\\u56db"}'),
                ToolCall("call_2", "bad", '{"x": '),
            ),
            reasoning="secret",  # kept for the policies, which send it back only with preserve_thinking
        ),
        Message("tool", (TextPart("12"),), tool_call_id="call_1"),
        Message("tool", (TextPart("err"),), tool_call_id="call_2"),
        Message("user", (TextPart("thanks"),)),
        Message("assistant", (TextPart("ok"),)),
    )
    assert messages == before


def test_reasoning_of_an_earlier_turn_from_blocks_or_additional_kwargs() -> None:
    blocks = AIMessage(
        content=[{"type": "reasoning", "reasoning": "Look "}, {"type": "reasoning", "reasoning": "closer."}]
    )
    assert convert_messages([HumanMessage("hi"), blocks])[1].reasoning == "Look closer."
    thinking = AIMessage(content=[{"type": "thinking", "thinking": "Hm."}, {"type": "text", "text": "Two."}])
    assert convert_messages([HumanMessage("hi"), thinking])[1] == Message(
        "assistant", (TextPart("Two."),), reasoning="Hm."
    )
    kwargs = AIMessage(content="Two.", additional_kwargs={"reasoning_content": "Counted."})
    assert convert_messages([HumanMessage("hi"), kwargs])[1].reasoning == "Counted."
    assert convert_messages([HumanMessage("hi"), AIMessage("Two.")])[1].reasoning is None


def test_anthropic_style_tool_use_blocks_in_history_are_skipped() -> None:
    message = AIMessage(
        content=[{"type": "text", "text": "Let me add."}, {"type": "tool_use", "id": "t1", "name": "add", "input": {}}],
        tool_calls=[{"name": "add", "args": {}, "id": "t1"}],
    )
    assert convert_messages([HumanMessage("hi"), message])[1] == Message(
        "assistant", (TextPart("Let me add."),), tool_calls=(ToolCall("t1", "add", "{}"),)
    )


@pytest.mark.parametrize(
    ("message", "error"),
    [
        (
            ToolMessage(content=[{"type": "image_url", "image_url": URL}], tool_call_id="c"),
            "Unsupported content block type 'image_url' at messages[1].content[0]: tool messages take text "
            "only (images and videos go in user messages).",
        ),
        (
            SystemMessage(content=[{"type": "image", "url": URL}]),
            "Unsupported content block type 'image' at messages[1].content[0]: system messages take text "
            "only (images and videos go in user messages).",
        ),
        (
            AIMessage(content=[{"type": "image", "url": URL}]),
            "Unsupported content block type 'image' at messages[1].content[0]: assistant messages take text "
            "only (images and videos go in user messages).",
        ),
        (
            FunctionMessage(content="x", name="f"),
            "Unsupported message type FunctionMessage at messages[1]: use SystemMessage, HumanMessage, "
            "AIMessage or ToolMessage.",
        ),
        (
            ChatMessage(role="critic", content="x"),
            "Unsupported message type ChatMessage at messages[1]: use SystemMessage, HumanMessage, "
            "AIMessage or ToolMessage.",
        ),
    ],
)
def test_bad_messages(message: object, error: str) -> None:
    with pytest.raises(ValueError, match=f"^{re.escape(error)}$"):
        convert_messages([HumanMessage("hi"), message])  # type: ignore[list-item]
