"""What both stream parsers share: shape errors, text fields and tool-call fragments.

Whatever the bytes, a parser raises only library errors: a chunk that is valid JSON of an
unexpected shape (a number where a text belongs, a string where an object belongs) becomes an
`IncompleteStreamError`, never an `AttributeError` from deep inside.
"""

from __future__ import annotations

from typing import Any

from .errors import IncompleteStreamError
from .events import StreamEvent, ToolCallDelta

__all__ = ["SHAPE_ERRORS", "malformed", "string_field", "tool_call_deltas"]

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


def tool_call_deltas(calls: list[Any], out: list[StreamEvent]) -> None:
    """Tool-call fragments → deltas; an empty id or name (continuations) becomes None."""
    if not isinstance(calls, list):
        raise TypeError(f"tool_calls is a {type(calls).__name__}, not a list")
    for position, call in enumerate(calls):
        function = call.get("function") or {}
        index = call.get("index")
        out.append(
            ToolCallDelta(
                index if type(index) is int else position,
                string_field(call.get("id")),
                string_field(function.get("name")),
                string_field(function.get("arguments")) or "",
            )
        )
