"""A sans-I/O server-sent-events decoder shared by both protocols.

Fed one line at a time (without its line ending), it returns a `ServerSentEvent` when one is
complete. It follows the SSE spec, with one DashScope allowance: native recordings sometimes have
no blank line between events, so an `id:` or `event:` line that arrives after `data:` closes the
previous event. The native `:HTTP_STATUS/400` comment is kept as `status`.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import IncompleteStreamError

__all__ = ["LineSplitter", "SSEDecoder", "ServerSentEvent"]


@dataclass(slots=True)
class ServerSentEvent:
    data: str
    event: str = "message"
    id: str | None = None
    status: int | None = None
    """From a DashScope `:HTTP_STATUS/<code>` comment line, when present."""


class SSEDecoder:
    """Line-oriented SSE state machine; `feed(line)` → event or None, `flush()` at end of input."""

    __slots__ = ("_data", "_event", "_id", "_status")

    def __init__(self) -> None:
        self._data: list[str] = []
        self._event: str | None = None
        self._id: str | None = None
        self._status: int | None = None

    def feed(self, line: str) -> ServerSentEvent | None:
        if line.startswith("data:"):
            # Fast path: one `data:` line per event is what both protocols send.
            value = line[5:]
            self._data.append(value[1:] if value.startswith(" ") else value)
            return None
        if not line:
            return self._dispatch()
        if not self._data:  # native fast paths: the two lines every DashScope event repeats
            if line == "event:result":
                self._event = "result"
                return None
            if line == ":HTTP_STATUS/200":
                self._status = 200
                return None
        if line[0] == ":":
            if line.startswith(":HTTP_STATUS/"):
                status = line[13:].strip()
                # isdecimal, not isdigit: "²" is a digit that int() rejects; a status has 3 digits.
                self._status = int(status) if status.isdecimal() and len(status) <= 3 else None
            return None
        name, sep, value = line.partition(":")
        if sep and value.startswith(" "):
            value = value[1:]
        if name in ("id", "event"):
            done = self._dispatch() if self._data else None
            if name == "id":
                self._id = value
            else:
                self._event = value
            return done
        return None  # `retry:` and unknown fields are ignored, as the spec says

    def flush(self) -> ServerSentEvent | None:
        """End of input: return a last event that was not followed by a blank line."""
        return self._dispatch()

    def _dispatch(self) -> ServerSentEvent | None:
        if not self._data:
            self._event = None
            return None
        data = self._data[0] if len(self._data) == 1 else "\n".join(self._data)
        event = ServerSentEvent(data, self._event or "message", self._id, self._status)
        self._data = []
        self._event = None
        self._status = None
        return event


class LineSplitter:
    """Arbitrary text pieces → complete lines, split only at `\n`, `\r\n` and `\r` as SSE says.

    Not `str.splitlines()` (nor httpx's `iter_lines`, built on it): those also split at U+2028,
    U+0085 and friends, which may appear raw inside a JSON string and would break the line.
    A piece without a line end is only held (joined once the line ends), so a long line that
    trickles in many small pieces costs linear, not quadratic, time. A line held for longer than
    `max_line` characters is an `IncompleteStreamError` (not retryable): memory stays bounded
    whatever the body, and a body without line breaks is not server-sent events.
    """

    __slots__ = ("_held", "_max_line", "_pending")

    def __init__(self, max_line: int | None = None) -> None:
        self._pending: list[str] = []
        """Pieces of the line not yet ended (the last may end with a held-back carriage return)."""
        self._held = 0
        self._max_line = max_line

    def feed(self, text: str) -> list[str]:
        pending = self._pending
        if "\n" not in text and "\r" not in text and not (pending and pending[-1].endswith("\r")):
            if text:
                pending.append(text)
                self._held += len(text)
                if self._max_line is not None and self._held > self._max_line:
                    self._too_long()
            return []
        if pending:
            pending.append(text)
            text = "".join(pending)
            pending.clear()
        hold = ""
        if text.endswith("\r"):  # maybe the first half of a \r\n split across pieces
            text, hold = text[:-1], "\r"
        if "\r" in text:
            text = text.replace("\r\n", "\n").replace("\r", "\n")
        lines = text.split("\n")
        last = lines.pop() + hold
        self._held = len(last)
        if last:
            pending.append(last)
        return lines

    def _too_long(self) -> None:
        self._pending.clear()
        self._held = 0
        error = IncompleteStreamError(
            f"The stream sent a line longer than {self._max_line:,} characters without a line break, so it is "
            "not server-sent events as the API sends them; reading stopped there. If the server really sends "
            "lines this long, raise `max_sse_line=`."
        )
        error.retryable = False
        raise error

    def flush(self) -> list[str]:
        rest = "".join(self._pending).rstrip("\r")
        self._pending.clear()
        self._held = 0
        return [rest] if rest else []
