"""Neutral, frozen request types shared by both adapters and both wire protocols.

Adapters turn framework messages into a `ChatRequest`; request builders turn it into a wire body.
Nothing here does I/O or knows a framework.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias

from .catalog_types import ModelSpec

__all__ = [
    "ChatRequest",
    "FunctionChoice",
    "ImagePart",
    "Message",
    "Part",
    "Role",
    "SamplingOptions",
    "SystemMessageMode",
    "TextPart",
    "ThinkingOptions",
    "ToolCall",
    "ToolChoice",
    "ToolSpec",
    "VideoPart",
]

Role = Literal["system", "user", "assistant", "tool"]
SystemMessageMode = Literal["auto", "keep", "fold"]


@dataclass(frozen=True)
class TextPart:
    text: str


def _data_url(data: bytes, mime: str | None) -> str:
    return f"data:{mime or 'application/octet-stream'};base64,{base64.b64encode(data).decode('ascii')}"


@dataclass(frozen=True)
class ImagePart:
    """One image: a URL the API can fetch (`http(s)://` or `data:`), or raw encoded bytes (`data`).

    Parts with bytes or data URLs are checked, sized to the model's budget and encoded by
    `qwen_vl_core.media.prepare_media` before a request is sent.
    """

    url: str | None = None
    max_pixels: int | None = None
    data: bytes | None = field(default=None, repr=False)
    mime: str | None = None
    label: str | None = None
    """Where the image came from (a file name, "bytes", "PIL image"), for error messages."""

    def __post_init__(self) -> None:
        if (self.url is None) == (self.data is None):
            raise ValueError("ImagePart needs exactly one of `url` (http(s) or data URL) or `data` (bytes).")

    @property
    def wire_url(self) -> str:
        return self.url if self.url is not None else _data_url(self.data or b"", self.mime)


@dataclass(frozen=True)
class VideoPart:
    """A video file (`url`, or raw bytes in `data`), or a list of frames; exactly one is set."""

    url: str | None = None
    frames: tuple[str | ImagePart, ...] | None = None
    fps: float | None = None
    data: bytes | None = field(default=None, repr=False)
    mime: str | None = None
    label: str | None = None

    def __post_init__(self) -> None:
        if sum(x is not None for x in (self.url, self.frames, self.data)) != 1:
            raise ValueError("VideoPart needs exactly one of `url` (a video file), `data` (its bytes) or `frames`.")

    @property
    def wire_url(self) -> str | None:
        return self.url if self.data is None else _data_url(self.data, self.mime)

    @property
    def wire_frames(self) -> list[str] | None:
        if self.frames is None:
            return None
        return [f if isinstance(f, str) else f.wire_url for f in self.frames]


Part: TypeAlias = TextPart | ImagePart | VideoPart


@dataclass(frozen=True)
class ToolCall:
    """A tool call in conversation history; `arguments` is the JSON text sent to the API."""

    id: str
    name: str
    arguments: str


@dataclass(frozen=True)
class Message:
    role: Role
    content: tuple[Part, ...] = ()
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None
    """For role `tool`: the id of the call this message answers."""
    reasoning: str | None = None
    """Reasoning of an earlier assistant turn; sent back only with `preserve_thinking`."""

    @property
    def text(self) -> str:
        return "".join(p.text for p in self.content if isinstance(p, TextPart))


@dataclass(frozen=True)
class ToolSpec:
    """A function tool: name, description and JSON-schema parameters."""

    name: str
    description: str = ""
    parameters: Mapping[str, Any] = field(default_factory=lambda: {"type": "object", "properties": {}})
    strict: bool | None = None


@dataclass(frozen=True)
class FunctionChoice:
    """Force one named function (`tool_choice` object form)."""

    name: str


ToolChoice: TypeAlias = Literal["auto", "none", "required"] | FunctionChoice


@dataclass(frozen=True)
class ThinkingOptions:
    enable: bool | None = None
    """None: the model's default (off for hybrid Qwen3-VL, always on for thinking-only models)."""
    budget: int | None = None
    """Maximum reasoning tokens (`thinking_budget`); only Qwen3-VL in thinking mode."""


@dataclass(frozen=True)
class SamplingOptions:
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    max_tokens: int | None = None
    seed: int | None = None
    stop: tuple[str, ...] | None = None
    presence_penalty: float | None = None
    repetition_penalty: float | None = None


@dataclass(frozen=True)
class ChatRequest:
    """Everything one chat call needs, independent of framework and protocol."""

    model: str
    messages: tuple[Message, ...]
    tools: tuple[ToolSpec, ...] = ()
    tool_choice: ToolChoice | None = None
    parallel_tool_calls: bool | None = None
    thinking: ThinkingOptions = ThinkingOptions()
    sampling: SamplingOptions = SamplingOptions()
    response_format: Mapping[str, Any] | None = None
    vl_high_resolution_images: bool | None = None
    system_message_mode: SystemMessageMode = "auto"
    extra_body: Mapping[str, Any] | None = None
    """Extra top-level body keys, merged last (the caller's escape hatch)."""
    allow_tool_choice_fallback: bool = False
    """When the model cannot honour a forced `tool_choice` (it always thinks), send `auto` and
    warn instead of raising; structured-output helpers set it and check the answer themselves."""
    preserve_thinking: bool = False
    """Send earlier assistant turns' reasoning back (`reasoning_content`) with `preserve_thinking`."""
    model_spec: ModelSpec | None = None
    """What to assume about `model` instead of the catalog's entry (an adapter's `model_spec=`)."""
