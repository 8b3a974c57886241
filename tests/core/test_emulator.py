"""The DashScope emulator against the wire captures, DashScope's rules, faults and load.

Talks to the emulator over real HTTP with httpx only, so these tests pin the bytes other
clients (the openai SDK, our transport) will see.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import re
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from qwen_vl_core import testing
from qwen_vl_core.catalog import UnknownModelWarning, get_spec
from qwen_vl_core.testing import (
    DashScopeEmulator,
    Disconnect,
    ErrorFrame,
    ErrorReply,
    MalformedLine,
    NoDone,
    NoFinish,
    RecordedRequest,
    Reply,
    ResetBeforeHeaders,
    ToolCallReply,
)

ROOT = Path(__file__).resolve().parents[2]
WIRE = ROOT.parent / "shared" / "wire-samples"  # reference captures next to the repo, not copied into it
AUTH = {"Authorization": "Bearer test-key"}
SSE_TYPE = "text/event-stream;charset=UTF-8"
P = "<400> InternalError.Algo.InvalidParameter: "
RID = "0b7e1c2d-55aa-9f00-8c11-4d2e6f708192"
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
USER = [{"role": "user", "content": "Describe the picture."}]
TOOLS = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]
DEFAULT_TEXT = "Hello from the DashScope emulator."


@pytest.fixture
def emu(dashscope_emulator: DashScopeEmulator) -> DashScopeEmulator:
    return dashscope_emulator


@pytest.fixture
def client(emu: DashScopeEmulator) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=emu.base_url, headers=AUTH, timeout=10) as http:
        yield http


def post(client: httpx.Client, body: dict[str, Any]) -> httpx.Response:
    return client.post("/chat/completions", json=body)


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def sse(*payloads: Any) -> str:
    """The exact stream text for these payloads (`"[DONE]"` stays raw)."""
    return "".join(f"data: {p if p == '[DONE]' else dumps(p)}\n\n" for p in payloads)


def events_of(text: str) -> list[Any]:
    assert text.endswith("\n\n")
    blocks = text[:-2].split("\n\n")
    assert all(block.startswith("data: ") for block in blocks)
    return [b[6:] if b == "data: [DONE]" else json.loads(b[6:]) for b in blocks]


def content_of(events: list[Any]) -> str:
    return "".join(
        e["choices"][0]["delta"].get("content") or "" for e in events if isinstance(e, dict) and e["choices"]
    )


class Chunks:
    """Builds expected compat chunks for one stream (fixed id, created taken from the response)."""

    def __init__(self, first_event: dict[str, Any], model: str, request_id: str = RID) -> None:
        self.tail = {
            "object": "chat.completion.chunk",
            "usage": None,
            "created": first_event["created"],
            "system_fingerprint": None,
            "model": model,
            "id": f"chatcmpl-{request_id}",
        }

    def __call__(self, choice: dict[str, Any] | None, usage: Any = None) -> dict[str, Any]:
        return {"choices": [choice] if choice else [], **self.tail, "usage": usage}

    def role(self, thinking: bool) -> dict[str, Any]:
        delta: dict[str, Any] = {"content": None, "role": "assistant", "reasoning_content": ""}
        if not thinking:
            delta = {"content": "", "role": "assistant"}
        return self({"delta": delta, "index": 0, "logprobs": None, "finish_reason": None})

    def delta(self, **delta: Any) -> dict[str, Any]:
        return self({"delta": delta, "finish_reason": None, "index": 0, "logprobs": None})

    def finish(self, reason: str, **delta: Any) -> dict[str, Any]:
        return self({"finish_reason": reason, "delta": delta, "index": 0, "logprobs": None})


# -- streaming ---------------------------------------------------------------------------------


def test_stream_reasoning_and_text_exact_bytes(emu, client):
    emu.enqueue(Reply(reasoning="Look closely.", text="A cat.", chunk_size=6, request_id=RID))
    image = {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}
    body = {
        "model": "qvq-max",
        "stream": True,
        "stream_options": {"include_usage": True},
        "messages": [{"role": "user", "content": [image, {"type": "text", "text": "Describe."}]}],
    }
    r = post(client, body)
    assert r.status_code == 200
    assert r.headers["content-type"] == SSE_TYPE
    assert r.headers["x-request-id"] == RID
    assert r.headers["x-dashscope-call-gateway"] == "true"
    assert r.headers["transfer-encoding"] == "chunked"
    c = Chunks(events_of(r.text)[0], "qvq-max")
    usage = {
        # len("Describe.") // 4 + 1, plus 1,227 for a remote image: 1024x1024 assumed, QVQ's 28-px grid
        "prompt_tokens": 1230,
        "completion_tokens": 4,
        "total_tokens": 1234,
        "completion_tokens_details": {"reasoning_tokens": 3},
        "prompt_tokens_details": {"image_tokens": 1227},
    }
    assert r.text == sse(
        c.role(thinking=True),
        c.delta(content=None, reasoning_content="Look c"),
        c.delta(content=None, reasoning_content="losely"),
        c.delta(content=None, reasoning_content="."),
        c.delta(content="A cat.", reasoning_content=None),
        c.finish("stop", content="", reasoning_content=None),
        c(None, usage=usage),
        "[DONE]",
    )


def test_stream_without_thinking_and_without_usage(emu, client):
    emu.enqueue(Reply(text="Hello there", chunk_size=6, request_id=RID))
    r = post(client, {"model": "qwen3-vl-plus", "stream": True, "messages": USER})
    c = Chunks(events_of(r.text)[0], "qwen3-vl-plus")
    assert r.text == sse(
        c.role(thinking=False),
        c.delta(content="Hello "),
        c.delta(content="there"),
        c.finish("stop", content=""),
        "[DONE]",
    )


@pytest.mark.parametrize(("options", "has_usage"), [({"include_usage": True}, True), ({}, False), (None, False)])
def test_include_usage_switches_the_usage_chunk(client, options, has_usage):
    body: dict[str, Any] = {"model": "qwen3-vl-flash", "stream": True, "messages": USER}
    if options is not None:
        body["stream_options"] = options
    events = events_of(post(client, body).text)
    usage_chunks = [e for e in events if isinstance(e, dict) and e["choices"] == []]
    expected = {"prompt_tokens": 6, "completion_tokens": 5, "total_tokens": 11}
    assert usage_chunks == ([{**events[0], "choices": [], "usage": expected}] if has_usage else [])
    assert all(e["usage"] is None for e in events if isinstance(e, dict) and e["choices"])
    assert events[-1] == "[DONE]"
    assert content_of(events) == DEFAULT_TEXT


def test_stream_tool_calls_split_and_parallel_share_a_chunk(emu, client):
    calls = [
        ToolCallReply("get_weather", '{"city": "Hangzhou"}', id="call_a"),
        ToolCallReply("get_time", ['{"tz": ', '"UTC+8"}'], id="call_b"),
    ]
    emu.enqueue(Reply(tool_calls=calls, request_id=RID))
    r = post(client, {"model": "qwen3-vl-plus", "stream": True, "tools": TOOLS, "messages": USER})
    c = Chunks(events_of(r.text)[0], "qwen3-vl-plus")

    def head(i: int, call_id: str, name: str, args: str) -> dict[str, Any]:
        return {"index": i, "id": call_id, "type": "function", "function": {"name": name, "arguments": args}}

    def more(i: int, args: str) -> dict[str, Any]:
        return {"index": i, "id": "", "type": "function", "function": {"arguments": args}}

    assert r.text == sse(
        c.role(thinking=False),
        c.delta(content=None, tool_calls=[head(0, "call_a", "get_weather", '{"city":')]),
        c.delta(content=None, tool_calls=[more(0, ' "Hangzh')]),
        c.delta(content=None, tool_calls=[more(0, 'ou"}'), head(1, "call_b", "get_time", '{"tz": ')]),
        c.delta(content=None, tool_calls=[more(1, '"UTC+8"}')]),
        c.finish("tool_calls"),
        "[DONE]",
    )


def test_stream_tool_calls_in_thinking_mode(emu, client):
    emu.enqueue(Reply(reasoning="Check.", tool_calls=[ToolCallReply("get_weather", "{}")]))
    body = {
        "model": "qwen3-vl-plus",
        "enable_thinking": True,
        "stream": True,
        "tools": TOOLS,
        "messages": USER,
    }
    events = events_of(post(client, body).text)
    tool_chunk = events[2]
    delta = tool_chunk["choices"][0]["delta"]
    assert list(delta) == ["content", "reasoning_content", "tool_calls"]
    assert delta["content"] is None
    assert delta["reasoning_content"] is None
    call = delta["tool_calls"][0]
    assert re.fullmatch(r"call_[0-9a-f]{24}", call["id"])
    assert call["function"] == {"name": "get_weather", "arguments": "{}"}
    assert events[3]["choices"] == [{"finish_reason": "tool_calls", "delta": {}, "index": 0, "logprobs": None}]
    if WIRE.is_dir():  # same delta key order as the qwen3.5-plus capture
        line = (WIRE / "devcomment-compat-qwen3.5-plus-toolcall-delta-excerpt.chunks.jsonl").read_text()
        assert list(json.loads(line.splitlines()[0])["choices"][0]["delta"]) == list(delta)


# -- byte-faithfulness against the captures --------------------------------------------------


def normalise(line: str) -> str:
    line = re.sub(r'"created":\d+', '"created":0', line)
    return re.sub(r'"id":"chatcmpl-[0-9a-f-]+"', '"id":"chatcmpl-X"', line)


def capture_events(name: str) -> list[str]:
    lines = (WIRE / name).read_text(encoding="utf-8").splitlines()
    return [line for line in lines if line.startswith("data: ")]


@pytest.mark.skipif(not WIRE.is_dir(), reason="shared wire samples not available")
def test_qvq_max_stream_matches_capture(emu, client):
    cap = capture_events("aliyun-docs-mirror-qvq-max-compat-stream-abridged.sse")
    usage = json.loads(cap[-2][6:])["usage"]
    pieces = [json.loads(line[6:])["choices"][0]["delta"]["reasoning_content"] for line in cap[1:6]]
    assert pieces[1] == "\uff0c"  # a full-width comma
    emu.enqueue(Reply(reasoning=pieces, text=["方", "厘米"], usage=usage))
    body = {"model": "qvq-max", "stream": True, "stream_options": {"include_usage": True}, "messages": USER}
    ours = [f"data: {block[6:]}" for block in post(client, body).text[:-2].split("\n\n")]
    first, cap_first = json.loads(ours[0][6:]), json.loads(cap[0][6:])
    # The first reasoning chunk's key order, at every level, is the capture's.
    assert list(first) == list(cap_first)
    assert list(first["choices"][0]) == list(cap_first["choices"][0])
    assert list(first["choices"][0]["delta"]) == list(cap_first["choices"][0]["delta"])
    assert normalise(ours[0]) == normalise(cap[0])
    # Capture line 2 puts finish_reason first (a one-off quirk); same JSON, later pieces same bytes.
    assert json.loads(normalise(ours[1])[6:]) == json.loads(normalise(cap[1])[6:])
    assert [normalise(x) for x in ours[2:6]] == [normalise(x) for x in cap[2:6]]
    # QVQ answer chunks lack reasoning_content; we send null like qwen3.6-plus (see the next test).
    assert [json.loads(x[6:])["choices"][0]["delta"]["content"] for x in ours[6:8]] == ["方", "厘米"]
    assert [normalise(x) for x in ours[8:]] == [normalise(x) for x in cap[-3:]]


@pytest.mark.skipif(not WIRE.is_dir(), reason="shared wire samples not available")
def test_qwen36_plus_thinking_stream_tail_matches_capture_byte_for_byte(emu, client):
    cap = capture_events("devlog-compat-qwen3.6-plus-thinking-stream-tail-excerpt.sse")
    chunks = [json.loads(line[6:]) for line in cap[:-1]]
    deltas = [chunk["choices"][0]["delta"] for chunk in chunks if chunk["choices"]]
    reasoning = [d["reasoning_content"] for d in deltas if d.get("reasoning_content")]
    text = [d["content"] for d in deltas if d.get("content")]
    emu.enqueue(Reply(reasoning=reasoning, text=text, usage=chunks[-1]["usage"]))
    body = {
        "model": "qwen3.6-plus",  # not in the catalog: no model rules, thinking from enable_thinking
        "enable_thinking": True,
        "stream": True,
        "stream_options": {"include_usage": True},
        "messages": USER,
    }
    ours = [f"data: {block[6:]}" for block in post(client, body).text[:-2].split("\n\n")]
    assert [normalise(line) for line in ours[1:]] == [normalise(line) for line in cap]


# -- non-streaming -----------------------------------------------------------------------------


def test_non_stream_thinking_body(emu, client):
    emu.enqueue(Reply(reasoning="Think first.", text="Answer.", request_id=RID))
    r = post(client, {"model": "qwen3-vl-plus", "enable_thinking": True, "messages": USER})
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json"
    assert r.headers["x-request-id"] == RID
    assert r.headers["content-length"] == str(len(r.content))
    created = r.json()["created"]
    assert r.text == dumps(
        {
            "choices": [
                {
                    "message": {
                        "content": "Answer.",
                        "reasoning_content": "Think first.",
                        "role": "assistant",
                    },
                    "finish_reason": "stop",
                    "index": 0,
                    "logprobs": None,
                }
            ],
            "object": "chat.completion",
            "usage": {
                "prompt_tokens": 6,
                "completion_tokens": 3,
                "total_tokens": 9,
                "completion_tokens_details": {"reasoning_tokens": 2},
            },
            "created": created,
            "system_fingerprint": None,
            "model": "qwen3-vl-plus",
            "id": f"chatcmpl-{RID}",
        }
    )


def test_non_stream_tool_calls_body(emu, client):
    call = ToolCallReply("get_weather", '{"city": "Hangzhou"}', id="call_0123456789abcdef01234567")
    emu.enqueue(Reply(tool_calls=[call]))
    body = r_json = post(client, {"model": "qwen3-vl-plus", "tools": TOOLS, "messages": USER}).json()
    assert body["choices"] == [
        {
            "message": {
                "content": "",
                "role": "assistant",
                "tool_calls": [
                    {
                        "function": {"arguments": '{"city": "Hangzhou"}', "name": "get_weather"},
                        "id": "call_0123456789abcdef01234567",
                        "index": 0,
                        "type": "function",
                    }
                ],
            },
            "finish_reason": "tool_calls",
            "index": 0,
            "logprobs": None,
        }
    ]
    assert r_json["usage"] == {"prompt_tokens": 6, "completion_tokens": 3, "total_tokens": 9}
    assert UUID.fullmatch(r_json["id"].removeprefix("chatcmpl-"))


def test_non_stream_overrides(emu, client):
    usage = {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3, "prompt_tokens_details": {}}
    emu.enqueue(Reply(text="cut", finish_reason="length", usage=usage, model="qwen3-vl-plus-2025-09-23"))
    body = post(client, {"model": "qwen3-vl-plus", "messages": USER}).json()
    assert body["choices"][0]["message"] == {"content": "cut", "role": "assistant"}
    assert body["choices"][0]["finish_reason"] == "length"
    assert body["model"] == "qwen3-vl-plus-2025-09-23"
    assert body["usage"] == usage
    assert list(body) == ["choices", "object", "usage", "created", "system_fingerprint", "model", "id"]


# -- rules -------------------------------------------------------------------------------------


def image(url: str) -> dict[str, Any]:
    return {"type": "image_url", "image_url": {"url": url}}


def with_parts(*parts: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"role": "user", "content": [*parts, {"type": "text", "text": "Describe."}]}]


BIG_DATA_URL = "data:image/png;base64," + "A" * 10_485_761
LIMIT_DATA_URL = "data:image/png;base64," + "A" * 10_485_760
JSON_USER = [{"role": "user", "content": "Answer in JSON."}]

RULE_CASES = [
    pytest.param(
        {"model": "qvq-max", "messages": USER},
        "This model only support stream mode, please enable the stream parameter to access the model. ",
        id="stream-only",
    ),
    pytest.param(
        {"model": "qwen3-vl-8b-thinking", "enable_thinking": False, "messages": USER},
        P + "The value of the enable_thinking parameter is restricted to True.",
        id="thinking-only-disabled",
    ),
    pytest.param(
        {
            "model": "qwen3-vl-plus",
            "enable_thinking": True,
            "tools": TOOLS,
            "tool_choice": "required",
            "messages": USER,
        },
        P + "The tool_choice parameter does not support being set to required or object in thinking mode",
        id="tool-choice-required-thinking",
    ),
    pytest.param(
        {
            "model": "qwen3-vl-32b-thinking",
            "tools": TOOLS,
            "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
            "messages": USER,
        },
        P + "The tool_choice parameter does not support being set to required or object in thinking mode",
        id="tool-choice-object-thinking-only",
    ),
    pytest.param(
        {
            "model": "qwen3-vl-plus",
            "enable_thinking": True,
            "response_format": {"type": "json_object"},
            "messages": JSON_USER,
        },
        P + "Json mode response is not supported when enable_thinking is true",
        id="json-object-thinking",
    ),
    pytest.param(
        {
            "model": "qwen3-vl-235b-a22b-thinking",
            "response_format": {"type": "json_schema"},
            "messages": USER,
        },
        P + "Json mode response is not supported when enable_thinking is true",
        id="json-schema-thinking-only",
    ),
    pytest.param(
        {"model": "qwen3-vl-plus", "response_format": {"type": "json_object"}, "messages": USER},
        P + "'messages' must contain the word 'json' in some form, to use 'response_format' of type 'json_object'.",
        id="json-object-without-the-word",
    ),
    *(
        pytest.param(
            {"model": "qwen3-vl-plus", "enable_thinking": True, "thinking_budget": budget, "messages": USER},
            P + "The thinking_budget parameter must be a positive integer and not greater than 81920",
            id=f"thinking-budget-{budget!r}",
        )
        for budget in (0, -5, "100", True, 1.5, 81_921)
    ),
    pytest.param(
        {"model": "qwen3-vl-plus", "messages": with_parts(image(BIG_DATA_URL))},
        P + "Exceeded limit on max bytes per data-uri item : 10485760",
        id="data-url-too-long-image",
    ),
    pytest.param(
        {
            "model": "qwen3-vl-plus",
            "messages": with_parts({"type": "video", "video": ["https://e.com/1.jpg", BIG_DATA_URL]}),
        },
        P + "Exceeded limit on max bytes per data-uri item : 10485760",
        id="data-url-too-long-video-frame",
    ),
    pytest.param(
        {"model": "qwen3-vl-plus", "messages": with_parts(image("file:///tmp/cat.png"))},
        P + "Failed to download multimodal content",
        id="file-url",
    ),
    pytest.param(
        {"model": "qwen3-vl-plus", "messages": with_parts(image("cat.png"))},
        P + "Failed to download multimodal content",
        id="bare-path",
    ),
    pytest.param(
        {
            "model": "qwen3-vl-plus",
            "messages": with_parts({"type": "video_url", "video_url": {"url": "/v/clip.mp4"}}),
        },
        P + "Failed to download multimodal content",
        id="video-path",
    ),
    pytest.param(
        {"model": "qwen3-vl-plus", "messages": [{"role": "system", "content": "Be brief."}]},
        P + "The input messages do not contain elements with the role of user",
        id="no-user-message",
    ),
    pytest.param(
        {"model": "qwen3-vl-plus", "messages": [*USER, {"role": "system", "content": "Be brief."}]},
        P + "System message must be at the beginning.",
        id="system-not-first",
    ),
    pytest.param(
        {"model": "qvq-max", "stream": True, "thinking_budget": 16_385, "messages": USER},
        P + "The thinking_budget parameter must be a positive integer and not greater than 16384",
        id="thinking-budget-qvq-stream",
    ),
]


@pytest.mark.parametrize(("body", "message"), RULE_CASES)
def test_rule_rejection(emu, client, body, message):
    emu.enqueue(Reply(text="must not be consumed"))
    r = post(client, body)
    assert r.status_code == 400
    text = r.text
    if body.get("stream"):  # DashScope frames an up-front stream failure as SSE (protocol doc §4.1)
        assert r.headers["content-type"] == SSE_TYPE
        assert text.startswith("data: ")
        assert text.endswith("\n\n")
        text = text[6:-2]
    else:
        assert r.headers["content-type"] == "application/json"
    payload = json.loads(text)
    rid = payload["request_id"]
    assert UUID.fullmatch(rid)
    assert text == dumps(
        {
            "error": {
                "code": "invalid_parameter_error",
                "param": None,
                "message": message,
                "type": "invalid_request_error",
            },
            "id": f"chatcmpl-{rid}",
            "request_id": rid,
        }
    )
    assert r.headers["x-request-id"] == rid
    assert emu.pending == 1  # a rejected request does not consume the queue
    assert emu.last_request.body == body


ACCEPTED_CASES = [
    pytest.param({"model": "qwen3-vl-plus", "enable_thinking": True, "tool_choice": "auto", "tools": TOOLS}, id="auto"),
    pytest.param({"model": "qwen3-vl-plus", "tool_choice": "required", "tools": TOOLS}, id="required-no-thinking"),
    pytest.param({"model": "qwen3-vl-plus", "response_format": {"type": "json_schema"}}, id="schema-no-thinking"),
    pytest.param({"model": "qwen3-vl-plus", "enable_thinking": True, "thinking_budget": 81_920}, id="budget-max"),
    pytest.param({"model": "qvq-max", "stream": True, "enable_thinking": True}, id="qvq-stream"),
    pytest.param({"model": "qwen3-vl-plus", "messages": with_parts(image(LIMIT_DATA_URL))}, id="data-url-at-limit"),
    pytest.param(
        {
            "model": "qwen3-vl-plus",
            "messages": with_parts({"type": "video", "video": ["https://e.com/1.jpg"]}),
        },
        id="video-frames",
    ),
    pytest.param(
        {"model": "qwen3-vl-plus", "messages": [{"role": "system", "content": "Be brief."}, *USER]},
        id="system-first",
    ),
    pytest.param(
        {
            "model": "qwen3-vl-plus",
            "response_format": {"type": "json_object"},
            "messages": [{"role": "user", "content": [{"type": "text", "text": "Reply with a Json object."}]}],
        },
        id="json-word-in-text-part",
    ),
]


@pytest.mark.parametrize("body", ACCEPTED_CASES)
def test_rule_accepts(client, body):
    r = post(client, {"messages": USER, **body})
    assert r.status_code == 200
    text = content_of(events_of(r.text)) if body.get("stream") else r.json()["choices"][0]["message"]["content"]
    assert text == DEFAULT_TEXT


def test_enforce_rules_off():
    with (
        DashScopeEmulator(enforce_rules=False) as emu,
        httpx.Client(base_url=emu.base_url, headers=AUTH, timeout=10) as http,
    ):
        r = post(http, {"model": "qvq-max", "messages": [{"role": "system", "content": "no user"}]})
        assert r.status_code == 200
        assert r.json()["choices"][0]["message"]["content"] == DEFAULT_TEXT


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "test-key"}])
def test_auth_rejection(emu, headers):
    emu.enqueue(Reply(text="kept"))
    r = httpx.post(f"{emu.base_url}/chat/completions", headers=headers, json={"model": "qvq-max", "messages": USER})
    assert r.status_code == 401
    rid = r.json()["request_id"]
    assert UUID.fullmatch(rid)
    assert r.text == dumps(
        {
            "error": {
                "message": "Incorrect API key provided. ",
                "type": "invalid_request_error",
                "param": None,
                "code": "invalid_api_key",
            },
            "request_id": rid,
        }
    )
    assert emu.pending == 1
    assert emu.requests[0].headers.get("authorization") == headers.get("Authorization")


def test_no_api_key_means_no_auth():
    with DashScopeEmulator(api_key=None) as emu:
        assert emu.api_key is None
        r = httpx.post(f"{emu.base_url}/chat/completions", json={"model": "qwen3-vl-plus", "messages": USER})
        assert r.status_code == 200


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/compatible-mode/v1/embeddings"),
        ("GET", "/compatible-mode/v1/chat/completions"),
        ("POST", "/"),
    ],
)
def test_unknown_path_is_404(emu, method, path):
    r = httpx.request(method, f"http://127.0.0.1:{emu.port}{path}", headers=AUTH, json={})
    assert r.status_code == 404
    assert r.headers["content-type"] == "application/json"
    assert r.text == '{"error":{"message":"Not Found","type":"not_found","code":"not_found"}}'


@pytest.mark.parametrize("content", [b"not json", b"[1, 2]", b"", b"\xff\xfe"])
def test_body_not_a_json_object_is_400(emu, client, content):
    r = client.post("/chat/completions", content=content, headers={"Content-Type": "application/json"})
    assert r.status_code == 400
    assert r.json()["error"]["message"] == P + "The request body is not valid JSON."
    assert r.json()["error"]["code"] == "invalid_parameter_error"
    assert emu.last_request.raw == content


# -- scripted errors ---------------------------------------------------------------------------


def test_error_reply_with_retry_after(emu, client):
    emu.enqueue(
        ErrorReply(
            429,
            "Requests rate limit exceeded, please try again later.",
            code="limit_requests",
            type="limit_requests",
            retry_after=2,
            request_id=RID,
        ),
        ErrorReply(503, "Model is unavailable, please try again later.", retry_after=1.5),
    )
    r = post(client, {"model": "qwen3-vl-plus", "messages": USER})
    assert r.status_code == 429
    assert r.headers["retry-after"] == "2"
    assert r.headers["content-type"] == "application/json"
    assert r.headers["x-request-id"] == RID
    assert r.text == (
        '{"error":{"code":"limit_requests","param":null,"message":"Requests rate limit exceeded, please try '
        f'again later.","type":"limit_requests"}},"id":"chatcmpl-{RID}","request_id":"{RID}"}}'
    )
    r = post(client, {"model": "qwen3-vl-plus", "messages": USER})
    assert r.status_code == 503
    assert r.headers["retry-after"] == "1.5"
    assert r.json()["error"]["code"] == "invalid_parameter_error"


def test_error_reply_sse_framed(emu, client):
    emu.enqueue(ErrorReply(400, "Range of top_logprobs should be [0, 5]", sse_framed=True, request_id=RID))
    r = post(client, {"model": "qwen3-vl-plus", "stream": True, "messages": USER})
    assert r.status_code == 400
    assert r.headers["content-type"] == SSE_TYPE
    assert "retry-after" not in r.headers
    assert r.text == (
        'data: {"error":{"code":"invalid_parameter_error","param":null,"message":"Range of top_logprobs '
        f'should be [0, 5]","type":"invalid_request_error"}},"id":"chatcmpl-{RID}","request_id":"{RID}"}}\n\n'
    )


# -- faults ------------------------------------------------------------------------------------

STREAM = {
    "model": "qwen3-vl-plus",
    "stream": True,
    "stream_options": {"include_usage": True},
    "messages": USER,
}


def read_stream(client: httpx.Client, body: dict[str, Any], into: list[bytes]) -> None:
    with client.stream("POST", "/chat/completions", json=body) as r:
        into.extend(r.iter_raw())


def test_disconnect_mid_stream_truncates_the_body(emu, client):
    emu.enqueue(Reply(text="abcdefghijklmnop", fault=Disconnect(after_chunks=2)))
    received: list[bytes] = []
    with pytest.raises(httpx.RemoteProtocolError, match="incomplete chunked read"):
        read_stream(client, STREAM, received)
    events = events_of(b"".join(received).decode())
    assert len(events) == 2
    assert content_of(events) == "abcdefgh"
    assert post(client, STREAM).status_code == 200  # the pool recovers on a new connection


def test_disconnect_non_stream(emu, client):
    emu.enqueue(Reply(fault=Disconnect(after_chunks=0)))
    with pytest.raises(httpx.RemoteProtocolError, match="without sending complete message body"):
        post(client, {"model": "qwen3-vl-plus", "messages": USER})


def test_reset_before_headers(emu, client):
    emu.enqueue(Reply(text="never sent", fault=ResetBeforeHeaders()), Reply(text="next"))
    with pytest.raises(httpx.TransportError) as info:
        post(client, {"model": "qwen3-vl-plus", "messages": USER})
    assert isinstance(info.value, httpx.ReadError | httpx.RemoteProtocolError)
    assert (
        post(client, {"model": "qwen3-vl-plus", "messages": USER}).json()["choices"][0]["message"]["content"] == "next"
    )
    assert len(emu.requests) == 2


def test_error_frame_mid_stream(emu, client):
    emu.enqueue(
        Reply(
            text="abcdefghijkl",
            fault=ErrorFrame(after_chunks=2, message="Output data may contain inappropriate content."),
        )
    )
    r = post(client, STREAM)
    assert r.status_code == 200
    events = events_of(r.text)
    assert len(events) == 3
    assert content_of(events[:2]) == "abcdefgh"
    assert r.text.endswith(
        'data: {"error":{"message":"Output data may contain inappropriate content.",'
        '"type":"data_inspection_failed","param":null,"code":"data_inspection_failed"}}\n\n'
    )


def test_malformed_line(emu, client):
    emu.enqueue(Reply(text="abc", fault=MalformedLine(after_chunks=1)))
    blocks = post(client, STREAM).text[:-2].split("\n\n")
    assert blocks[1] == 'data: {"choices": ['
    rest = events_of("\n\n".join([blocks[0], *blocks[2:]]) + "\n\n")
    assert content_of(rest) == "abc"
    assert rest[-1] == "[DONE]"
    assert rest[-3]["choices"][0]["finish_reason"] == "stop"


def test_no_finish(emu, client):
    emu.enqueue(Reply(text="abcdefghij", fault=NoFinish()))
    events = events_of(post(client, STREAM).text)
    assert events[-1] == "[DONE]"
    chunks = events[:-1]
    assert len(chunks) == 3
    assert all(e["choices"] and e["choices"][0]["finish_reason"] is None for e in chunks)
    assert all(e["usage"] is None for e in chunks)
    assert content_of(chunks) == "abcdefghij"


def test_no_done(emu, client):
    emu.enqueue(Reply(text="abc", fault=NoDone()))
    events = events_of(post(client, STREAM).text)
    assert "[DONE]" not in events
    assert events[-2]["choices"][0]["finish_reason"] == "stop"
    assert events[-1]["usage"] == {"prompt_tokens": 6, "completion_tokens": 1, "total_tokens": 7}


def test_delay_paces_events(emu, client):
    emu.enqueue(Reply(text="abc", chunk_size=1, delay=0.05), Reply(text="slow", delay=0.2))
    start = time.perf_counter()
    events = events_of(post(client, {**STREAM, "stream_options": {}}).text)
    assert time.perf_counter() - start >= 0.05 * len(events)
    start = time.perf_counter()
    post(client, {"model": "qwen3-vl-plus", "messages": USER})
    assert time.perf_counter() - start >= 0.2


# -- scripting, recording, lifecycle -----------------------------------------------------------


def test_queue_order_then_default_reply(emu, client):
    emu.enqueue(Reply(text="first"), ErrorReply(500, "boom"))
    emu.enqueue(Reply(text="third"))
    assert emu.pending == 3
    body = {"model": "qwen3-vl-plus", "messages": USER}
    assert post(client, body).json()["choices"][0]["message"]["content"] == "first"
    assert post(client, body).status_code == 500
    assert post(client, body).json()["choices"][0]["message"]["content"] == "third"
    assert post(client, body).json()["choices"][0]["message"]["content"] == DEFAULT_TEXT
    assert emu.pending == 0
    with pytest.raises(TypeError, match="expected one of Reply, ErrorReply, HtmlPage, EchoAuthorization; got str"):
        emu.enqueue("text")


def test_custom_default_reply():
    with (
        DashScopeEmulator(default_reply=Reply(text="custom")) as emu,
        httpx.Client(base_url=emu.base_url, headers=AUTH, timeout=10) as http,
    ):
        for _ in range(2):
            assert (
                post(http, {"model": "qwen3-vl-plus", "messages": USER}).json()["choices"][0]["message"]["content"]
                == "custom"
            )


def test_reply_validation():
    with pytest.raises(ValueError, match="chunk_size"):
        Reply(chunk_size=0)
    with pytest.raises(ValueError, match="delay"):
        Reply(delay=-1)


def test_recorded_requests(emu, client):
    with pytest.raises(LookupError):
        _ = emu.last_request
    raw = b'{"model": "qwen3-vl-plus", "messages": [{"role": "user", "content": "Hi"}]}'
    client.post(
        "/chat/completions?trace=1",
        content=raw,
        headers={"X-Trace": "abc", "Content-Type": "application/json"},
    )
    httpx.post(f"{emu.base_url}/chat/completions", json={"model": "qvq-max"})  # 401
    post(client, {"model": "qvq-max", "messages": USER})  # 400: stream only
    reqs = emu.requests
    assert [r.path for r in reqs] == [
        "/compatible-mode/v1/chat/completions?trace=1",
        "/compatible-mode/v1/chat/completions",
        "/compatible-mode/v1/chat/completions",
    ]
    first = reqs[0]
    assert first.method == "POST"
    assert first.raw == raw
    assert first.body == {"model": "qwen3-vl-plus", "messages": [{"role": "user", "content": "Hi"}]}
    assert first.headers["x-trace"] == "abc"
    assert first.headers["authorization"] == "Bearer test-key"
    assert first.headers["content-length"] == str(len(raw))
    assert all(name == name.lower() for r in reqs for name in r.headers)
    assert reqs[1].body == {"model": "qvq-max"}
    assert emu.last_request == reqs[2]
    assert reqs[2].body == {"model": "qvq-max", "messages": USER}
    with pytest.raises(dataclasses.FrozenInstanceError):
        first.method = "GET"
    reqs.clear()  # a snapshot: the emulator's record is untouched
    assert len(emu.requests) == 3
    emu.enqueue(Reply())
    emu.reset()
    assert emu.requests == []
    assert emu.pending == 0


def test_keep_alive_chunked_request_body_and_connection_close(emu):
    body = json.dumps({"model": "qwen3-vl-plus", "messages": USER}).encode()
    head = "POST /compatible-mode/v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer test-key\r\n"
    first = f"{head}Content-Length: {len(body)}\r\n\r\n".encode() + body
    half = len(body) // 2
    second = (
        f"{head}Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n".encode()
        + b"%x\r\n%s\r\n%x\r\n%s\r\n0\r\n\r\n" % (half, body[:half], len(body) - half, body[half:])
    )
    received = b""
    with socket.create_connection(("127.0.0.1", emu.port), timeout=10) as sock:
        sock.sendall(first + second)  # both on one connection, pipelined
        while data := sock.recv(65536):
            received += data
    assert received.count(b"HTTP/1.1 200 OK\r\n") == 2
    assert received.count(b"connection: close\r\n") == 1
    assert [r.body for r in emu.requests] == [json.loads(body)] * 2
    assert emu.requests[1].headers["transfer-encoding"] == "chunked"


def test_expect_100_continue(emu):
    body = json.dumps({"model": "qwen3-vl-plus", "messages": USER}).encode()
    head = (
        "POST /compatible-mode/v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer test-key\r\n"
        f"Expect: 100-continue\r\nConnection: close\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", emu.port), timeout=10) as sock:
        sock.sendall(head.encode())
        assert sock.recv(100) == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(body)
        received = b""
        while data := sock.recv(65536):
            received += data
    assert received.startswith(b"HTTP/1.1 200 OK\r\n")
    assert json.loads(received.partition(b"\r\n\r\n")[2])["choices"][0]["message"]["content"] == DEFAULT_TEXT


def test_unknown_model_lookup_leaves_the_catalog_warning_alone(client):
    # The emulator has its own fact table: it never asks the catalog (which would warn once, then stay quiet).
    assert post(client, {"model": "emulator-only-model", "messages": USER}).status_code == 404
    with pytest.warns(UnknownModelWarning):
        get_spec("emulator-only-model")


def test_lifecycle_and_stop_closes_open_connections():
    emu = DashScopeEmulator()
    with pytest.raises(RuntimeError, match="not running"):
        _ = emu.port
    emu.stop()  # stopping a stopped emulator is a no-op
    emu.start()
    try:
        with pytest.raises(RuntimeError, match="already running"):
            emu.start()
        assert emu.base_url == f"http://127.0.0.1:{emu.port}/compatible-mode/v1"
        emu.enqueue(Reply(text="x" * 100, chunk_size=1, delay=0.05))
        with (
            httpx.Client(base_url=emu.base_url, headers=AUTH, timeout=10) as http,
            http.stream("POST", "/chat/completions", json=STREAM) as r,
        ):
            chunks = r.iter_raw()
            assert next(chunks).startswith(b"data: ")
            emu.stop()
            with pytest.raises(httpx.RemoteProtocolError):
                for _ in chunks:
                    pass
        with pytest.raises(httpx.ConnectError):
            httpx.post(f"http://127.0.0.1:{r.url.port}/compatible-mode/v1/chat/completions", json={})
        assert not any(t.name == "dashscope-emulator" for t in threading.enumerate())
        emu.start()  # restartable
        assert (
            httpx.post(
                f"{emu.base_url}/chat/completions", headers=AUTH, json={"model": "qwen3-vl-plus", "messages": USER}
            ).status_code
            == 200
        )
    finally:
        emu.stop()


def closed_by_peer(sock: socket.socket) -> bool:
    try:
        return sock.recv(100) == b""  # FIN
    except ConnectionResetError:  # RST, e.g. for a connection still in the accept backlog
        return True


def test_stop_with_connections_in_every_state():
    emu = DashScopeEmulator().start()
    emu.enqueue(*[Reply(text="x" * 50, chunk_size=1, delay=0.01)] * 3)
    errors: list[BaseException] = []

    def stream() -> None:
        try:
            with httpx.Client(base_url=emu.base_url, headers=AUTH, timeout=10) as http:
                post(http, STREAM)
        except httpx.TransportError as exc:
            errors.append(exc)

    with contextlib.ExitStack() as stack:
        socks = [stack.enter_context(socket.create_connection(("127.0.0.1", emu.port), timeout=10)) for _ in range(10)]
        for sock in socks[::2]:  # half of them stop inside a request body
            sock.sendall(b"POST /compatible-mode/v1/chat/completions HTTP/1.1\r\nContent-Length: 50\r\n\r\n{")
        threads = [threading.Thread(target=stream) for _ in range(3)]
        for thread in threads:
            thread.start()
        time.sleep(0.1)
        emu.stop()
        for thread in threads:
            thread.join()
        assert all(closed_by_peer(sock) for sock in socks)
    assert len(errors) == 3


async def test_200_concurrent_streams(emu):
    answers = [f"answer number {i}" for i in range(200)]
    emu.enqueue(*(Reply(text=answer, chunk_size=4, delay=0.002) for answer in answers))
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
    async with httpx.AsyncClient(base_url=emu.base_url, headers=AUTH, timeout=30, limits=limits) as http:

        async def one(i: int) -> str:
            body = {
                "model": "qwen3-vl-plus",
                "stream": True,
                "messages": [{"role": "user", "content": f"prompt {i}"}],
            }
            async with http.stream("POST", "/chat/completions", json=body) as r:
                assert r.status_code == 200
                return content_of(events_of((await r.aread()).decode()))

        results = await asyncio.gather(*(one(i) for i in range(200)))
    assert Counter(results) == Counter(answers)
    prompts = sorted(r.body["messages"][0]["content"] for r in emu.requests)
    assert prompts == sorted(f"prompt {i}" for i in range(200))


def test_22000_chunk_stream(emu, client):
    emu.enqueue(Reply(reasoning=["ab"] * 20_000, text=["c"] * 2_000))
    start = time.perf_counter()
    r = post(client, {**STREAM, "model": "qvq-max"})
    elapsed = time.perf_counter() - start
    events = events_of(r.text)
    assert len(events) == 1 + 20_000 + 2_000 + 3
    assert "".join(e["choices"][0]["delta"]["reasoning_content"] for e in events[1:20_001]) == "ab" * 20_000
    assert content_of(events) == "c" * 2_000
    assert events[-2]["usage"] == {
        "prompt_tokens": 6,
        "completion_tokens": 22_000,
        "total_tokens": 22_006,
        "completion_tokens_details": {"reasoning_tokens": 20_000},
    }
    assert events[-1] == "[DONE]"
    assert elapsed < 1.0


def test_fixture_gives_a_running_emulator(dashscope_emulator):
    assert isinstance(dashscope_emulator, DashScopeEmulator)
    assert dashscope_emulator.api_key == "test-key"
    r = httpx.post(
        f"{dashscope_emulator.base_url}/chat/completions",
        headers=AUTH,
        json={"model": "qwen3-vl-plus", "messages": USER},
    )
    assert r.json()["choices"][0]["message"]["content"] == DEFAULT_TEXT


@pytest.mark.parametrize(
    ("options", "conftest", "outcome"),
    [
        ((), None, "fixture 'dashscope_emulator' not found"),  # no entry point: nothing registers it
        (("-p", "qwen_vl_core.testing.pytest_plugin"), None, "1 passed"),
        ((), 'pytest_plugins = ["qwen_vl_core.testing.pytest_plugin"]\n', "1 passed"),
    ],
)
def test_the_plugin_is_opt_in(tmp_path, options, conftest, outcome):
    (tmp_path / "test_uses_fixture.py").write_text(
        "def test_it(dashscope_emulator):\n    assert dashscope_emulator.api_key == 'test-key'\n"
    )
    if conftest is not None:
        (tmp_path / "conftest.py").write_text(conftest)
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *options, "test_uses_fixture.py"]
    run = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False)
    assert outcome in run.stdout
    assert run.returncode == (0 if outcome == "1 passed" else 1)


def test_plugin_import_has_no_side_effects():
    code = (
        "import threading, qwen_vl_core.testing.pytest_plugin as p; "
        "assert threading.active_count() == 1; assert callable(p.dashscope_emulator)"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, timeout=60)


def test_public_names():
    assert testing.__all__ == sorted(testing.__all__, key=lambda name: (not name.isupper(), name))  # ruff's order
    assert set(testing.__all__) == {
        "ASSUMED_IMAGE_SIZE",
        "ASSUMED_VIDEO_SECONDS",
        "MODEL_FACTS",
        "DashScopeEmulator",
        "Disconnect",
        "EchoAuthorization",
        "EndlessLine",
        "ErrorFrame",
        "ErrorReply",
        "Fault",
        "HtmlPage",
        "IgnoreStream",
        "MalformedLine",
        "ModelFacts",
        "NoDone",
        "NoFinish",
        "NoHeaders",
        "RecordedRequest",
        "Reply",
        "ResetBeforeHeaders",
        "Script",
        "Stall",
        "ToolCallReply",
    }
    assert RecordedRequest.__dataclass_params__.frozen  # type: ignore[attr-defined]
