"""The emulator on the wire: connections and keep-alive, flood and paced writing, and the hostile-server
faults (stalls, silent servers, HTML pages, ignored `stream`, endless lines, echoed keys, odd Retry-After).

Raw sockets where the bytes and their timing matter; httpx where a client's view is the point.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from qwen_vl_core.testing import (
    DashScopeEmulator,
    EchoAuthorization,
    EndlessLine,
    ErrorReply,
    HtmlPage,
    IgnoreStream,
    NoHeaders,
    Reply,
    Stall,
    ToolCallReply,
)

AUTH = {"Authorization": "Bearer test-key"}
COMPAT = "/compatible-mode/v1/chat/completions"
MM = "/api/v1/services/aigc/multimodal-generation/generation"
USER = [{"role": "user", "content": "Hi"}]
COMPAT_BODY = {"model": "qwen3-vl-plus", "messages": USER}
NATIVE_BODY = {"model": "qwen3-vl-plus", "input": {"messages": [{"role": "user", "content": [{"text": "Hi"}]}]}}
RID = "0b7e1c2d-55aa-9f00-8c11-4d2e6f708192"


class Raw:
    """One TCP connection speaking HTTP/1.1 by hand; records when each chunk frame arrived."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.buffer = b""

    def close(self) -> None:
        self.sock.close()

    def send(self, path: str, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        lines = [f"POST {path} HTTP/1.1", "Host: x", "Authorization: Bearer test-key", f"Content-Length: {len(data)}"]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + data)

    def _fill(self) -> None:
        data = self.sock.recv(1 << 16)
        if not data:
            raise ConnectionError("closed by the server")
        self.buffer += data

    def _until(self, marker: bytes) -> bytes:
        while marker not in self.buffer:
            self._fill()
        head, _, self.buffer = self.buffer.partition(marker)
        return head + marker

    def _exactly(self, n: int) -> bytes:
        while len(self.buffer) < n:
            self._fill()
        data, self.buffer = self.buffer[:n], self.buffer[n:]
        return data

    def response(self) -> tuple[int, dict[str, str], list[tuple[float, bytes]]]:
        """(status, headers, [(arrival time, frame)]): one frame for a content-length body, else the chunks."""
        head = self._until(b"\r\n\r\n").decode("latin-1").split("\r\n")
        status = int(head[0].split(" ")[1])
        headers = dict(line.split(": ", 1) for line in head[1:] if line)
        if "content-length" in headers:
            return status, headers, [(time.perf_counter(), self._exactly(int(headers["content-length"])))]
        frames = []
        while (size := int(self._until(b"\r\n")[:-2], 16)) > 0:
            frames.append((time.perf_counter(), self._exactly(size)))
            assert self._exactly(2) == b"\r\n"
        assert self._exactly(2) == b"\r\n"  # the end of `0\r\n\r\n`: nothing else follows
        return status, headers, frames


def body_of(frames: list[tuple[float, bytes]]) -> bytes:
    return b"".join(frame for _, frame in frames)


@pytest.fixture
def emu() -> Iterator[DashScopeEmulator]:
    with DashScopeEmulator() as emulator:
        yield emulator


@pytest.fixture
def raw(emu: DashScopeEmulator) -> Iterator[Raw]:
    conn = Raw(emu.port)
    yield conn
    conn.close()


# -- connections and keep-alive --------------------------------------------------------------------


def test_keep_alive_across_protocols_streamed_and_not(emu, raw):
    emu.enqueue(*[Reply(text="abc", request_id=RID)] * 4)
    raw.send(COMPAT, COMPAT_BODY)
    assert json.loads(body_of(raw.response()[2]))["choices"][0]["message"]["content"] == "abc"
    raw.send(COMPAT, {**COMPAT_BODY, "stream": True})
    status, headers, frames = raw.response()
    assert (status, headers["transfer-encoding"], body_of(frames)[-14:]) == (200, "chunked", b"data: [DONE]\n\n")
    raw.send(MM, NATIVE_BODY, {"X-DashScope-SSE": "enable"})
    assert body_of(raw.response()[2]).startswith(b"id:1\nevent:result\n")
    raw.send(MM, NATIVE_BODY)
    assert json.loads(body_of(raw.response()[2]))["output"]["choices"][0]["message"]["content"] == [{"text": "abc"}]
    assert raw.buffer == b""
    second = Raw(emu.port)
    second.send(COMPAT, COMPAT_BODY)
    assert second.response()[0] == 200
    second.close()
    assert [r.connection for r in emu.requests] == [1, 1, 1, 1, 2]
    assert emu.connections_opened == 2


def test_an_http_client_pool_reuses_one_connection(emu):
    with httpx.Client(headers=AUTH, timeout=10) as http:
        for _ in range(3):
            assert (
                http.post(f"{emu.base_url}/chat/completions", json={**COMPAT_BODY, "stream": True}).status_code == 200
            )
    assert [r.connection for r in emu.requests] == [1, 1, 1]
    assert emu.connections_opened == 1


def test_new_connection_delay_is_paid_once_per_connection():
    with DashScopeEmulator(new_connection_delay=0.3) as emu:
        timings = []
        for _ in range(2):
            with httpx.Client(base_url=emu.base_url, headers=AUTH, timeout=10) as http:
                for _ in range(2):
                    start = time.perf_counter()
                    assert http.post("/chat/completions", json=COMPAT_BODY).status_code == 200
                    timings.append(time.perf_counter() - start)
        assert [r.connection for r in emu.requests] == [1, 1, 2, 2]
    assert timings[0] >= 0.3
    assert timings[1] < 0.2
    assert timings[2] >= 0.3
    assert timings[3] < 0.2


# -- flood and paced writing ---------------------------------------------------------------------


def test_flood_batches_events_paced_writes_one_per_chunk(emu, raw):
    emu.enqueue(Reply(text="abcdef", chunk_size=1), Reply(text="abcdef", chunk_size=1, delay=0.02))
    raw.send(COMPAT, {**COMPAT_BODY, "stream": True})
    flood = raw.response()[2]
    raw.send(COMPAT, {**COMPAT_BODY, "stream": True})
    start = time.perf_counter()
    paced = raw.response()[2]
    assert len(flood) == 1  # role, 6 deltas, finish and [DONE]: one write
    assert [frame.count(b"data: ") for _, frame in paced] == [1] * 9
    assert paced[-1][0] - start >= 0.02 * 8


# -- stalls and silence ----------------------------------------------------------------------------


def test_stall_mid_stream_keeps_the_connection_open(emu, raw):
    emu.enqueue(Reply(text="abcdefgh", chunk_size=2, fault=Stall(after_chunks=2, seconds=0.4)))
    raw.send(COMPAT, {**COMPAT_BODY, "stream": True})
    status, _, frames = raw.response()
    assert status == 200
    assert [frame.count(b"data: ") for _, frame in frames] == [2, 5]  # role + "ab", then "cd".."gh", finish, [DONE]
    assert frames[1][0] - frames[0][0] >= 0.4
    assert b'"content":"ab"' in frames[0][1]
    assert frames[1][1].endswith(b"data: [DONE]\n\n")


def test_stall_after_the_last_event_and_on_a_body(emu):
    emu.enqueue(
        Reply(text="ab", fault=Stall(after_chunks=99, seconds=0.3)),
        Reply(text="ab", fault=Stall(after_chunks=0, seconds=0.3)),
        Reply(text="ab", fault=Stall(after_chunks=0, seconds=1.0)),
    )
    with httpx.Client(base_url=emu.base_url, headers=AUTH, timeout=10) as http:
        start = time.perf_counter()
        assert http.post("/chat/completions", json={**COMPAT_BODY, "stream": True}).text.endswith("data: [DONE]\n\n")
        assert time.perf_counter() - start >= 0.3
        start = time.perf_counter()
        assert http.post("/chat/completions", json=COMPAT_BODY).json()["choices"][0]["message"]["content"] == "ab"
        assert time.perf_counter() - start >= 0.3
        with pytest.raises(httpx.ReadTimeout):
            http.post("/chat/completions", json=COMPAT_BODY, timeout=httpx.Timeout(10, read=0.2))


def test_no_headers_then_the_answer(emu):
    emu.enqueue(Reply(text="late", fault=NoHeaders(1.0)), Reply(text="late", fault=NoHeaders(0.3)))
    with httpx.Client(base_url=emu.native_base_url, headers=AUTH, timeout=10) as http:
        with pytest.raises(httpx.ReadTimeout):
            http.post(MM.removeprefix("/api/v1"), json=NATIVE_BODY, timeout=httpx.Timeout(10, read=0.2))
        start = time.perf_counter()
        r = http.post(MM.removeprefix("/api/v1"), json=NATIVE_BODY, headers={"X-DashScope-SSE": "enable"})
        assert time.perf_counter() - start >= 0.3
    assert r.text.startswith(
        'id:1\nevent:result\n:HTTP_STATUS/200\ndata:{"output":{"choices":[{"message":{"content":[{"text":"late"}]'
    )
    assert len(emu.requests) == 2


def test_fault_validation():
    for make in (lambda: Stall(-1, 1), lambda: Stall(0, -1), lambda: NoHeaders(-0.5)):
        with pytest.raises(ValueError, match="must be >= 0"):
            make()
    with pytest.raises(ValueError, match="bytes_total and piece_size must be >= 1, after_chunks >= 0"):
        EndlessLine(0)


# -- wrong kinds of answer -------------------------------------------------------------------------


@pytest.mark.parametrize(("path", "body"), [(COMPAT, {**COMPAT_BODY, "stream": True}), (MM, NATIVE_BODY)])
def test_html_page_whatever_was_asked(emu, raw, path, body):
    emu.enqueue(HtmlPage(), HtmlPage("<h1>Bad gateway</h1>", status=502))
    raw.send(path, body, {"X-DashScope-SSE": "enable"})
    status, headers, frames = raw.response()
    assert (status, headers["content-type"]) == (200, "text/html; charset=utf-8")
    assert body_of(frames) == (
        b"<!DOCTYPE html>\n<html><head><title>Sign in to the network</title></head>\n"
        b"<body><h1>Authentication required</h1><p>Log in to continue browsing.</p></body></html>\n"
    )
    raw.send(path, body)
    status, headers, frames = raw.response()
    assert (status, headers["content-length"], body_of(frames)) == (502, "20", b"<h1>Bad gateway</h1>")


def test_a_server_that_ignores_stream(emu):
    emu.enqueue(Reply(text="whole", request_id=RID, fault=IgnoreStream()), Reply(text="whole", request_id=RID))
    with httpx.Client(headers=AUTH, timeout=10) as http:
        streamed = http.post(emu.base_url + "/chat/completions", json={**COMPAT_BODY, "stream": True})
        plain = http.post(emu.base_url + "/chat/completions", json=COMPAT_BODY)
        assert (streamed.status_code, streamed.headers["content-type"]) == (200, "application/json")
        assert streamed.headers["content-length"] == str(len(streamed.content))
        assert {**streamed.json(), "created": 0} == {**plain.json(), "created": 0}
        emu.enqueue(Reply(text="whole", request_id=RID, fault=IgnoreStream()), Reply(text="whole", request_id=RID))
        native_url = emu.native_base_url + MM.removeprefix("/api/v1")
        streamed = http.post(native_url, json=NATIVE_BODY, headers={"X-DashScope-SSE": "enable"})
        assert streamed.headers["content-type"] == "application/json"
        assert streamed.text == http.post(native_url, json=NATIVE_BODY).text


def test_endless_data_line(emu, raw):
    fault = EndlessLine(bytes_total=300_000, after_chunks=2, piece_size=50_000)
    emu.enqueue(Reply(text="abc", chunk_size=1, fault=fault), Reply(text="abc", chunk_size=1, fault=fault))
    raw.send(COMPAT, {**COMPAT_BODY, "stream": True})
    body = body_of(raw.response()[2])
    events, _, line = body.rpartition(b"\n\n")
    assert events.count(b"data: ") == 2  # the role chunk and "a", then the line that never ends
    prefix = b'data: {"choices":[{"delta":{"content":"'
    assert line == prefix + b"x" * (300_000 - len(prefix))
    raw.send(MM, NATIVE_BODY, {"X-DashScope-SSE": "enable"})
    body = body_of(raw.response()[2])
    events, _, line = body.rpartition(b"\n")
    assert events.count(b"event:result") == 3  # two events, then the head of the third
    assert events.endswith(b"id:3\nevent:result\n:HTTP_STATUS/200")
    assert len(b"\n" + line) + len(b"id:3\nevent:result\n:HTTP_STATUS/200") == 300_000
    assert line.startswith(b'data:{"output":{"choices":[{"message":{"content":[{"text":"xxx')


def test_401_that_echoes_the_authorization_header(emu):
    emu.enqueue(EchoAuthorization(), EchoAuthorization(status=403))
    r = httpx.post(emu.base_url + "/chat/completions", json=COMPAT_BODY, headers=AUTH)
    assert r.status_code == 401
    assert r.json() == {
        "error": {
            "message": "Incorrect API key provided: Bearer test-key",
            "type": "invalid_request_error",
            "param": None,
            "code": "invalid_api_key",
        }
    }
    r = httpx.post(emu.native_base_url + MM.removeprefix("/api/v1"), json=NATIVE_BODY, headers=AUTH)
    assert (r.status_code, r.json()) == (
        403,
        {
            "code": "InvalidApiKey",
            "message": "Invalid API-key provided: Bearer test-key",
            "request_id": r.headers["x-request-id"],
        },
    )
    with DashScopeEmulator(flavour="vllm", api_key=None) as vllm:
        vllm.enqueue(EchoAuthorization())
        r = httpx.post(
            vllm.base_url + "/chat/completions", json=COMPAT_BODY, headers={"Authorization": "Bearer sk-abc"}
        )
        assert (r.status_code, r.text) == (401, '{"error":"Unauthorized: Bearer sk-abc"}')


@pytest.mark.parametrize(
    ("value", "header"),
    [
        ("nan", "nan"),
        ("inf", "inf"),
        ("-5", "-5"),
        ("Wed, 21 Oct 2026 07:28:00 GMT", "Wed, 21 Oct 2026 07:28:00 GMT"),
        (float("nan"), "nan"),
        (float("inf"), "inf"),
        (-5, "-5"),
        (2.0, "2"),
        (1.5, "1.5"),
    ],
)
def test_retry_after_verbatim_or_as_seconds(emu, value, header):
    emu.enqueue(ErrorReply(429, "slow down", code="limit_requests", retry_after=value))
    r = httpx.post(emu.base_url + "/chat/completions", json=COMPAT_BODY, headers=AUTH)
    assert (r.status_code, r.headers["retry-after"]) == (429, header)
    with DashScopeEmulator(flavour="vllm") as vllm:
        vllm.enqueue(ErrorReply(503, "busy", retry_after=value))
        r = httpx.post(vllm.base_url + "/chat/completions", json=COMPAT_BODY, headers=AUTH)
        assert (r.status_code, r.headers["retry-after"]) == (503, header)


@pytest.mark.parametrize(
    ("status", "code", "native_code"),
    [(429, "limit_requests", "Throttling.RateQuota"), (500, "InternalError", "InternalError")],
)
def test_native_http_200_stream_opening_with_an_error_event(emu, status, code, native_code):
    emu.enqueue(ErrorReply(status, "try later", code=code, sse_framed=True, retry_after="nan", request_id=RID))
    url = emu.native_base_url + MM.removeprefix("/api/v1")
    r = httpx.post(url, json=NATIVE_BODY, headers={**AUTH, "X-DashScope-SSE": "enable"})
    assert (r.status_code, r.headers["content-type"], r.headers["retry-after"]) == (
        200,
        "text/event-stream;charset=UTF-8",
        "nan",
    )
    error = json.dumps({"code": native_code, "message": "try later", "request_id": RID}, separators=(",", ":"))
    assert r.text == f"id:1\nevent:error\n:HTTP_STATUS/{status}\ndata:{error}\n\n"


# -- tool calls without index ----------------------------------------------------------------------


def test_tool_call_fragments_without_index(emu):
    calls = [ToolCallReply("f", ['{"a":', "1}"], id="call_1", omit_index=True), ToolCallReply("g", "{}", id="call_2")]
    emu.enqueue(Reply(tool_calls=calls), Reply(tool_calls=calls), Reply(tool_calls=calls))
    with httpx.Client(headers=AUTH, timeout=10) as http:
        text = http.post(emu.base_url + "/chat/completions", json={**COMPAT_BODY, "stream": True}).text
        deltas = [json.loads(b[6:])["choices"][0]["delta"] for b in text.split("\n\n")[1:3]]
        assert [d["tool_calls"] for d in deltas] == [
            [{"id": "call_1", "type": "function", "function": {"name": "f", "arguments": '{"a":'}}],
            [
                {"id": "", "type": "function", "function": {"arguments": "1}"}},
                {"index": 1, "id": "call_2", "type": "function", "function": {"name": "g", "arguments": "{}"}},
            ],
        ]
        message = http.post(emu.base_url + "/chat/completions", json=COMPAT_BODY).json()["choices"][0]["message"]
        assert [sorted(call) for call in message["tool_calls"]] == [
            ["function", "id", "type"],
            ["function", "id", "index", "type"],
        ]
        native = http.post(emu.native_base_url + MM.removeprefix("/api/v1"), json=NATIVE_BODY).json()
        assert [c["index"] for c in native["output"]["choices"][0]["message"]["tool_calls"]] == [0, 1]
    with DashScopeEmulator(flavour="vllm") as vllm:
        vllm.enqueue(Reply(tool_calls=calls))
        text = httpx.post(vllm.base_url + "/chat/completions", json={**COMPAT_BODY, "stream": True}, headers=AUTH).text
        first = json.loads(text.split("\n\n")[1][6:])["choices"][0]["delta"]
        assert first == {
            "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "f", "arguments": '{"a":'}}]
        }
