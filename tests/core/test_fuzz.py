"""Property tests for the stream pipeline: bytes → `LineSplitter` → `SSEDecoder` → protocol parser.

Three properties, for the compat parser (with and without `<think>` splitting) and the native one,
driven exactly as the client drives them (`qwen_vl_core.decoder.StreamDecoder`):

* whatever arrives (arbitrary bytes decoded like httpx does, arbitrary text, SSE-shaped token soup,
  valid JSON of any shape), nothing but a `QwenVLError` is raised, every event is well typed, and
  the partial result can always be built;
* cutting a stream into pieces anywhere (inside a UTF-8 sequence, inside `\\r\\n`) never changes the
  events or the error: recorded captures from `../shared/wire-samples` (skipped when absent) and
  generated streams, whose events are also checked against what was generated;
* nothing hangs: a watchdog fails any test that runs for a minute, and the pathological inputs
  (a long line trickling in byte by byte, deeply nested JSON, huge status numbers) finish.

`tests/fuzz/fuzz_parsers.py` is a coverage-guided (atheris) target for the same pipeline.
"""

from __future__ import annotations

import codecs
import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qwen_vl_core import (
    ChatResult,
    IncompleteStreamError,
    QwenVLError,
    ReasoningDelta,
    StreamEnd,
    TextDelta,
    ToolCallDelta,
    Usage,
    UsageUpdate,
)
from qwen_vl_core.decoder import StreamDecoder
from qwen_vl_core.errors import error_from_body
from qwen_vl_core.events import StreamEvent
from qwen_vl_core.parse_compat import CompatStreamParser, events_from_compat_response, usage_from_compat
from qwen_vl_core.parse_native import NativeStreamParser, events_from_native_response, usage_from_native
from qwen_vl_core.retry import ABSURD_RETRY_AFTER, MAX_RETRY_AFTER, parse_retry_after, retry_delay
from qwen_vl_core.sse import LineSplitter, SSEDecoder

SAMPLES = Path(__file__).resolve().parents[3] / "shared" / "wire-samples"
PARTIAL_NOTE = (
    " What arrived is in the error's `partial`; a response that has started is never retried "
    "automatically, so retry the call to get a complete answer."
)
FUZZ = settings(max_examples=150, deadline=timedelta(seconds=2), suppress_health_check=[HealthCheck.too_slow])


pytestmark = pytest.mark.usefixtures("hang_watchdog")  # tests/core/conftest.py


# -- driving the pipeline like the client does ------------------------------------------------------


def compat_state() -> StreamDecoder:
    return StreamDecoder(CompatStreamParser("rid"))


def think_state() -> StreamDecoder:
    return StreamDecoder(CompatStreamParser("rid"), split_think_tags=True)


def native_state() -> StreamDecoder:
    return StreamDecoder(NativeStreamParser("rid", "qvq-max"))


PIPELINES: dict[str, Callable[[], StreamDecoder]] = {
    "compat": compat_state,
    "compat-think-tags": think_state,
    "native": native_state,
}
PIPELINE = pytest.mark.parametrize("make_state", list(PIPELINES.values()), ids=list(PIPELINES))


@dataclass(frozen=True)
class Outcome:
    events: tuple[StreamEvent, ...]
    error: tuple[type[QwenVLError], str, ChatResult | None] | None


def drive(state: StreamDecoder, pieces: list[str]) -> Outcome:
    """`QwenVLClient._stream_body` without the network: feed, stop at the end or an error, finish."""
    events: list[StreamEvent] = []
    try:
        for piece in pieces:
            events.extend(state.feed(piece))
            if state.done:
                break
        else:
            events.extend(state.finish())
    except QwenVLError as exc:  # what `finish` raises; anything else fails the test
        error: QwenVLError | None = state.fail(exc)
    else:
        error = state.error
    for event in events:
        check_event(event)
    partial = state.accumulator.partial()
    assert isinstance(partial.reasoning, str)
    assert isinstance(partial.text, str)
    if error is None:
        return Outcome(tuple(events), None)
    return Outcome(tuple(events), (type(error), str(error), error.partial))


def check_event(event: StreamEvent) -> None:
    """Every event has the types its class promises (no number where a text belongs)."""
    kind = type(event)
    if kind is ReasoningDelta or kind is TextDelta:
        assert type(event.text) is str  # type: ignore[union-attr]
        assert event.text  # type: ignore[union-attr]
    elif kind is ToolCallDelta:
        assert type(event.index) is int  # type: ignore[union-attr]
        assert event.id is None or type(event.id) is str  # type: ignore[union-attr]
        assert event.name is None or type(event.name) is str  # type: ignore[union-attr]
        assert type(event.arguments) is str  # type: ignore[union-attr]
    elif kind is UsageUpdate:
        usage = event.usage  # type: ignore[union-attr]
        assert all(type(n) is int for n in (usage.input_tokens, usage.output_tokens, usage.total_tokens))
    else:
        assert kind is StreamEnd
        assert type(event.finish_reason) is str  # type: ignore[union-attr]


def decode(data: bytes, cuts: list[int]) -> list[str]:
    """Cut the bytes at `cuts` and decode them piece by piece, as httpx's `iter_text` does."""
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    pieces = [decoder.decode(data[a:b]) for a, b in pairwise(points)]
    pieces.append(decoder.decode(b"", final=True))
    return pieces


def cut_text(text: str, cuts: list[int]) -> list[str]:
    points = sorted({c % (len(text) + 1) for c in cuts} | {0, len(text)})
    return [text[a:b] for a, b in pairwise(points)]


# -- 1. nothing but library errors ------------------------------------------------------------------

cuts = st.lists(st.integers(min_value=0, max_value=1 << 16), max_size=12)

TOKENS = [
    "data:", "data: ", "id:", "id:7", "event:", "event:result", "event:error", ":HTTP_STATUS/200",
    ":HTTP_STATUS/400", ":HTTP_STATUS/²", ":", "retry: 5", "\n", "\n", "\n\n", "\r", "\r\n", "[DONE]",
    "{", "}", "[", "]", '"', ":", ",", "null", "true", "1e999", "-1", "0", '"null"', '"stop"', '"choices"',
    '"delta"', '"reasoning_content"', '"content"', '"tool_calls"', '"function"', '"arguments"', '"index"',
    '"usage"', '"prompt_tokens"', '"output"', '"message"', '"text"', '"finish_reason"', '"error"', '"code"',
    "<think>", "</think>", "\u2028", "\x00", "\ufffd",
]  # fmt: skip
soup = st.lists(st.sampled_from(TOKENS) | st.text(max_size=4), max_size=60).map("".join)

KEYS = [
    "choices", "delta", "message", "reasoning_content", "reasoning", "content", "tool_calls", "function",
    "name", "arguments", "id", "index", "finish_reason", "usage", "prompt_tokens", "completion_tokens",
    "total_tokens", "input_tokens", "output_tokens", "output_tokens_details", "prompt_tokens_details",
    "output", "text", "model", "request_id", "error", "code", "message", "type", "param",
]  # fmt: skip
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=False)
    | st.text(max_size=6)
    | st.sampled_from(["null", "stop", "tool_calls", ""]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(KEYS), inner, max_size=4),
    max_leaves=12,
)
payloads = st.dictionaries(st.sampled_from(KEYS), json_values, max_size=5)


def sse_lines(payloads: list[dict[str, Any]], native: bool, error: bool) -> str:
    if native:
        head = "id:1\nevent:error\n:HTTP_STATUS/400\n" if error else "id:1\nevent:result\n:HTTP_STATUS/200\n"
        return "".join(f"{head}data:{json.dumps(p, ensure_ascii=False)}\n\n" for p in payloads)
    return "".join(f"data: {json.dumps(p, ensure_ascii=False)}\n\n" for p in payloads) + "data: [DONE]\n\n"


@PIPELINE
@FUZZ
@given(data=st.binary(max_size=600), cuts=cuts)
def test_arbitrary_bytes_raise_only_library_errors(make_state, data, cuts) -> None:
    drive(make_state(), decode(data, cuts))


@PIPELINE
@FUZZ
@given(text=st.text(max_size=300), cuts=cuts)
def test_arbitrary_text_raises_only_library_errors(make_state, text, cuts) -> None:
    drive(make_state(), cut_text(text, cuts))


@PIPELINE
@FUZZ
@given(text=soup, cuts=cuts)
def test_sse_shaped_soup_raises_only_library_errors(make_state, text, cuts) -> None:
    drive(make_state(), cut_text(text, cuts))


@PIPELINE
@FUZZ
@given(events=st.lists(payloads, min_size=1, max_size=4), error=st.booleans(), cuts=cuts)
def test_json_of_any_shape_raises_only_library_errors(make_state, events, error, cuts) -> None:
    native = make_state is native_state
    drive(make_state(), decode(sse_lines(events, native, error).encode(), cuts))


@FUZZ
@given(body=payloads)
def test_whole_responses_of_any_shape_raise_only_library_errors(body) -> None:
    for parse in (events_from_compat_response, events_from_native_response):
        try:
            events = parse(body, "rid")
        except QwenVLError:
            continue
        for event in events:
            check_event(event)


@FUZZ
@given(status=st.integers(min_value=400, max_value=599), text=st.text(max_size=200) | soup)
def test_error_bodies_of_any_shape_make_an_error(status, text) -> None:
    error = error_from_body(status, text)
    assert isinstance(error, QwenVLError)
    assert isinstance(str(error), str)


# -- 2. re-chunking never changes the result ----------------------------------------------------------


def sample_streams() -> list[Any]:
    if not SAMPLES.is_dir():
        return [pytest.param(None, None, marks=pytest.mark.skip(reason="../shared/wire-samples is not present"))]
    params = []
    for path in sorted(SAMPLES.glob("*")):
        name = path.name
        if name.endswith(".sse"):
            # Vendor copies mark cut chunks with a "....." line; that is not wire bytes.
            lines = ["" if line.startswith(".....") else line for line in path.read_text("utf-8").split("\n")]
            text = "\n".join(lines)
        elif name.endswith(".chunks.jsonl"):
            text = "".join(f"data: {line}\n\n" for line in path.read_text("utf-8").splitlines() if line.strip())
        else:
            continue
        pipeline = "native" if "-native-" in name else "compat"
        params.append(pytest.param(pipeline, text, id=name))
    return params


@pytest.mark.parametrize(("pipeline", "text"), sample_streams())
@settings(max_examples=25, deadline=timedelta(seconds=5), suppress_health_check=[HealthCheck.too_slow])
@given(cuts=st.lists(st.integers(min_value=0, max_value=1 << 20), max_size=40))
def test_recorded_streams_survive_any_rechunking(pipeline, text, cuts) -> None:
    whole = drive(PIPELINES[pipeline](), [text])
    assert whole.events or whole.error  # every capture yields something
    assert drive(PIPELINES[pipeline](), decode(text.encode(), cuts)) == whole


@pytest.mark.parametrize(("pipeline", "text"), sample_streams())
def test_recorded_streams_one_byte_at_a_time(pipeline, text) -> None:
    """The worst cut: every multi-byte character arrives in pieces, every `\r\n` too."""
    data = text.encode()
    assert drive(PIPELINES[pipeline](), decode(data, list(range(len(data))))) == drive(PIPELINES[pipeline](), [text])


pieces = st.lists(st.text(min_size=1, max_size=6), max_size=8)
line_ends = st.sampled_from(["\n", "\r\n", "\r"])


@dataclass(frozen=True)
class Generated:
    wire: str
    expected: tuple[StreamEvent, ...]


@st.composite
def compat_streams(draw: st.DrawFn) -> Generated:
    """A compat stream as DashScope writes it, and the events it must give."""
    reasoning, text = draw(pieces), draw(pieces)
    calls = draw(st.lists(st.tuples(st.text(min_size=1, max_size=5), pieces), max_size=2))
    usage = {"prompt_tokens": draw(st.integers(0, 99)), "completion_tokens": draw(st.integers(0, 99))}
    usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
    end = draw(line_ends)
    head = {"object": "chat.completion.chunk", "model": "qwen3-vl-plus", "id": "chatcmpl-x"}
    chunks: list[dict[str, Any]] = [{"choices": [{"delta": {"content": None, "role": "assistant"}}], **head}]
    expected: list[StreamEvent] = []
    for piece in reasoning:
        chunks.append({"choices": [{"delta": {"content": None, "reasoning_content": piece}}], **head})
        expected.append(ReasoningDelta(piece))
    for piece in text:
        chunks.append({"choices": [{"delta": {"content": piece, "reasoning_content": None}}], **head})
        expected.append(TextDelta(piece))
    for index, (name, args) in enumerate(calls):
        for position, arg in enumerate(args or [""]):
            function = {"name": name, "arguments": arg} if position == 0 else {"arguments": arg}
            call = {"index": index, "id": f"call_{index}" if position == 0 else "", "function": function}
            chunks.append({"choices": [{"delta": {"tool_calls": [call]}}], **head})
            expected.append(
                ToolCallDelta(index, f"call_{index}" if position == 0 else None, call["function"].get("name"), arg)
            )
    finish = "tool_calls" if calls else "stop"
    chunks.append({"choices": [{"finish_reason": finish, "delta": {"content": ""}}], **head})
    chunks.append({"choices": [], "usage": usage, **head})
    expected += [UsageUpdate(usage_from_compat(usage)), StreamEnd(finish, "qwen3-vl-plus", "chatcmpl-x", "rid")]
    wire = "".join(f"data: {json.dumps(c, ensure_ascii=False)}{end}{end}" for c in chunks) + f"data: [DONE]{end}{end}"
    return Generated(wire, tuple(expected))


@st.composite
def native_streams(draw: st.DrawFn) -> Generated:
    """A native stream (blank lines between events, or none, as some recordings have)."""
    reasoning, text = draw(pieces), draw(pieces)
    end = draw(line_ends)
    gap = draw(st.sampled_from([end, ""]))
    payloads: list[dict[str, Any]] = []
    expected: list[StreamEvent] = []
    for piece in reasoning:
        payloads.append(
            {"output": {"choices": [{"message": {"content": [], "reasoning_content": piece}, "finish_reason": "null"}]}}
        )
        expected.append(ReasoningDelta(piece))
    for piece in text:
        payloads.append({"output": {"choices": [{"message": {"content": [{"text": piece}]}, "finish_reason": "null"}]}})
        expected.append(TextDelta(piece))
    payloads.append({"output": {"choices": [{"message": {"content": []}, "finish_reason": "stop"}]}})
    usage = {"input_tokens": 3, "output_tokens": len(payloads), "total_tokens": 3 + len(payloads)}
    expected += [UsageUpdate(usage_from_native(usage)), StreamEnd("stop", "qvq-max", "rid", "rid")]
    wire = "".join(
        f"id:{number}{end}event:result{end}:HTTP_STATUS/200{end}"
        f"data:{json.dumps({**payload, 'usage': usage, 'request_id': 'r'}, ensure_ascii=False)}{end}{gap}"
        for number, payload in enumerate(payloads, 1)
    )
    return Generated(wire, tuple(expected))


@FUZZ
@given(stream=compat_streams(), cuts=cuts, think=st.booleans())
def test_generated_compat_streams_give_their_events_however_cut(stream, cuts, think) -> None:
    state = think_state() if think else compat_state()
    outcome = drive(state, decode(stream.wire.encode(), cuts))
    if not think:
        assert outcome == Outcome(stream.expected, None)
    assert outcome == drive(think_state() if think else compat_state(), [stream.wire])


@FUZZ
@given(stream=native_streams(), cuts=cuts)
def test_generated_native_streams_give_their_events_however_cut(stream, cuts) -> None:
    assert drive(native_state(), decode(stream.wire.encode(), cuts)) == Outcome(stream.expected, None)


def concatenated(outcome: Outcome) -> tuple[Any, ...]:
    """What coalescing must keep: the reasoning, the answer, each tool call, the usage, the end."""
    reasoning = "".join(e.text for e in outcome.events if type(e) is ReasoningDelta)
    text = "".join(e.text for e in outcome.events if type(e) is TextDelta)
    calls: dict[int, list[str]] = {}
    for e in outcome.events:
        if type(e) is ToolCallDelta:
            calls.setdefault(e.index, []).append(f"{e.id or ''}|{e.name or ''}|{e.arguments}")
    merged_calls = {
        i: (
            "".join(p.split("|")[0] for p in parts),
            "".join(p.split("|")[1] for p in parts),
            "".join(p.split("|", 2)[2] for p in parts),
        )
        for i, parts in calls.items()
    }
    rest = [e for e in outcome.events if type(e) in (UsageUpdate, StreamEnd)]
    return reasoning, text, merged_calls, rest, outcome.error


def coalescing(make: Callable[[], StreamDecoder]) -> StreamDecoder:
    state = make()
    return StreamDecoder(state.parser, split_think_tags=state._splitter is not None, coalesce=True)


@FUZZ
@given(stream=compat_streams(), cuts=cuts, think=st.booleans())
def test_coalescing_keeps_every_text_however_cut(stream, cuts, think) -> None:
    make = think_state if think else compat_state
    plain = drive(make(), [stream.wire])
    merged = drive(coalescing(make), decode(stream.wire.encode(), cuts))
    assert concatenated(merged) == concatenated(plain)
    assert len(merged.events) <= len(plain.events)


@FUZZ
@given(stream=native_streams(), cuts=cuts)
def test_coalescing_keeps_every_native_text_however_cut(stream, cuts) -> None:
    merged = drive(coalescing(native_state), decode(stream.wire.encode(), cuts))
    assert concatenated(merged) == concatenated(Outcome(stream.expected, None))


@FUZZ
@given(stream=compat_streams())
def test_coalescing_one_event_per_piece_changes_nothing(stream) -> None:
    # One SSE event per piece is what a paced server gives: every event goes out as it is.
    ends = [m.end() for m in re.finditer(r"(\r\n|\r|\n){2}", stream.wire)]
    pieces = [stream.wire[a:b] for a, b in pairwise([0, *ends])]
    assert "".join(pieces) == stream.wire
    assert drive(coalescing(compat_state), pieces) == Outcome(stream.expected, None)


retry_after_values = (
    st.text(max_size=80)
    | st.binary(max_size=80)
    | st.floats()
    | st.integers(min_value=-(10**400), max_value=10**400)
    | st.sampled_from(["nan", "inf", "-inf", "1e999", "-0", "3600", "3600.0001", " 5 ", "5s", "Wed, 21 Oct 2015"])
    | st.none()
)


@FUZZ
@given(value=retry_after_values, attempt=st.integers(min_value=0, max_value=10**6))
def test_any_retry_after_gives_a_finite_bounded_wait(value, attempt) -> None:
    seconds = parse_retry_after(value)
    assert seconds is None or (math.isfinite(seconds) and 0 <= seconds <= ABSURD_RETRY_AFTER)
    delay = retry_delay(attempt, seconds)
    assert math.isfinite(delay)
    assert 0 <= delay <= MAX_RETRY_AFTER


# -- 3. pathological inputs finish ----------------------------------------------------------------------


def test_a_long_line_trickling_in_costs_linear_time() -> None:
    """A 1,000,000-character line fed one character at a time: linear (well under a second) now;
    rebuilding the pending line per piece, as before, took minutes."""
    splitter = LineSplitter()
    line = "data: " + "x" * 1_000_000
    for char in line:
        assert splitter.feed(char) == []
    assert splitter.feed("\r") == []  # maybe half of \r\n
    assert splitter.feed("\n") == [line]
    assert splitter.flush() == []


@PIPELINE
def test_deeply_nested_json_is_a_library_error(make_state) -> None:
    outcome = drive(make_state(), ["data: " + "[" * 100_000 + "\n\n"])
    assert outcome.error is not None
    assert outcome.error[0] is IncompleteStreamError
    assert outcome.error[1].startswith("The stream carried a line that is not JSON: '[[[[")


@pytest.mark.parametrize("status", ["²", "9" * 5000, "٤٠٠", "-1", ""])
def test_odd_status_comments_are_ignored_or_read(status) -> None:
    decoder = SSEDecoder()
    for line in ["event:error", f":HTTP_STATUS/{status}", 'data:{"code":"X"}']:
        assert decoder.feed(line) is None
    event = decoder.feed("")
    assert event is not None
    assert (event.event, event.status) == ("error", 400 if status == "٤٠٠" else None)


SHAPES = [
    pytest.param('{"choices":[5]}', "compat", "AttributeError: 'int' object has no attribute 'get'", id="choice-int"),
    pytest.param(
        '{"choices":[{"delta":{"reasoning_content":["a"]}}]}', "compat", "TypeError: reasoning is a list", id="list"
    ),
    pytest.param('{"choices":[{"delta":{"content":7}}]}', "compat", "TypeError: content is a int", id="content-int"),
    pytest.param(
        '{"choices":[{"delta":{"tool_calls":[{"function":{"arguments":{"a":1}}}]}}]}',
        "compat",
        "TypeError: expected a string, got dict",
        id="arguments-object",
    ),
    pytest.param(
        '{"choices":[],"usage":{"prompt_tokens":"many"}}',
        "compat",
        "ValueError: invalid literal for int() with base 10: 'many'",
        id="usage-text",
    ),
    pytest.param(
        '{"output":{"choices":[{"finish_reason":1}]}}', "native", "TypeError: finish_reason is a int", id="fr"
    ),
    pytest.param('{"output":"x"}', "native", "AttributeError: 'str' object has no attribute 'get'", id="output-str"),
]


@pytest.mark.parametrize(("payload", "pipeline", "reason"), SHAPES)
def test_json_of_the_wrong_shape_is_an_incomplete_stream(payload, pipeline, reason) -> None:
    head = "id:1\nevent:result\n:HTTP_STATUS/200\ndata:" if pipeline == "native" else "data: "
    outcome = drive(PIPELINES[pipeline](), [head + payload + "\n\n"])
    what = "an event" if pipeline == "native" else "a chunk"
    assert outcome.error is not None
    assert outcome.error[:2] == (
        IncompleteStreamError,
        f"The stream carried {what} of an unexpected shape ({reason}): {payload!r}.{PARTIAL_NOTE} (request id rid)",
    )


@PIPELINE
def test_nothing_after_the_end_counts_however_the_body_is_cut(make_state) -> None:
    """Found by the atheris target: events after the end were delivered when they came in the same
    network read as the end, and dropped when they came in the next one."""
    if make_state is native_state:
        event = 'id:1\nevent:result\n:HTTP_STATUS/200\ndata:{"output":{"choices":[{"message":{"content":"%s"},'
        wire = (event + '"finish_reason":"stop"}]}}\n\n') % "a" + (event + '"finish_reason":"null"}]}}\n\n') % "b"
        expected = (TextDelta("a"), StreamEnd("stop", "qvq-max", "rid", "rid"))
    else:
        wire = 'data: {"choices":[{"delta":{"content":"a"},"finish_reason":"stop"}]}\n\ndata: [DONE]\n\n'
        wire += 'data: {"choices":[{"delta":{"content":"b"}}]}\n\ndata: [DONE]\n\n'
        # With `<think>` splitting, answer text before any closing tag is reasoning.
        first = ReasoningDelta("a") if make_state is think_state else TextDelta("a")
        expected = (first, StreamEnd("stop", None, None, "rid"))
    whole = drive(make_state(), [wire])
    assert whole == Outcome(expected, None)
    assert drive(make_state(), list(wire)) == whole


def test_an_unexpected_whole_response_is_a_library_error() -> None:
    with pytest.raises(QwenVLError, match=r"^The response has an unexpected shape \(AttributeError"):
        events_from_compat_response({"choices": ["x"]})
    with pytest.raises(QwenVLError, match=r"^The response has an unexpected shape \(TypeError"):
        events_from_native_response({"output": {"choices": [{"message": {"reasoning_content": 1}}]}})


def test_usage_and_text_of_a_good_stream_are_unchanged() -> None:
    """The type checks added for the fuzzer leave well-formed values alone (raw usage included)."""
    usage = {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}
    outcome = drive(
        compat_state(),
        [
            'data: {"choices":[{"delta":{"reasoning_content":"r"}}],"model":"m","id":"i"}\n\n',
            'data: {"choices":[{"delta":{"content":"t"},"finish_reason":"stop"}]}\n\n',
            f"data: {json.dumps({'choices': [], 'usage': usage})}\n\ndata: [DONE]\n\n",
        ],
    )
    assert outcome == Outcome(
        (
            ReasoningDelta("r"),
            TextDelta("t"),
            UsageUpdate(Usage(3, 2, 5, raw=usage)),
            StreamEnd("stop", "m", "i", "rid"),
        ),
        None,
    )
