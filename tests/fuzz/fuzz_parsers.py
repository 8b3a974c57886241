"""Coverage-guided fuzzing of the stream pipeline with atheris. Run by hand; pytest never collects it.

    .venv/bin/pip install atheris     # optional, not a test dependency
    .venv/bin/python tests/fuzz/fuzz_parsers.py -max_total_time=300
    mkdir -p /tmp/qwen-corpus
    .venv/bin/python tests/fuzz/fuzz_parsers.py -max_total_time=300 /tmp/qwen-corpus ../shared/wire-samples

libFuzzer writes new inputs into the FIRST directory given: always put a scratch corpus directory
first, never the wire samples. A crash is saved as `./crash-<sha1>`; replay it by passing the file.

Each input is a response body. It goes through the client's pipeline (`LineSplitter` → `SSEDecoder`
→ parser, as `QwenVLClient` drives it) for the compat parser, the compat parser with `<think>`
splitting and the native parser, once whole and once cut into pieces (decoded incrementally, like
httpx does, so cuts land inside UTF-8 sequences). A crash is any exception but a `QwenVLError`, or
a different outcome for the cut body. The body is also tried as a whole (non-streaming) JSON
response and as an error body. The recorded captures in `../shared/wire-samples` make a good seed
corpus.
"""

from __future__ import annotations

import codecs
import contextlib
import json
import math
import sys
from collections.abc import Callable

import atheris

with atheris.instrument_imports():
    from qwen_vl_core.decoder import StreamDecoder
    from qwen_vl_core.errors import QwenVLError, error_from_body
    from qwen_vl_core.parse_compat import CompatStreamParser, events_from_compat_response
    from qwen_vl_core.parse_native import NativeStreamParser, events_from_native_response
    from qwen_vl_core.retry import ABSURD_RETRY_AFTER, MAX_RETRY_AFTER, parse_retry_after, retry_delay

PIPELINES: tuple[Callable[[], StreamDecoder], ...] = (
    lambda: StreamDecoder(CompatStreamParser("rid")),
    lambda: StreamDecoder(CompatStreamParser("rid"), split_think_tags=True),
    lambda: StreamDecoder(NativeStreamParser("rid", "qvq-max")),
)


def drive(state: StreamDecoder, pieces: list[str]) -> tuple[object, ...]:
    """`QwenVLClient._stream_body` without the network; the outcome as comparable values."""
    events: list[object] = []
    try:
        for piece in pieces:
            events.extend(state.feed(piece))
            if state.done:
                break
        else:
            events.extend(state.finish())
    except QwenVLError as exc:
        error: QwenVLError | None = state.fail(exc)
    else:
        error = state.error
    state.accumulator.partial()
    return (tuple(events), None if error is None else (type(error), str(error)))


def pieces_of(data: bytes, step: int) -> list[str]:
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    out = [decoder.decode(data[i : i + step]) for i in range(0, len(data), step)]
    out.append(decoder.decode(b"", final=True))
    return out


def test_one_input(data: bytes) -> None:
    step = 1 + (data[-1] % 97 if data else 0)
    whole = [data.decode("utf-8", errors="replace")]
    for make in PIPELINES:
        if drive(make(), whole) != drive(make(), pieces_of(data, step)):
            raise AssertionError(f"cutting the body every {step} bytes changed the outcome")
    try:
        body = json.loads(data)
    except (ValueError, RecursionError):
        body = None
    if isinstance(body, dict):
        for parse in (events_from_compat_response, events_from_native_response):
            with contextlib.suppress(QwenVLError):
                parse(body, "rid")
    error_from_body(400, whole[0])
    check_retry_after(data)


def check_retry_after(data: bytes) -> None:
    """Any `Retry-After` value gives a finite, bounded wait (never nan, inf or negative)."""
    for value in (data, data.decode("latin-1"), data.decode("utf-8", errors="replace")):
        seconds = parse_retry_after(value)
        if seconds is not None and not (math.isfinite(seconds) and 0 <= seconds <= ABSURD_RETRY_AFTER):
            raise AssertionError(f"Retry-After {value!r} gave {seconds!r}")
        delay = retry_delay(len(data), seconds)
        if not (math.isfinite(delay) and 0 <= delay <= MAX_RETRY_AFTER):
            raise AssertionError(f"Retry-After {value!r} gave a delay of {delay!r}")


def main() -> None:
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
