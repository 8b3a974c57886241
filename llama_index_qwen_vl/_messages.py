"""LlamaIndex `ChatMessage`s → the core's neutral `Message`s.

Pure functions that only read their input: the caller's messages are never changed. Every block
that cannot be sent is an error naming the block and where it is, never a silent drop.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from typing import Any

from llama_index.core.base.llms.types import (
    ChatMessage,
    ImageBlock,
    MessageRole,
    TextBlock,
    ThinkingBlock,
    ToolCallBlock,
    VideoBlock,
)

from qwen_vl_core import ImagePart, Message, TextPart, ToolCall, VideoPart
from qwen_vl_core.types import Part, Role

__all__ = [
    "SUPPORTED_BLOCKS",
    "image_block_to_part",
    "to_core_messages",
    "tool_calls_of",
    "video_block_to_part",
]

SUPPORTED_BLOCKS = "TextBlock, ImageBlock, VideoBlock, ThinkingBlock (not sent) and ToolCallBlock (assistant)"

_ROLES: dict[MessageRole, Role] = {
    MessageRole.SYSTEM: "system",
    MessageRole.DEVELOPER: "system",
    MessageRole.USER: "user",
    MessageRole.ASSISTANT: "assistant",
    MessageRole.CHATBOT: "assistant",
    MessageRole.MODEL: "assistant",
    MessageRole.TOOL: "tool",
    MessageRole.FUNCTION: "tool",
}


def _inline(data: Any, mime: str | None) -> str:
    """The `image` / `video` field as a data URL, without decoding it.

    LlamaIndex keeps bytes base64-encoded (its validator encodes raw bytes); a file-like object holds
    the raw file. A missing MIME type stays empty: the core's media stage tells it from the bytes.
    """
    if isinstance(data, bytes | bytearray):
        encoded = bytes(data).decode("ascii", errors="strict")
    else:  # a file-like object (IOBase): the raw file, not encoded yet
        position = data.tell()
        data.seek(0)
        encoded = base64.b64encode(data.read()).decode("ascii")
        data.seek(position)
    return f"data:{mime or ''};base64,{encoded}"


def image_block_to_part(block: ImageBlock) -> ImagePart:
    """Bytes win over a path, a path over a URL; remote URLs are passed through, never fetched.

    Paths and `file://` URLs are read, and every inline image checked, sized and encoded, by the
    core's media stage before sending (`prepare_media`); nothing is read or decoded here.
    """
    if block.image is not None:
        return ImagePart(_inline(block.image, block.image_mimetype), label="bytes")
    if block.path is not None:
        return ImagePart(str(block.path))
    if block.url is not None:
        return ImagePart(str(block.url))
    raise ValueError("ImageBlock has no image, path or url.")


def video_block_to_part(block: VideoBlock) -> VideoPart:
    fps = float(block.fps) if block.fps is not None else None
    if block.video is not None:
        return VideoPart(url=_inline(block.video, block.video_mimetype), fps=fps, label="bytes")
    if block.path is not None:
        return VideoPart(url=str(block.path), fps=fps)
    if block.url is not None:
        return VideoPart(url=str(block.url), fps=fps)
    raise ValueError("VideoBlock has no video, path or url.")


def _arguments(value: Any) -> str:
    if value is None:
        return "{}"
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def _legacy_tool_call(item: Any) -> ToolCall:
    """One entry of `additional_kwargs["tool_calls"]`: an OpenAI-style dict or SDK object."""
    if isinstance(item, dict):
        function = item.get("function") or {}
        return ToolCall(
            str(item.get("id") or ""), str(function.get("name") or ""), _arguments(function.get("arguments"))
        )
    function = item.function
    return ToolCall(str(item.id or ""), str(function.name or ""), _arguments(function.arguments))


def tool_calls_of(message: ChatMessage) -> tuple[ToolCall, ...]:
    """Tool calls of an assistant message: its `ToolCallBlock`s, else `additional_kwargs`."""
    blocks = [b for b in message.blocks if isinstance(b, ToolCallBlock)]
    if blocks:
        return tuple(ToolCall(b.tool_call_id or "", b.tool_name, _arguments(b.tool_kwargs)) for b in blocks)
    return tuple(_legacy_tool_call(item) for item in message.additional_kwargs.get("tool_calls") or ())


def _unsupported(block: Any, where: str) -> ValueError:
    return ValueError(
        f"{type(block).__name__} ({where}) cannot be sent to Qwen-VL; supported blocks are {SUPPORTED_BLOCKS}."
    )


def _parts(message: ChatMessage, index: int, role: Role) -> tuple[list[Part], str | None]:
    parts: list[Part] = []
    reasoning: list[str] = []
    for k, block in enumerate(message.blocks):
        where = f"message {index}, block {k}"
        if isinstance(block, TextBlock):
            parts.append(TextPart(block.text))
        elif isinstance(block, ImageBlock | VideoBlock):
            if role == "system":
                raise ValueError(
                    f"{type(block).__name__} ({where}) is in a system message; system messages take "
                    "text only. Put images and videos in a user message."
                )
            try:
                parts.append(
                    image_block_to_part(block) if isinstance(block, ImageBlock) else video_block_to_part(block)
                )
            except ValueError as exc:
                raise ValueError(f"{type(block).__name__} ({where}): {exc}") from exc
        elif isinstance(block, ThinkingBlock):
            if block.content:
                reasoning.append(block.content)
        elif isinstance(block, ToolCallBlock):
            if role != "assistant":
                raise ValueError(f"ToolCallBlock ({where}) is only allowed in assistant messages.")
        else:
            raise _unsupported(block, where)
    return parts, "".join(reasoning) or None


def _tool_message(message: ChatMessage, index: int, parts: list[Part]) -> tuple[Message, list[Part]]:
    """A tool result: its text goes in the tool message, its images are returned for a user turn."""
    call_id = message.additional_kwargs.get("tool_call_id")
    if not call_id:
        raise ValueError(
            f"Tool message {index} has no additional_kwargs['tool_call_id']; the API needs it to match "
            "the result to its call."
        )
    text = [p for p in parts if isinstance(p, TextPart)]
    media: list[Part] = [p for p in parts if not isinstance(p, TextPart)]
    if media:
        media.insert(0, TextPart(f"Images returned by tool call {call_id}:"))
    return Message("tool", tuple(text), tool_call_id=str(call_id)), media


def to_core_messages(messages: Sequence[ChatMessage]) -> tuple[Message, ...]:
    """Convert a history. Images in tool results follow the run of tool messages as a user turn
    (the API takes text only in tool messages, and tool messages must follow their call)."""
    out: list[Message] = []
    pending_media: list[Part] = []
    for index, message in enumerate(messages):
        role = _ROLES.get(message.role)
        if role is None:  # pragma: no cover - MessageRole is a closed enum
            raise ValueError(f"Message {index} has an unsupported role {message.role!r}.")
        if role != "tool" and pending_media:
            out.append(Message("user", tuple(pending_media)))
            pending_media = []
        parts, reasoning = _parts(message, index, role)
        if role == "tool":
            tool_message, media = _tool_message(message, index, parts)
            out.append(tool_message)
            pending_media.extend(media)
        elif role == "assistant":
            out.append(Message("assistant", tuple(parts), tool_calls=tool_calls_of(message), reasoning=reasoning))
        else:
            out.append(Message(role, tuple(parts)))
    if pending_media:
        out.append(Message("user", tuple(pending_media)))
    return tuple(out)
