"""Neutral stream events and the usage record.

Parsers emit these, adapters and the accumulator consume them. They are plain slotted classes,
not pydantic models: a reasoning stream can produce 100,000 of them. Treat them as immutable.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, TypeAlias

__all__ = [
    "ReasoningDelta",
    "StreamEnd",
    "StreamEvent",
    "TextDelta",
    "ToolCallDelta",
    "Usage",
    "UsageUpdate",
]


@dataclass(frozen=True)
class Usage:
    """Token usage as reported by the API; optional details are None when not reported."""

    input_tokens: int
    output_tokens: int
    total_tokens: int
    reasoning_tokens: int | None = None
    image_tokens: int | None = None
    video_tokens: int | None = None
    cached_tokens: int | None = None
    raw: Mapping[str, Any] | None = None
    """The usage object exactly as the API sent it."""


@dataclass(slots=True)
class ReasoningDelta:
    kind: ClassVar[Literal["reasoning"]] = "reasoning"
    text: str


@dataclass(slots=True)
class TextDelta:
    kind: ClassVar[Literal["text"]] = "text"
    text: str


@dataclass(slots=True)
class ToolCallDelta:
    """A fragment of tool call `index`; `id` and `name` are None on continuation fragments."""

    kind: ClassVar[Literal["tool_call"]] = "tool_call"
    index: int
    id: str | None
    name: str | None
    arguments: str


@dataclass(slots=True)
class UsageUpdate:
    kind: ClassVar[Literal["usage"]] = "usage"
    usage: Usage


@dataclass(slots=True)
class StreamEnd:
    """The last event of every successful stream."""

    kind: ClassVar[Literal["end"]] = "end"
    finish_reason: str
    model: str | None = None
    response_id: str | None = None
    request_id: str | None = None


StreamEvent: TypeAlias = ReasoningDelta | TextDelta | ToolCallDelta | UsageUpdate | StreamEnd
