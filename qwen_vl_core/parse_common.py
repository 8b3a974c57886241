"""What both stream parsers share: shape errors, text fields and tool-call fragments (keyed by id
when a server sends them without `index`).

Whatever the bytes, a parser raises only library errors: a chunk that is valid JSON of an
unexpected shape (a number where a text belongs, a string where an object belongs) becomes an
`IncompleteStreamError`, never an `AttributeError` from deep inside.
"""

from __future__ import annotations

from typing import Any

from .errors import IncompleteStreamError
from .events import StreamEvent, ToolCallDelta

__all__ = ["SHAPE_ERRORS", "ToolIndexes", "malformed", "string_field", "tool_call_deltas"]

SHAPE_ERRORS = (AttributeError, TypeError, ValueError, KeyError, IndexError, OverflowError, RecursionError)
"""What reading a JSON value of an unexpected shape can raise; turned into a library error."""


def malformed(what: str, data: str, exc: BaseException, request_id: str | None) -> IncompleteStreamError:
    """The error for a stream item that parsed as JSON but does not have the protocol's shape."""
    return IncompleteStreamError(
        f"The stream carried {what} of an unexpected shape ({type(exc).__name__}: {exc}): {data[:200]!r}",
        request_id=request_id,
    )


def string_field(value: Any) -> str | None:
    """A text field as sent (None or empty: absent); anything but a string is a malformed chunk."""
    if value is None or type(value) is str:
        return value or None
    raise TypeError(f"expected a string, got {type(value).__name__}")


class ToolIndexes:
    """The index of each tool call of one stream, for servers that send fragments without `index`.

    A fragment without an index belongs to the call with its id, or starts a new call (the next
    index) when the id is new; a fragment with neither continues the last call.
    """

    __slots__ = ("by_id", "last", "next")

    def __init__(self) -> None:
        self.by_id: dict[str, int] = {}
        self.last: int | None = None
        self.next = 0

    def index(self, index: Any, call_id: str | None) -> int:
        if type(index) is not int:
            if call_id is not None:
                index = self.by_id.get(call_id)
                if index is None:
                    index = self.next
            else:
                index = self.last if self.last is not None else self.next
        if call_id is not None:
            self.by_id.setdefault(call_id, index)
        self.last = index
        if index >= self.next:
            self.next = index + 1
        return index  # type: ignore[no-any-return]


def tool_call_deltas(calls: list[Any], out: list[StreamEvent], indexes: ToolIndexes | None = None) -> None:
    """Tool-call fragments → deltas; an empty id or name (continuations) becomes None.

    Without `indexes` (a whole response, each item a whole call) a missing index is the position.
    """
    if not isinstance(calls, list):
        raise TypeError(f"tool_calls is a {type(calls).__name__}, not a list")
    for position, call in enumerate(calls):
        function = call.get("function") or {}
        index = call.get("index")
        call_id = string_field(call.get("id"))
        if indexes is not None:
            index = indexes.index(index, call_id)
        out.append(
            ToolCallDelta(
                index if type(index) is int else position,
                call_id,
                string_field(function.get("name")),
                string_field(function.get("arguments")) or "",
            )
        )
