"""LangChain messages, content blocks and tools → the neutral `qwen_vl_core` request types.

Pure functions: they read the caller's messages and never change them. Accepted content blocks
(after langchain-core's own `_normalize_messages`, which turns v0 image/file blocks into v1):

- text: `str`, `{"type": "text"}`;
- images: OpenAI `{"type": "image_url", "image_url": url | {"url": ...}}` (a `max_pixels` sibling is
  kept), LangChain `{"type": "image", "url" | "base64" + "mime_type"}` and the v0 `source_type` form;
- videos: LangChain `{"type": "video", "url" | "base64" + "mime_type"}`, v0 `source_type`, and the
  DashScope-native `{"type": "video", "video": [frame URLs], "fps": ...}` / `{"type": "video_url"}`.

Mapping only: nothing here reads a file or decodes base64. A `file://` URL stays a URL and base64
data becomes a data URL; the core's media stage reads, checks, sizes and encodes them once.
Anything else is a `ValueError` naming the block and where it is, because silently dropping an
image changes the question the model answers.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    ChatMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)

from qwen_vl_core import ImagePart, Message, TextPart, ToolCall, VideoPart
from qwen_vl_core.types import Part, Role

__all__ = ["SUPPORTED_BLOCKS", "convert_block", "convert_messages"]

SUPPORTED_BLOCKS = (
    "text; images as image_url, or image blocks with url or base64 + mime_type; videos as video "
    "blocks with url, base64 + mime_type or a list of frame URLs, or video_url"
)
"""What a user message may contain; quoted in every unsupported-block error."""

_SKIPPED_IN_HISTORY = frozenset(
    {
        "reasoning",
        "thinking",
        "reasoning_content",
        "tool_call",
        "tool_call_chunk",
        "invalid_tool_call",
        "tool_use",
        "server_tool_call",
        "server_tool_result",
    }
)
"""Assistant blocks never sent back: reasoning is stripped, tool calls travel in `tool_calls`."""

_CHAT_ROLES: dict[str, Role] = {
    "user": "user",
    "human": "user",
    "assistant": "assistant",
    "ai": "assistant",
    "system": "system",
}


def _where(mi: int, bi: int) -> str:
    return f"messages[{mi}].content[{bi}]"


def _image(url: str, max_pixels: int | None) -> ImagePart:
    return ImagePart(url, max_pixels)


def _video(url: str, fps: float | None) -> VideoPart:
    return VideoPart(url=url, fps=fps)


def _data_url(block: Mapping[str, Any], data: str) -> str:
    """Base64 data as a data URL; without a `mime_type` the media stage tells the type from the bytes."""
    return f"data:{block.get('mime_type') or ''};base64,{data}"


def _text(block: Mapping[str, Any], where: str) -> str:
    text = block.get("text", "")
    if not isinstance(text, str):
        raise ValueError(f"{where}: a text block's `text` must be a string, got {type(text).__name__}.")
    return text


def _option(block: Mapping[str, Any], key: str) -> Any:
    extras = block.get("extras")
    if isinstance(extras, Mapping) and key in extras:
        return extras[key]
    return block.get(key)


def _image_url_block(block: Mapping[str, Any], where: str) -> ImagePart:
    ref = block.get("image_url")
    url = ref.get("url") if isinstance(ref, Mapping) else ref
    if not isinstance(url, str) or not url:
        raise ValueError(f"{where}: an image_url block needs a URL string (image_url.url).")
    max_pixels = block.get("max_pixels")
    if max_pixels is None and isinstance(ref, Mapping):
        max_pixels = ref.get("max_pixels")
    return _image(url, max_pixels)


def _source(block: Mapping[str, Any], kind: str, where: str) -> str:
    """The URL (possibly `file://` or a data URL) of a standard (v1 or v0) image / video block."""
    source_type = block.get("source_type")
    if block.get("file_id") is not None or source_type == "id":
        raise ValueError(
            f"{where}: {kind} blocks by file_id are not supported (DashScope has no file store for "
            f"them); pass the {kind} as a url or as base64 + mime_type. Supported: {SUPPORTED_BLOCKS}."
        )
    url = block.get("url")
    if isinstance(url, str) and url and source_type in (None, "url"):
        return url
    data = block.get("base64") if source_type is None else block.get("data")
    if isinstance(data, str) and data:
        return _data_url(block, data)
    raise ValueError(f"{where}: the {kind} block has neither a url nor base64 data.")


def _video_block(block: Mapping[str, Any], where: str) -> VideoPart:
    fps = _option(block, "fps")
    native = block.get("video")
    if isinstance(native, list):
        if not native or not all(isinstance(f, str) and f for f in native):
            raise ValueError(f"{where}: a video block's `video` list must hold frame image URLs.")
        return VideoPart(frames=tuple(native), fps=fps)
    if isinstance(native, str) and native:
        return _video(native, fps)
    return _video(_source(block, "video", where), fps)


def _video_url_block(block: Mapping[str, Any], where: str) -> VideoPart:
    ref = block.get("video_url")
    url = ref.get("url") if isinstance(ref, Mapping) else ref
    if not isinstance(url, str) or not url:
        raise ValueError(f"{where}: a video_url block needs a URL string (video_url.url).")
    return _video(url, block.get("fps"))


def convert_block(block: str | Mapping[str, Any], mi: int, bi: int) -> Part:
    """One user content block → a core part; raises `ValueError` for anything the API cannot take."""
    if isinstance(block, str):
        return TextPart(block)
    where = _where(mi, bi)
    kind = block.get("type")
    if kind == "text":
        return TextPart(_text(block, where))
    if kind == "image_url":
        return _image_url_block(block, where)
    if kind == "image":
        return _image(_source(block, "image", where), _option(block, "max_pixels"))
    if kind == "video":
        return _video_block(block, where)
    if kind == "video_url":
        return _video_url_block(block, where)
    raise ValueError(
        f"Unsupported content block type {kind!r} at {where}: DashScope's Qwen-VL models take {SUPPORTED_BLOCKS}."
    )


def _user_parts(content: str | list[Any], mi: int) -> tuple[Part, ...]:
    if isinstance(content, str):
        return (TextPart(content),) if content else ()
    return tuple(convert_block(block, mi, bi) for bi, block in enumerate(content))


def _text_parts(
    content: str | list[Any], mi: int, role: str, *, skip: frozenset[str] = frozenset()
) -> tuple[Part, ...]:
    """Content of a message that may only hold text (system, assistant, tool)."""
    if isinstance(content, str):
        return (TextPart(content),) if content else ()
    parts: list[Part] = []
    for bi, block in enumerate(content):
        if isinstance(block, str):
            parts.append(TextPart(block))
            continue
        kind = block.get("type")
        if kind == "text":
            parts.append(TextPart(_text(block, _where(mi, bi))))
        elif kind not in skip:
            raise ValueError(
                f"Unsupported content block type {kind!r} at {_where(mi, bi)}: {role} messages take "
                "text only (images and videos go in user messages)."
            )
    return tuple(parts)


def _assistant(message: AIMessage, mi: int) -> Message:
    calls = [ToolCall(c["id"] or "", c["name"], json.dumps(c["args"])) for c in message.tool_calls]
    # A malformed call of an earlier turn is replayed raw, so its ToolMessage still has a partner.
    calls += [ToolCall(c["id"] or "", c["name"] or "", c["args"] or "") for c in message.invalid_tool_calls]
    content = _text_parts(message.content, mi, "assistant", skip=_SKIPPED_IN_HISTORY)
    return Message("assistant", content, tool_calls=tuple(calls), reasoning=_reasoning(message))


def _reasoning(message: AIMessage) -> str | None:
    """An earlier turn's reasoning: `additional_kwargs["reasoning_content"]` (what this package and
    most OpenAI-compatible integrations set), else the message's reasoning / thinking blocks. Sent back
    only with `preserve_thinking`."""
    reasoning = message.additional_kwargs.get("reasoning_content")
    if isinstance(reasoning, str) and reasoning:
        return reasoning
    if isinstance(message.content, str):
        return None
    texts: list[str] = [
        block[key]
        for block in message.content
        if isinstance(block, Mapping)
        for key in ("reasoning", "thinking")
        if block.get("type") == key and isinstance(block.get(key), str)
    ]
    return "".join(texts) or None


def _convert_message(message: BaseMessage, mi: int) -> Message:
    if isinstance(message, HumanMessage):
        return Message("user", _user_parts(message.content, mi))
    if isinstance(message, AIMessage):
        return _assistant(message, mi)
    if isinstance(message, SystemMessage):
        return Message("system", _text_parts(message.content, mi, "system"))
    if isinstance(message, ToolMessage):
        return Message("tool", _text_parts(message.content, mi, "tool"), tool_call_id=message.tool_call_id)
    if isinstance(message, ChatMessage) and message.role in _CHAT_ROLES:
        role = _CHAT_ROLES[message.role]
        if role == "user":
            return Message("user", _user_parts(message.content, mi))
        return Message(role, _text_parts(message.content, mi, role))
    raise ValueError(
        f"Unsupported message type {type(message).__name__} at messages[{mi}]: use SystemMessage, "
        "HumanMessage, AIMessage or ToolMessage."
    )


def convert_messages(messages: Sequence[BaseMessage]) -> tuple[Message, ...]:
    """LangChain history → core messages (reasoning of earlier turns is never carried over)."""
    return tuple(_convert_message(m, mi) for mi, m in enumerate(messages))
