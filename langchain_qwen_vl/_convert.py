"""LangChain messages, content blocks and tools → the neutral `qwen_vl_core` request types.

Pure functions: they read the caller's messages and never change them. Accepted content blocks
(after langchain-core's own `_normalize_messages`, which turns v0 image/file blocks into v1):

- text: `str`, `{"type": "text"}`;
- images: OpenAI `{"type": "image_url", "image_url": url | {"url": ...}}` (a `max_pixels` sibling is
  kept), LangChain `{"type": "image", "url" | "base64" + "mime_type"}` and the v0 `source_type` form;
- videos: LangChain `{"type": "video", "url" | "base64" + "mime_type"}`, v0 `source_type`, and the
  DashScope-native `{"type": "video", "video": [frame URLs], "fps": ...}` / `{"type": "video_url"}`.

A `file://` URL is read and sent inline as a data URL (the API cannot fetch it). Anything else is
a `ValueError` naming the block and where it is, because silently dropping an image changes the
question the model answers.
"""

from __future__ import annotations

import base64
import binascii
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

from qwen_vl_core import FunctionChoice, ImagePart, Message, TextPart, ToolCall, ToolSpec, VideoPart, media
from qwen_vl_core.types import Part, Role, ToolChoice

__all__ = [
    "SUPPORTED_BLOCKS",
    "convert_block",
    "convert_messages",
    "convert_tool_choice",
    "convert_tools",
    "ensure_json_instruction",
    "normalize_tool_choice",
]

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

JSON_INSTRUCTION = "Respond with a JSON object."


def _where(mi: int, bi: int) -> str:
    return f"messages[{mi}].content[{bi}]"


def _image(url: str, max_pixels: int | None) -> ImagePart:
    """A `file://` URL is read here (the core checks, sizes and inlines the bytes); others pass untouched."""
    if url.startswith("file://"):
        return media.image(url, max_pixels=max_pixels)
    return ImagePart(url, max_pixels)


def _frame(url: str) -> str | ImagePart:
    return media.image(url) if url.startswith("file://") else url


def _video(url: str, fps: float | None) -> VideoPart:
    if url.startswith("file://"):
        return media.video(url, fps=fps)
    return VideoPart(url=url, fps=fps)


def _data_url(block: Mapping[str, Any], data: str, where: str) -> str:
    mime = block.get("mime_type")
    if mime:
        return f"data:{mime};base64,{data}"
    try:
        raw = base64.b64decode(data, validate=True)
    except binascii.Error as exc:
        raise ValueError(f"{where}: the base64 data is not valid base64 ({exc}).") from exc
    return media.bytes_to_data_url(raw)


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
        return _data_url(block, data, where)
    raise ValueError(f"{where}: the {kind} block has neither a url nor base64 data.")


def _video_block(block: Mapping[str, Any], where: str) -> VideoPart:
    fps = _option(block, "fps")
    native = block.get("video")
    if isinstance(native, list):
        if not native or not all(isinstance(f, str) and f for f in native):
            raise ValueError(f"{where}: a video block's `video` list must hold frame image URLs.")
        return VideoPart(frames=tuple(_frame(f) for f in native), fps=fps)
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
        return TextPart(str(block.get("text", "")))
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
            parts.append(TextPart(str(block.get("text", ""))))
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
    return Message("assistant", content, tool_calls=tuple(calls))


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


def ensure_json_instruction(messages: tuple[Message, ...]) -> tuple[Message, ...]:
    """JSON mode needs the word "json" in the prompt (else HTTP 400); add a short instruction if absent.

    The instruction goes after the leading system messages, so the core merges it into the system
    prompt (or folds it into the first user turn).
    """
    for message in messages:
        if any(isinstance(p, TextPart) and "json" in p.text.lower() for p in message.content):
            return messages
    lead = next((i for i, m in enumerate(messages) if m.role != "system"), len(messages))
    instruction = Message("system", (TextPart(JSON_INSTRUCTION),))
    return (*messages[:lead], instruction, *messages[lead:])


def convert_tools(tools: Sequence[Mapping[str, Any]]) -> tuple[ToolSpec, ...]:
    """OpenAI-format tool dicts (what `bind_tools` stores) → core tool specs."""
    specs = []
    for tool in tools:
        function = tool.get("function") if tool.get("type") == "function" else None
        if not isinstance(function, Mapping) or not function.get("name"):
            raise ValueError(f"Unsupported tool {dict(tool)!r}: only function tools are supported.")
        specs.append(
            ToolSpec(
                name=function["name"],
                description=function.get("description", ""),
                parameters=function.get("parameters") or {"type": "object", "properties": {}},
                strict=function.get("strict"),
            )
        )
    return tuple(specs)


def normalize_tool_choice(choice: Any) -> str | dict[str, Any] | None:
    """LangChain's `tool_choice` spellings → the OpenAI form: `any` / `True` become `required`."""
    if choice is None:
        return None
    if choice is True or choice == "any":
        return "required"
    if choice is False:
        return "none"
    if choice in ("auto", "none", "required"):
        return str(choice)
    if isinstance(choice, str) and choice:
        return {"type": "function", "function": {"name": choice}}
    if isinstance(choice, Mapping):
        function = choice.get("function")
        name = function.get("name") if isinstance(function, Mapping) else choice.get("name")
        if isinstance(name, str) and name:
            return {"type": "function", "function": {"name": name}}
    raise ValueError(
        f"Unsupported tool_choice {choice!r}: use 'auto', 'none', 'required' (or 'any' / True), or a tool name."
    )


def convert_tool_choice(choice: Any) -> ToolChoice | None:
    """Any accepted `tool_choice` spelling → the core value."""
    normalized = normalize_tool_choice(choice)
    if isinstance(normalized, dict):
        return FunctionChoice(normalized["function"]["name"])
    if normalized == "auto":
        return "auto"
    if normalized == "none":
        return "none"
    if normalized == "required":
        return "required"
    return None
