"""`_messages`: LlamaIndex blocks and roles → core messages, and the exact errors for bad input."""

from __future__ import annotations

import base64
import copy
import io
from collections.abc import Callable
from pathlib import Path

import pytest
from li_support import MP4, PNG, PNG_B64, PNG_URL
from llama_index.core.base.llms.types import (
    AudioBlock,
    CacheControl,
    CachePoint,
    ChatMessage,
    CitableBlock,
    DocumentBlock,
    ImageBlock,
    MessageRole,
    TextBlock,
    ThinkingBlock,
    ToolCallBlock,
    VideoBlock,
)

from llama_index_qwen_vl import QwenVL
from llama_index_qwen_vl._messages import (
    image_block_to_part,
    to_core_messages,
    tool_calls_of,
    video_block_to_part,
)
from qwen_vl_core import ImagePart, Message, TextPart, ToolCall, VideoPart
from qwen_vl_core.testing import DashScopeEmulator

SUPPORTED = "TextBlock, ImageBlock, VideoBlock, ThinkingBlock (not sent) and ToolCallBlock (assistant)"


# -- images ----------------------------------------------------------------------------------------
# Conversion is mapping only: no file is read and no base64 decoded here. The core's media stage
# reads, checks, sizes and encodes inline images before sending (see test_li_llm.py for the wire).


def test_image_by_http_url_passes_through_untouched() -> None:
    block = ImageBlock(url="https://example.com/cat.jpg?x=1")
    assert image_block_to_part(block) == ImagePart("https://example.com/cat.jpg?x=1")


def test_image_by_data_url_passes_through() -> None:
    assert image_block_to_part(ImageBlock(url=PNG_URL)) == ImagePart(PNG_URL)


def test_image_by_bytes_base64_bytes_and_stream() -> None:
    expected = ImagePart(PNG_URL, label="bytes")
    assert image_block_to_part(ImageBlock(image=PNG)) == expected
    assert image_block_to_part(ImageBlock(image=PNG_B64.encode())) == expected
    # A stream is the raw file and LlamaIndex guesses no type for it: the core tells it from the bytes.
    assert image_block_to_part(ImageBlock(image=io.BytesIO(PNG))) == ImagePart(f"data:;base64,{PNG_B64}", label="bytes")


def test_image_by_path_and_file_url(png_file: Path) -> None:
    assert image_block_to_part(ImageBlock(path=png_file)) == ImagePart(str(png_file))
    assert image_block_to_part(ImageBlock(url=png_file.as_uri())) == ImagePart(png_file.as_uri())


def test_image_bytes_win_over_path_and_url(png_file: Path) -> None:
    block = ImageBlock(image=PNG, path=png_file, url="https://example.com/x.png")
    assert image_block_to_part(block) == ImagePart(PNG_URL, label="bytes")


def test_empty_image_block_is_an_error() -> None:
    with pytest.raises(ValueError, match=r"^ImageBlock has no image, path or url\.$"):
        image_block_to_part(ImageBlock())


# -- videos ----------------------------------------------------------------------------------------


def test_video_by_url_with_fps() -> None:
    block = VideoBlock(url="https://example.com/clip.mp4", fps=2)
    assert video_block_to_part(block) == VideoPart(url="https://example.com/clip.mp4", fps=2.0)


def test_video_by_bytes_and_path(tmp_path: Path) -> None:
    assert video_block_to_part(VideoBlock(video=MP4)) == VideoPart(
        url=f"data:video/mp4;base64,{base64.b64encode(MP4).decode()}", label="bytes"
    )
    path = tmp_path / "clip.mp4"
    path.write_bytes(MP4)
    assert video_block_to_part(VideoBlock(path=path, fps=1)) == VideoPart(url=str(path), fps=1.0)


def test_empty_video_block_is_an_error() -> None:
    with pytest.raises(ValueError, match=r"^VideoBlock has no video, path or url\.$"):
        video_block_to_part(VideoBlock())


# -- whole messages --------------------------------------------------------------------------------


def _history() -> list[ChatMessage]:
    return [
        ChatMessage(role=MessageRole.SYSTEM, content="Be brief."),
        ChatMessage(role=MessageRole.USER, blocks=[ImageBlock(image=PNG), TextBlock(text="What is it?")]),
        ChatMessage(
            role=MessageRole.ASSISTANT,
            blocks=[
                ThinkingBlock(content="A dot."),
                TextBlock(text=""),
                ToolCallBlock(tool_call_id="call_1", tool_name="zoom", tool_kwargs={"factor": 2}),
                ToolCallBlock(tool_call_id="call_2", tool_name="crop", tool_kwargs='{"x": 1}'),
            ],
            additional_kwargs={"tool_calls": [{"id": "ignored"}]},
        ),
        ChatMessage(role=MessageRole.TOOL, content="zoomed", additional_kwargs={"tool_call_id": "call_1"}),
        ChatMessage(
            role=MessageRole.TOOL,
            blocks=[TextBlock(text="cropped"), ImageBlock(image=PNG)],
            additional_kwargs={"tool_call_id": "call_2"},
        ),
        ChatMessage(role=MessageRole.ASSISTANT, content="A red dot."),
        ChatMessage(role=MessageRole.USER, blocks=[VideoBlock(url="https://example.com/v.mp4", fps=1)]),
    ]


def test_history_converts_exactly() -> None:
    assert to_core_messages(_history()) == (
        Message("system", (TextPart("Be brief."),)),
        Message("user", (ImagePart(PNG_URL, label="bytes"), TextPart("What is it?"))),
        Message(
            "assistant",
            (TextPart(""),),
            tool_calls=(ToolCall("call_1", "zoom", '{"factor": 2}'), ToolCall("call_2", "crop", '{"x": 1}')),
            reasoning="A dot.",
        ),
        Message("tool", (TextPart("zoomed"),), tool_call_id="call_1"),
        Message("tool", (TextPart("cropped"),), tool_call_id="call_2"),
        Message(
            "user",
            (TextPart("Images returned by tool call call_2:"), ImagePart(PNG_URL, label="bytes")),
        ),
        Message("assistant", (TextPart("A red dot."),)),
        Message("user", (VideoPart(url="https://example.com/v.mp4", fps=1.0),)),
    )


def test_conversion_never_mutates_the_callers_messages() -> None:
    history = _history()
    before = copy.deepcopy(history)
    to_core_messages(history)
    assert history == before


def test_roles_map_to_the_four_api_roles() -> None:
    messages = [
        ChatMessage(role=MessageRole.DEVELOPER, content="d"),
        ChatMessage(role=MessageRole.USER, content="u"),
        ChatMessage(role=MessageRole.CHATBOT, content="c"),
        ChatMessage(role=MessageRole.MODEL, content="m"),
        ChatMessage(role=MessageRole.FUNCTION, content="f", additional_kwargs={"tool_call_id": "x"}),
    ]
    assert [m.role for m in to_core_messages(messages)] == ["system", "user", "assistant", "assistant", "tool"]


def test_legacy_tool_calls_in_additional_kwargs() -> None:
    class Function:
        name = "zoom"
        arguments = '{"factor": 3}'

    class SDKCall:
        id = "call_9"
        function = Function()

    message = ChatMessage(
        role="assistant",
        content="",
        additional_kwargs={
            "tool_calls": [
                {"id": "call_8", "type": "function", "function": {"name": "crop", "arguments": None}},
                SDKCall(),
            ]
        },
    )
    assert tool_calls_of(message) == (ToolCall("call_8", "crop", "{}"), ToolCall("call_9", "zoom", '{"factor": 3}'))


@pytest.mark.parametrize(
    ("block", "name"),
    [
        (AudioBlock(audio=b"RIFF0000WAVE"), "AudioBlock"),
        (DocumentBlock(data=b"%PDF-1.4", document_mimetype="application/pdf"), "DocumentBlock"),
        (CitableBlock(content=[TextBlock(text="x")], source="s", title="t"), "CitableBlock"),
        (CachePoint(cache_control=CacheControl(type="ephemeral")), "CachePoint"),
    ],
)
def test_unsupported_blocks_name_the_block_and_its_position(block: object, name: str) -> None:
    messages = [ChatMessage(role="user", content="hi"), ChatMessage(role="user", blocks=[TextBlock(text="a"), block])]
    with pytest.raises(ValueError, match=r"^(.*)$") as info:
        to_core_messages(messages)
    assert (
        str(info.value) == f"{name} (message 1, block 1) cannot be sent to Qwen-VL; supported blocks are {SUPPORTED}."
    )


def test_media_in_a_system_message_is_an_error() -> None:
    with pytest.raises(ValueError, match=r"^ImageBlock \(message 0, block 0\) is in a system message; system"):
        to_core_messages([ChatMessage(role="system", blocks=[ImageBlock(image=PNG)])])


def test_tool_call_block_outside_an_assistant_message_is_an_error() -> None:
    message = ChatMessage(role="user", blocks=[ToolCallBlock(tool_name="f")])
    with pytest.raises(ValueError, match=r"^ToolCallBlock \(message 0, block 0\) is only allowed in assistant"):
        to_core_messages([message])


def test_tool_message_without_call_id_is_an_error() -> None:
    with pytest.raises(ValueError, match=r"^Tool message 1 has no additional_kwargs\['tool_call_id'\]"):
        to_core_messages([ChatMessage(role="user", content="hi"), ChatMessage(role="tool", content="42")])


def test_bad_image_error_says_where_it_is(make_llm: Callable[..., QwenVL], emu: DashScopeEmulator) -> None:
    # Checked by the core when the call is made (positions counted from 1, the caller's messages).
    message = ChatMessage(role="user", blocks=[TextBlock(text="x"), ImageBlock(url="ftp://host/a.png")])
    with pytest.raises(ValueError, match=r"^Image 2 of message 1: unsupported URL 'ftp://host/a.png'; use http"):
        make_llm().chat([message])
    assert emu.requests == []


def test_missing_image_file_error(make_llm: Callable[..., QwenVL], emu: DashScopeEmulator) -> None:
    message = ChatMessage(role="user", blocks=[ImageBlock(url="file:///nonexistent/x.png")])
    with pytest.raises(ValueError, match=r"^Image 1 of message 1 \(x.png\) does not exist \(or is not a file\)\.$"):
        make_llm().chat([message])
    assert emu.requests == []
