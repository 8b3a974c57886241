"""`StreamDecoder`: the one stream state machine, text in, neutral events out.

    decoder = StreamDecoder(protocol.stream_parser(request_id, model))
    for piece in body_text_pieces:
        for event in decoder.feed(piece):
            ...
        if decoder.done:
            break
    else:
        for event in decoder.finish():  # the body ended without an end marker
            ...
    decoder.accumulator.result()        # the whole answer, once `done`

Sans I/O: the client's sync and async drivers, the tests and the fuzzers all feed it the same
way. It splits lines (only at `\\n` / `\\r`), decodes server-sent events, hands them to the
protocol's parser, optionally splits `<think>` tags out of the answer, and folds every event into
its `accumulator`, so a failure can carry exactly what arrived (`fail(exc)` returns a library
error whose `partial` holds it).

With `coalesce=True` (the client's default, `ClientOptions.coalesce_deltas`), deltas of the same
kind that follow each other within one piece (one network read) are merged into one event: runs of
reasoning, runs of answer text, and a tool call's argument fragments that continue it (same index,
no new id or name). Under load one read holds hundreds of server events, and each event costs the
adapters a framework chunk; merged, a chunk costs per read. Nothing waits for more data (a piece is
parsed whole before its first event goes out anyway), a piece with one event gives that event
unchanged, and the concatenated reasoning, answer and arguments are exactly the same.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any, Protocol

from .accumulator import ChatResult, StreamAccumulator
from .errors import IncompleteStreamError, QwenVLError
from .events import ReasoningDelta, StreamEnd, StreamEvent, TextDelta, ToolCallDelta
from .sse import LineSplitter, ServerSentEvent, SSEDecoder
from .think_tags import ThinkTagSplitter

__all__ = ["StreamDecoder", "StreamParser", "coalesce"]

_PARTIAL_NOTE = (
    " What arrived is in the error's `partial`; a response that has started is never retried "
    "automatically, so retry the call to get a complete answer."
)


class StreamParser(Protocol):
    """One protocol's parser of one stream (`CompatStreamParser`, `NativeStreamParser`)."""

    request_id: str | None
    model: str | None

    @property
    def response_id(self) -> str | None: ...
    def feed_event(self, sse: ServerSentEvent) -> list[StreamEvent]: ...
    def close(self) -> list[StreamEvent]: ...


class StreamDecoder:
    """Text pieces of one streamed response → neutral events, with the partial result kept."""

    __slots__ = ("_coalesce", "_lines", "_parser", "_splitter", "_sse", "accumulator", "done", "error")

    def __init__(
        self,
        parser: StreamParser,
        *,
        split_think_tags: bool = False,
        coalesce: bool = False,
        max_line: int | None = None,
    ) -> None:
        self._coalesce = coalesce
        self._lines = LineSplitter(max_line)
        self._sse = SSEDecoder()
        self._parser = parser
        self._splitter = ThinkTagSplitter() if split_think_tags else None
        self.accumulator = StreamAccumulator()
        """Every event so far; `accumulator.result()` once `done`."""
        self.done = False
        """The stream ended (its end marker, or an error); later text is ignored."""
        self.error: QwenVLError | None = None
        """The error that ended the stream, when the server sent one (an error frame, a malformed item)."""

    @property
    def parser(self) -> StreamParser:
        return self._parser

    def set_request_id(self, request_id: str | None) -> None:
        """The request id from the response headers, once they arrived."""
        if request_id is not None and self._parser.request_id is None:
            self._parser.request_id = request_id

    def feed(self, text: str) -> Iterator[StreamEvent]:
        """The events of this piece, each folded into `accumulator` as it is taken (so the
        accumulator holds exactly what the consumer has seen). Consume it whole. On a server-sent
        error or a malformed item: the events before it, then `error` is set and `done` is true."""
        out: list[StreamEvent] = []
        failure: QwenVLError | None = None
        feed = self._sse.feed
        try:
            for line in self._lines.feed(text):
                event = feed(line)
                if event is not None:
                    self._parse(self._parser.feed_event(event), out)
                    if self.done:  # nothing after the end counts, however the body was cut
                        break
        except QwenVLError as exc:
            failure = exc
            self.done = True
        if self._coalesce and len(out) > 1:
            out = coalesce(out)
        add = self.accumulator.add
        for item in out:
            add(item)
            yield item
        if failure is not None:
            self.error = self.fail(failure)

    def feed_events(self, events: list[StreamEvent]) -> Iterator[StreamEvent]:
        """Events made otherwise (a complete JSON answer to a streamed call), taken like a stream's."""
        out: list[StreamEvent] = []
        self._parse(events, out)
        add = self.accumulator.add
        for item in out:
            add(item)
            yield item

    def _parse(self, events: list[StreamEvent], out: list[StreamEvent]) -> None:
        if self._splitter is not None:
            events = self._split(events, self._splitter)
        for item in events:
            out.append(item)
            if type(item) is StreamEnd:
                self.done = True

    def _split(self, events: list[StreamEvent], splitter: ThinkTagSplitter) -> list[StreamEvent]:
        """Route answer text through the `<think>` splitter (self-hosted servers without a parser)."""
        out: list[StreamEvent] = []
        for event in events:
            if type(event) is TextDelta:
                out.extend(splitter.feed(event.text))
            elif type(event) is ReasoningDelta:
                # The server parses reasoning itself: nothing to split, and held text was answer text.
                self._splitter = None
                out.extend(TextDelta(e.text) for e in splitter.flush())
                out.append(event)
            else:
                if type(event) is StreamEnd:
                    out.extend(splitter.flush())
                out.append(event)
        return out

    def finish(self) -> Iterator[StreamEvent]:
        """End of the body without an end marker: flush, then end (or raise `IncompleteStreamError`)."""
        out: list[StreamEvent] = []
        for line in self._lines.flush():
            event = self._sse.feed(line)
            if event is not None and not self.done:
                self._parse(self._parser.feed_event(event), out)
        last = self._sse.flush()
        if last is not None and not self.done:
            self._parse(self._parser.feed_event(last), out)
        if not self.done:
            self._parse(self._parser.close(), out)
        if self._coalesce and len(out) > 1:
            out = coalesce(out)
        add = self.accumulator.add
        for item in out:
            add(item)
            yield item

    @property
    def partial(self) -> ChatResult:
        """What arrived so far, with the ids known even when no end event came."""
        partial = self.accumulator.partial()
        if partial.finish_reason is None:
            parser = self._parser
            partial = replace(partial, model=parser.model, response_id=parser.response_id, request_id=parser.request_id)
        return partial

    def fail(self, exc: BaseException, *, describe: Any = None) -> QwenVLError:
        """Turn a failure into a library error that carries what was received (and the request id).

        `describe` maps a foreign exception (a timeout, a broken connection) to a library error;
        without it, or when it returns None, a foreign exception is re-raised as it is.
        """
        if isinstance(exc, QwenVLError):
            error = exc
        else:
            mapped = describe(exc) if describe is not None else None
            if mapped is None:
                raise exc
            error = mapped
        if error.request_id is None:
            error.request_id = self._parser.request_id
        if type(error) is IncompleteStreamError and _PARTIAL_NOTE not in error.message:
            error.message += _PARTIAL_NOTE if error.message.endswith(".") else "." + _PARTIAL_NOTE
            error.args = (error.message,)
        partial = self.partial
        if partial.finish_reason is None and error.request_id is not None:
            partial = replace(partial, request_id=error.request_id)
        error.partial = partial
        return error


def coalesce(events: list[StreamEvent]) -> list[StreamEvent]:
    """Merge neighbouring deltas of one kind: reasoning runs, answer runs, and fragments continuing
    one tool call (same index, no id or name of their own). Other events end a run; order is kept."""
    out: list[StreamEvent] = []
    run: list[str] = []
    head: StreamEvent | None = None  # the first event of the current run
    for event in events:
        kind = type(event)
        if head is not None and kind is type(head):
            if kind is not ToolCallDelta:
                run.append(event.text)  # type: ignore[union-attr]
                continue
            if (
                event.index == head.index  # type: ignore[union-attr]
                and event.id is None  # type: ignore[union-attr]
                and event.name is None  # type: ignore[union-attr]
            ):
                run.append(event.arguments)  # type: ignore[union-attr]
                continue
        if head is not None:
            out.append(_merged(head, run))
        if kind is ReasoningDelta or kind is TextDelta:
            head, run = event, [event.text]  # type: ignore[union-attr]
        elif kind is ToolCallDelta:
            head, run = event, [event.arguments]  # type: ignore[union-attr]
        else:
            head = None
            out.append(event)
    if head is not None:
        out.append(_merged(head, run))
    return out


def _merged(head: StreamEvent, run: list[str]) -> StreamEvent:
    if len(run) == 1:
        return head
    if type(head) is ToolCallDelta:
        return ToolCallDelta(head.index, head.id, head.name, "".join(run))
    if type(head) is ReasoningDelta:
        return ReasoningDelta("".join(run))
    return TextDelta("".join(run))
