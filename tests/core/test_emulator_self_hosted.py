"""The emulator's vLLM flavour, and `QwenVLClient` against it: the self-hosted paths of issue 5.

A `reasoning` field, no reasoning parser at all (`<think>` tags inline, cut across chunks), the
thinking switch through `chat_template_kwargs`, and no DashScope key sent to a foreign host.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest

from qwen_vl_core import (
    AuthenticationError,
    ChatRequest,
    Message,
    QwenVLClient,
    RateLimitError,
    ReasoningDelta,
    StreamEnd,
    StreamError,
    TextDelta,
    TextPart,
    ThinkingOptions,
    ToolCallDelta,
    ToolSpec,
    Usage,
    UsageUpdate,
)
from qwen_vl_core.accumulator import ChatResult, ParsedToolCall
from qwen_vl_core.catalog import UnknownModelWarning
from qwen_vl_core.testing import DashScopeEmulator, ErrorFrame, ErrorReply, Reply, ToolCallReply

WIRE = Path(__file__).resolve().parents[2].parent / "shared" / "wire-samples"
MODEL = "Qwen/Qwen3-VL-8B-Thinking"
HI = (Message("user", (TextPart("hi"),)),)  # 1 prompt token
USER = [{"role": "user", "content": "hi"}]
REASONING = "The user greets me. I should greet back, briefly."
TEXT = "Hello! How can I help?"
SCRIPT = Reply(reasoning=REASONING, text=TEXT, chunk_size=5, request_id="fixed")
CANARY = "sk-dashscope-canary"


def request(model: str = MODEL, **kw: Any) -> ChatRequest:
    return ChatRequest(model=model, messages=HI, **kw)


@pytest.fixture
def vllm() -> Iterator[DashScopeEmulator]:
    with DashScopeEmulator(flavour="vllm", api_key=None) as emulator:
        yield emulator


def client_for(emu: DashScopeEmulator, **kw: Any) -> QwenVLClient:
    # One event per server event (no coalescing): tests check the exact events.
    options: dict[str, Any] = {"api_key": "x", "max_retries": 0, "coalesce_deltas": False, **kw}
    return QwenVLClient(base_url=emu.base_url, **options)


def chat(emu: DashScopeEmulator, script: Reply, req: ChatRequest | None = None) -> ChatResult:
    emu.enqueue(script)
    client = client_for(emu)
    try:
        return client.chat(req or request())
    finally:
        client.close()


# -- the flavour itself --------------------------------------------------------------------------


def test_urls_and_routes(vllm) -> None:
    assert vllm.flavour == "vllm"
    assert vllm.base_url == f"http://127.0.0.1:{vllm.port}/v1"
    with pytest.raises(RuntimeError, match="no native DashScope endpoint"):
        _ = vllm.native_base_url
    root = f"http://127.0.0.1:{vllm.port}"
    for path in ("/compatible-mode/v1/chat/completions", "/api/v1/services/aigc/multimodal-generation/generation"):
        r = httpx.post(root + path, json={"model": MODEL, "messages": USER})
        assert (r.status_code, r.text) == (404, '{"detail":"Not Found"}')
    assert httpx.post(vllm.base_url + "/chat/completions", json={"model": MODEL, "messages": USER}).status_code == 200


def test_stream_with_reasoning_field_exact_bytes(vllm) -> None:
    vllm.enqueue(Reply(reasoning="Look c", text="A cat.", chunk_size=6, request_id="abc"))
    body = {"model": MODEL, "stream": True, "stream_options": {"include_usage": True}, "messages": USER}
    r = httpx.post(vllm.base_url + "/chat/completions", json=body)
    assert r.headers["content-type"] == "text/event-stream; charset=utf-8"
    created = json.loads(r.text.split("\n\n")[0][6:])["created"]
    top = f'{{"id":"chatcmpl-abc","object":"chat.completion.chunk","created":{created},"model":"{MODEL}","choices":['

    def chunk(delta: str, finish: str = "null", stop: str = "") -> str:
        return f'data: {top}{{"index":0,"delta":{delta},"logprobs":null,"finish_reason":{finish}{stop}}}]}}\n\n'

    assert r.text == (
        chunk('{"role":"assistant","content":""}')
        + chunk('{"reasoning":"Look c"}')
        + chunk('{"content":"A cat."}')
        + chunk('{"content":""}', '"stop"', ',"stop_reason":null')
        + f'data: {top}],"usage":{{"prompt_tokens":1,"total_tokens":3,"completion_tokens":2}}}}\n\n'
        + "data: [DONE]\n\n"
    )


@pytest.mark.skipif(not WIRE.is_dir(), reason="shared wire samples not available")
def test_non_stream_body_matches_the_vllm_capture() -> None:
    cap = (WIRE / "vllm-ascend-docs-qwen3-vl-8b-instruct-nonstream.json").read_text("utf-8").strip()
    data = json.loads(cap)
    message = data["choices"][0]["message"]
    script = Reply(text=message["content"], usage=data["usage"], request_id=data["id"].removeprefix("chatcmpl-"))
    with DashScopeEmulator(flavour="vllm", api_key=None, reasoning_field="reasoning_content") as emu:
        emu.enqueue(script)
        r = httpx.post(emu.base_url + "/chat/completions", json={"model": data["model"], "messages": USER})
    assert r.headers["content-type"] == "application/json"
    assert r.text.replace(f'"created":{r.json()["created"]}', f'"created":{data["created"]}') == cap


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({}, {"content": TEXT, "reasoning": REASONING}),
        ({"reasoning_field": "both"}, {"content": TEXT, "reasoning": REASONING, "reasoning_content": None}),
        ({"reasoning_parser": False}, {"content": f"{REASONING}</think>\n\n{TEXT}"}),
        ({"reasoning_parser": False, "think_tags": "both"}, {"content": f"<think>{REASONING}</think>\n\n{TEXT}"}),
    ],
)
def test_non_stream_message_per_option(options, message) -> None:
    with DashScopeEmulator(flavour="vllm", api_key=None, **options) as emu:
        emu.enqueue(SCRIPT)
        r = httpx.post(emu.base_url + "/chat/completions", json={"model": MODEL, "messages": USER})
    fixed: dict[str, Any] = {
        "refusal": None,
        "annotations": None,
        "audio": None,
        "function_call": None,
        "tool_calls": [],
    }
    assert r.json()["choices"][0]["message"] == {"role": "assistant", **fixed, **message}
    assert r.json()["usage"] == {"prompt_tokens": 1, "total_tokens": 16, "completion_tokens": 15}


def test_inline_tags_are_cut_across_chunks() -> None:
    with DashScopeEmulator(flavour="vllm", api_key=None, reasoning_parser=False) as emu:
        emu.enqueue(Reply(reasoning="ab", text="cd", chunk_size=3))
        text = httpx.post(
            emu.base_url + "/chat/completions", json={"model": MODEL, "stream": True, "messages": USER}
        ).text
    deltas = [json.loads(line[6:])["choices"][0]["delta"] for line in text.split("\n\n")[1:-3]]
    assert deltas == [
        {"content": "ab<"},
        {"content": "/th"},
        {"content": "ink"},
        {"content": ">\n\n"},
        {"content": "cd"},
    ]


def test_no_dashscope_rules_and_requests_recorded(vllm) -> None:
    bodies = [
        {"model": "qvq-max", "messages": USER},  # stream-only on DashScope
        {"model": "qwen3-vl-8b-thinking", "enable_thinking": False, "messages": USER},
        {
            "model": MODEL,
            "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "file:///x.png"}}]}],
        },
    ]
    for body in bodies:
        assert httpx.post(vllm.base_url + "/chat/completions", json=body).status_code == 200
    assert [r.body for r in vllm.requests] == bodies
    r = httpx.post(vllm.base_url + "/chat/completions", content=b"nope")
    assert (r.status_code, r.json()["error"]["code"]) == (400, 400)


def test_auth_when_a_key_is_set() -> None:
    with DashScopeEmulator(flavour="vllm", api_key="local-key") as emu:
        r = httpx.post(emu.base_url + "/chat/completions", json={"model": MODEL, "messages": USER})
        assert (r.status_code, r.text) == (401, '{"error":"Unauthorized"}')
        wrong = client_for(emu, api_key="wrong")
        with pytest.raises(AuthenticationError) as info:
            wrong.chat(request("qwen3-vl-plus"))
        assert info.value.status == 401
        wrong.close()
        emu.enqueue(Reply(text="ok"))
        right = client_for(emu, api_key="local-key")
        assert right.chat(request("qwen3-vl-plus")).text == "ok"
        right.close()


# -- the client against it -------------------------------------------------------------------------


def test_client_reads_the_reasoning_field(vllm) -> None:
    result = chat(vllm, SCRIPT)
    assert result == ChatResult(
        REASONING,
        TEXT,
        (),
        Usage(1, 15, 16, raw={"prompt_tokens": 1, "total_tokens": 16, "completion_tokens": 15}),
        "stop",
        MODEL,
        "chatcmpl-fixed",
        None,
    )
    last = vllm.last_request
    assert last.body == {"model": MODEL, "messages": USER, "stream": True, "stream_options": {"include_usage": True}}
    assert last.headers["authorization"] == "Bearer x"


@pytest.mark.parametrize("chunk_size", [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 13, 16, 25, 64])
@pytest.mark.parametrize("tags", ["close", "both"])
def test_no_parser_gives_the_same_result(vllm, chunk_size, tags) -> None:
    script = replace(SCRIPT, chunk_size=chunk_size)
    expected = chat(vllm, script)
    with DashScopeEmulator(flavour="vllm", api_key=None, reasoning_parser=False, think_tags=tags) as emu:
        assert chat(emu, script) == expected
        emu.enqueue(script)
        client = client_for(emu)
        events = list(client.stream(request()))
        client.close()
    reasoning = "".join(e.text for e in events if type(e) is ReasoningDelta)
    text = "".join(e.text for e in events if type(e) is TextDelta)
    assert (reasoning, text) == (REASONING, TEXT)
    assert [type(e) for e in events[-2:]] == [UsageUpdate, StreamEnd]


@pytest.mark.parametrize("field", ["reasoning_content", "both"])
def test_other_reasoning_fields_give_the_same_result(vllm, field) -> None:
    expected = chat(vllm, SCRIPT)
    with DashScopeEmulator(flavour="vllm", api_key=None, reasoning_field=field) as emu:
        assert chat(emu, SCRIPT) == expected


async def test_async_without_parser(vllm) -> None:
    with DashScopeEmulator(flavour="vllm", api_key=None, reasoning_parser=False) as emu:
        emu.enqueue(SCRIPT)
        client = client_for(emu)
        result = await client.achat(request())
        await client.aclose()
    assert (result.reasoning, result.text, result.finish_reason) == (REASONING, TEXT, "stop")


def test_thinking_switch_goes_through_the_chat_template(vllm) -> None:
    with pytest.warns(UnknownModelWarning):
        result = chat(
            vllm, Reply(text="plain"), request("my-org/qwen3-vl-hybrid", thinking=ThinkingOptions(enable=False))
        )
    assert result.text == "plain"
    assert vllm.last_request.body == {
        "model": "my-org/qwen3-vl-hybrid",
        "messages": USER,
        "chat_template_kwargs": {"enable_thinking": False},
    }
    chat(
        vllm, Reply(reasoning="r", text="t"), request("qwen3-vl-plus", thinking=ThinkingOptions(enable=True, budget=64))
    )
    assert vllm.last_request.body == {
        "model": "qwen3-vl-plus",
        "messages": USER,
        "stream": True,
        "stream_options": {"include_usage": True},
        "chat_template_kwargs": {"enable_thinking": True},
        "thinking_token_budget": 64,
    }


def test_dashscope_key_is_never_sent_here(vllm, monkeypatch) -> None:
    monkeypatch.setenv("DASHSCOPE_API_KEY", CANARY)
    for api_key in (None, "x"):
        vllm.enqueue(Reply(text="ok"))
        client = QwenVLClient(base_url=vllm.base_url, api_key=api_key, max_retries=0)
        assert client.chat(request("qwen3-vl-plus")).text == "ok"
        client.close()
    assert [r.headers.get("authorization") for r in vllm.requests] == ["Bearer EMPTY", "Bearer x"]
    assert all(CANARY not in r.raw.decode() and CANARY not in str(r.headers) for r in vllm.requests)


def test_tool_calls(vllm) -> None:
    calls = [ToolCallReply("get_weather", ['{"city": ', '"Hangzhou"}'], id="chatcmpl-tool-1"), ToolCallReply("f")]
    vllm.enqueue(Reply(reasoning="Use the tool.", tool_calls=calls))
    tool = ToolSpec("get_weather", "", {"type": "object"})
    client = client_for(vllm)
    events = list(client.stream(request(tools=(tool,))))
    deltas = [e for e in events if type(e) is ToolCallDelta]
    generated = deltas[2].id or ""
    assert deltas == [
        ToolCallDelta(0, "chatcmpl-tool-1", "get_weather", '{"city": '),
        ToolCallDelta(0, None, None, '"Hangzhou"}'),
        ToolCallDelta(1, generated, "f", ""),
    ]
    assert re.fullmatch(r"chatcmpl-tool-[0-9a-f]{32}", generated)
    assert events[-1] == StreamEnd("tool_calls", MODEL, events[-1].response_id, None)  # type: ignore[union-attr]
    vllm.enqueue(Reply(tool_calls=calls[:1]))
    assert client.chat(request(tools=(tool,))).tool_calls == (
        ParsedToolCall(0, "chatcmpl-tool-1", "get_weather", '{"city": "Hangzhou"}', {"city": "Hangzhou"}),
    )
    client.close()


def test_error_body_shape(vllm) -> None:
    vllm.enqueue(ErrorReply(429, "rate limited", type="RateLimitError", retry_after=2))
    r = httpx.post(vllm.base_url + "/chat/completions", json={"model": MODEL, "messages": USER})
    assert (r.status_code, r.headers["retry-after"]) == (429, "2")
    assert r.text == '{"error":{"message":"rate limited","type":"RateLimitError","param":null,"code":429}}'


def test_error_with_integer_code_is_a_rate_limit_error(vllm) -> None:
    vllm.enqueue(ErrorReply(429, "rate limited", type="RateLimitError"))
    client = client_for(vllm)
    try:
        with pytest.raises(RateLimitError) as info:
            client.chat(request("qwen3-vl-plus"))
    finally:
        client.close()
    assert (info.value.status, info.value.code) == (429, "429")


def test_429_is_retried(vllm) -> None:
    vllm.enqueue(ErrorReply(429, "rate limited", retry_after=0.01), Reply(text="ok"))
    client = client_for(vllm, max_retries=1)
    try:
        assert client.chat(request("qwen3-vl-plus")).text == "ok"
    finally:
        client.close()
    assert len(vllm.requests) == 2


def test_mid_stream_error_frame(vllm) -> None:
    vllm.enqueue(
        Reply(reasoning="abcdef", chunk_size=2, fault=ErrorFrame(2, "engine died", type="InternalServerError"))
    )
    client = client_for(vllm)
    with pytest.raises(StreamError) as info:
        client.chat(request())
    client.close()
    assert (info.value.message, info.value.code) == ("engine died", "400")
    assert info.value.partial.reasoning == "ab"
