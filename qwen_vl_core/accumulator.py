"""Events → one final `ChatResult`: the non-streaming path and the partial result of a failure.

Text is kept for `partial()`, but not as one string object per chunk: every 1,024 pieces are
joined into one block, so a 200,000-chunk reasoning stream holds about its text's size (plus ~200
blocks) instead of ~60 bytes of object per chunk. (`io.StringIO` would do the same on 3.12+, but up
to 3.11 it keeps 100,000 small strings before joining them.)

Tool-call fragments are merged by index (an empty or missing id/name never overwrites a known
one) and their arguments are parsed once, at the end; invalid JSON is kept raw and flagged.
A turn is a tool turn when it has tool calls, whatever `finish_reason` says (older recordings end
tool turns with "stop").
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .events import ReasoningDelta, StreamEnd, StreamEvent, TextDelta, ToolCallDelta, Usage, UsageUpdate

__all__ = ["ChatResult", "ParsedToolCall", "StreamAccumulator"]


@dataclass(frozen=True)
class ParsedToolCall:
    index: int
    id: str
    name: str
    arguments: str
    """The arguments exactly as received."""
    args: dict[str, Any] | None
    """Parsed arguments, or None when `arguments` is not a JSON object (see `error`)."""
    error: str | None = None


@dataclass(frozen=True)
class ChatResult:
    reasoning: str
    text: str
    tool_calls: tuple[ParsedToolCall, ...] = ()
    usage: Usage | None = None
    finish_reason: str | None = None
    """None for a partial result (the stream failed before it finished)."""
    model: str | None = None
    response_id: str | None = None
    request_id: str | None = None
    images: tuple[Mapping[str, Any] | None, ...] = ()
    """The geometry of each image of the request, in order (None for a remote URL): the
    `ImageGeometry.to_dict()` of `qwen_vl_core.grounding`, to map boxes back to the user's pixels."""

    @property
    def is_tool_turn(self) -> bool:
        return bool(self.tool_calls)


def parse_arguments(raw: str) -> tuple[dict[str, Any] | None, str | None]:
    if not raw.strip():
        return {}, None
    try:
        value = json.loads(raw)
    except ValueError as exc:
        return None, f"arguments are not valid JSON ({exc})"
    if not isinstance(value, dict):
        return None, f"arguments are JSON but not an object: {raw[:100]}"
    return value, None


class _ToolBuffer:
    __slots__ = ("args", "id", "name")

    def __init__(self) -> None:
        self.id = ""
        self.name = ""
        self.args: list[str] = []

    def arguments(self) -> str:
        """The argument text so far (joined once; later fragments append to the joined text)."""
        args = self.args
        if len(args) > 1:
            args[:] = ["".join(args)]
        return args[0] if args else ""


_BLOCK = 1024


class _Text:
    """Pieces of one text, joined 1,024 at a time; `add` in `StreamAccumulator` appends inline."""

    __slots__ = ("blocks", "pieces")

    def __init__(self) -> None:
        self.pieces: list[str] = []
        self.blocks: list[str] = []

    def compact(self) -> None:
        self.blocks.append("".join(self.pieces))
        self.pieces.clear()

    def value(self) -> str:
        return "".join(self.blocks) + "".join(self.pieces)


class StreamAccumulator:
    """Folds events; `result()` gives the final result, `partial()` what arrived so far."""

    __slots__ = ("_reasoning", "_text", "_tools", "end", "usage")

    def __init__(self) -> None:
        self._reasoning = _Text()
        self._text = _Text()
        self._tools: dict[int, _ToolBuffer] = {}
        self.usage: Usage | None = None
        self.end: StreamEnd | None = None

    def add(self, event: StreamEvent) -> None:
        if type(event) is ReasoningDelta:
            pieces = self._reasoning.pieces
            pieces.append(event.text)
            if len(pieces) >= _BLOCK:
                self._reasoning.compact()
        elif type(event) is TextDelta:
            pieces = self._text.pieces
            pieces.append(event.text)
            if len(pieces) >= _BLOCK:
                self._text.compact()
        elif type(event) is ToolCallDelta:
            self._add_tool(event)
        elif type(event) is UsageUpdate:
            self.usage = event.usage
        elif type(event) is StreamEnd:
            self.end = event

    def _add_tool(self, delta: ToolCallDelta) -> None:
        buf = self._tools.get(delta.index)
        if buf is None:
            buf = self._tools[delta.index] = _ToolBuffer()
        if delta.id and not buf.id:
            buf.id = delta.id
        if delta.name and not buf.name:
            buf.name = delta.name
        if delta.arguments:
            buf.args.append(delta.arguments)

    def tool_calls_so_far(self) -> list[tuple[int, str, str, str]]:
        """`(index, id, name, arguments so far)` of every tool call, in index order (for streamed views)."""
        return [(i, b.id, b.name, b.arguments()) for i, b in sorted(self._tools.items())]

    def _tool_calls(self) -> tuple[ParsedToolCall, ...]:
        calls = []
        for index, call_id, name, raw in self.tool_calls_so_far():
            args, error = parse_arguments(raw)
            calls.append(ParsedToolCall(index, call_id, name, raw, args, error))
        return tuple(calls)

    def partial(self) -> ChatResult:
        end = self.end
        return ChatResult(
            reasoning=self._reasoning.value(),
            text=self._text.value(),
            tool_calls=self._tool_calls(),
            usage=self.usage,
            finish_reason=end.finish_reason if end else None,
            model=end.model if end else None,
            response_id=end.response_id if end else None,
            request_id=end.request_id if end else None,
        )

    def result(self) -> ChatResult:
        if self.end is None:
            raise RuntimeError("result() before the stream ended; use partial() for what arrived so far")
        return self.partial()
