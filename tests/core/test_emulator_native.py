"""The emulator's native DashScope route: exact bytes, the captures' framing, rules, errors and faults.

Talks to the emulator over real HTTP with httpx only, so these tests pin the bytes the native
transport (and the dashscope SDK) will see.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from qwen_vl_core.testing import (
    DashScopeEmulator,
    Disconnect,
    ErrorFrame,
    ErrorReply,
    MalformedLine,
    NoDone,
    NoFinish,
    Reply,
    ResetBeforeHeaders,
    ToolCallReply,
)

WIRE = Path(__file__).resolve().parents[2].parent / "shared" / "wire-samples"
needs_samples = pytest.mark.skipif(not WIRE.is_dir(), reason="shared wire samples not available")
MM = "/services/aigc/multimodal-generation/generation"
TG = "/services/aigc/text-generation/generation"
AUTH = {"Authorization": "Bearer test-key"}
SSE = {"X-DashScope-SSE": "enable"}
SSE_TYPE = "text/event-stream;charset=UTF-8"
RID = "0b7e1c2d-55aa-9f00-8c11-4d2e6f708192"
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
USER = [{"role": "user", "content": [{"text": "Describe."}]}]  # 9 characters: 3 prompt tokens
IMAGE_USER = [{"role": "user", "content": [{"image": "https://example.com/cat.png"}, {"text": "Describe."}]}]
TOOLS = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]
STREAM_ONLY = "This model only support stream mode, please enable the stream parameter to access the model. "


@pytest.fixture
def emu() -> Iterator[DashScopeEmulator]:
    with DashScopeEmulator() as emulator:
        yield emulator


@pytest.fixture
def client(emu: DashScopeEmulator) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=emu.native_base_url, headers=AUTH, timeout=10) as http:
        yield http


def native(model: str, messages: list[dict[str, Any]] | None = None, **parameters: Any) -> dict[str, Any]:
    return {"model": model, "input": {"messages": messages or USER}, "parameters": parameters}


def post(client: httpx.Client, body: Any, headers: dict[str, str] | None = None, path: str = MM) -> httpx.Response:
    return client.post(path, json=body, headers=headers)


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def event(n: int, payload: dict[str, Any], sep: str = "\n\n", kind: str = "result", status: int = 200) -> str:
    return f"id:{n}\nevent:{kind}\n:HTTP_STATUS/{status}\ndata:{dumps(payload)}{sep}"


def reasoning(piece: str) -> dict[str, Any]:
    return {"message": {"content": [], "reasoning_content": piece, "role": "assistant"}, "finish_reason": "null"}


def answer(piece: str) -> dict[str, Any]:
    return {"message": {"content": [{"text": piece}], "role": "assistant"}, "finish_reason": "null"}


def tools(*calls: dict[str, Any], finish: str = "null") -> dict[str, Any]:
    return {
        "message": {"content": "", "tool_calls": list(calls), "role": "assistant"},
        "index": 0,
        "finish_reason": finish,
    }


def end(finish: str = "stop") -> dict[str, Any]:
    return {"message": {"content": [], "role": "assistant"}, "finish_reason": finish}


def head(i: int, call_id: str, name: str, args: str) -> dict[str, Any]:
    return {"index": i, "id": call_id, "type": "function", "function": {"name": name, "arguments": args}}


def more(i: int, args: str) -> dict[str, Any]:
    return {"index": i, "id": "", "type": "function", "function": {"arguments": args}}


def result(choice: dict[str, Any], usage: dict[str, Any], rid: str = RID) -> dict[str, Any]:
    return {"output": {"choices": [choice]}, "usage": usage, "request_id": rid}


QVQ_IMAGE = 1227  # a remote image counts as 1024x1024: 35x35 tokens on QVQ's 28-px grid + 2
VL_IMAGE = 1026  # the same on Qwen3-VL's 32-px grid: 32x32 + 2


def usage(inp: int, out: int, reasoning_tokens: int | None = None, image_tokens: int = 0) -> dict[str, Any]:
    """Automatic native usage, in the emulator's (qvq capture) key order."""
    u: dict[str, Any] = {"total_tokens": inp + out}
    if image_tokens:
        u["input_tokens_details"] = {"image_tokens": image_tokens, "text_tokens": inp - image_tokens}
    u.update(output_tokens=out, input_tokens=inp)
    if reasoning_tokens is not None:
        u["output_tokens_details"] = {"reasoning_tokens": reasoning_tokens}
    if image_tokens:
        u["image_tokens"] = image_tokens
    return u


def blocks(text: str) -> list[dict[str, Any]]:
    """Parse a blank-line separated native stream into `{"id", "event", "status", "data"}` dicts."""
    out = []
    for block in text.removesuffix("\n\n").split("\n\n"):
        lines = block.split("\n")
        assert [line[:3] for line in lines] == ["id:", "eve", ":HT", "dat"]
        out.append(
            {
                "id": int(lines[0][3:]),
                "event": lines[1][6:],
                "status": lines[2],
                "data": json.loads(lines[3][5:]),
            }
        )
    return out


# -- streaming, exact bytes --------------------------------------------------------------------


def test_stream_reasoning_then_answer_exact_bytes(emu, client):
    emu.enqueue(Reply(reasoning="Look closely.", text="A cat.", chunk_size=6, request_id=RID))
    r = post(client, native("qvq-max", IMAGE_USER), SSE)
    assert r.status_code == 200
    assert r.headers.multi_items() == [
        ("x-request-id", RID),
        ("content-type", SSE_TYPE),
        ("x-dashscope-call-gateway", "true"),
        ("x-dashscope-timeout", "600"),
        ("x-dashscope-finished", "false"),
        ("transfer-encoding", "chunked"),
    ]
    first = (
        'id:1\nevent:result\n:HTTP_STATUS/200\ndata:{"output":{"choices":[{"message":{"content":[],'
        '"reasoning_content":"Look c","role":"assistant"},"finish_reason":"null"}]},"usage":{"total_tokens":1231,'
        '"input_tokens_details":{"image_tokens":1227,"text_tokens":3},"output_tokens":1,"input_tokens":1230,'
        '"output_tokens_details":{"reasoning_tokens":1},"image_tokens":1227},'
        f'"request_id":"{RID}"}}\n\n'
    )
    assert r.text == first + "".join(
        [
            event(2, result(reasoning("losely"), usage(1230, 2, 2, QVQ_IMAGE))),
            event(3, result(reasoning("."), usage(1230, 3, 3, QVQ_IMAGE))),
            event(4, result(answer("A cat."), usage(1230, 4, 3, QVQ_IMAGE))),
            event(5, result(end("stop"), usage(1230, 4, 3, QVQ_IMAGE))),
        ]
    )


def test_stream_without_reasoning(emu, client):
    emu.enqueue(Reply(text="Hello there", chunk_size=6, request_id=RID))
    r = post(client, native("qwen3-vl-plus"), SSE)
    assert r.text == "".join(
        [
            event(1, result(answer("Hello "), usage(3, 1))),
            event(2, result(answer("there"), usage(3, 2))),
            event(3, result(end(), usage(3, 2))),
        ]
    )


def test_stream_parallel_tool_calls_last_fragment_carries_the_finish(emu, client):
    calls = [
        ToolCallReply("get_weather", '{"city": "Hangzhou"}', id="call_a"),
        ToolCallReply("get_time", ['{"tz": ', '"UTC+8"}'], id="call_b"),
    ]
    emu.enqueue(Reply(tool_calls=calls, request_id=RID))
    r = post(client, native("qwen3-vl-plus", tools=TOOLS, parallel_tool_calls=True), SSE)
    assert r.text == "".join(
        [
            event(1, result(tools(head(0, "call_a", "get_weather", '{"city":')), usage(3, 1))),
            event(2, result(tools(more(0, ' "Hangzh')), usage(3, 2))),
            # the tail of call 0 and the head of call 1 share one event (protocol doc §7)
            event(3, result(tools(more(0, 'ou"}'), head(1, "call_b", "get_time", '{"tz": ')), usage(3, 4))),
            event(4, result(tools(more(1, '"UTC+8"}'), finish="tool_calls"), usage(3, 5))),
        ]
    )


def test_stream_reasoning_then_tool_call(emu, client):
    emu.enqueue(Reply(reasoning="Check.", tool_calls=[ToolCallReply("get_weather", "{}", id="call_a")], request_id=RID))
    body = native("qwen3-vl-plus", enable_thinking=True, incremental_output=True, tools=TOOLS)
    r = post(client, body, SSE)
    assert r.text == event(1, result(reasoning("Check."), usage(3, 1, 1))) + event(
        2, result(tools(head(0, "call_a", "get_weather", "{}"), finish="tool_calls"), usage(3, 2, 1))
    )


def test_generated_ids_and_request_ids(emu, client):
    emu.enqueue(Reply(text="abc", tool_calls=[ToolCallReply("f")]))
    events = blocks(post(client, native("qwen3-vl-plus", tools=TOOLS), SSE).text)
    rid = events[0]["data"]["request_id"]
    assert UUID.fullmatch(rid)
    assert [e["data"]["request_id"] for e in events] == [rid, rid]
    call = events[1]["data"]["output"]["choices"][0]["message"]["tool_calls"][0]
    assert re.fullmatch(r"call_[0-9a-f]{24}", call["id"])
    assert call["function"] == {"name": "f", "arguments": ""}


def test_usage_is_cumulative_on_every_event(emu, client):
    emu.enqueue(Reply(reasoning=["r"] * 5, text=["t"] * 3))
    events = blocks(post(client, native("qwen3-vl-8b-thinking", incremental_output=True), SSE).text)
    assert [e["id"] for e in events] == list(range(1, 10))
    assert [e["data"]["usage"]["output_tokens"] for e in events] == [1, 2, 3, 4, 5, 6, 7, 8, 8]
    assert [e["data"]["usage"]["output_tokens_details"]["reasoning_tokens"] for e in events] == [1, 2, 3, 4, 5] + [
        5
    ] * 4
    assert [e["data"]["output"]["choices"][0]["finish_reason"] for e in events] == ["null"] * 8 + ["stop"]
    assert all("reasoning_content" not in e["data"]["output"]["choices"][0]["message"] for e in events[5:])


def test_scripted_usage_is_the_final_usage_verbatim(emu, client):
    final = {
        "output_tokens": 40,
        "input_tokens": 7,
        "total_tokens": 47,
        "output_tokens_details": {"reasoning_tokens": 20},
    }
    emu.enqueue(Reply(reasoning=["r"] * 2, text=["t"] * 2, usage=final, finish_reason="length"))
    text = post(client, native("qvq-max"), SSE).text
    assert text.endswith(f',"usage":{dumps(final)},"request_id":"{blocks(text)[0]["data"]["request_id"]}"}}\n\n')
    assert [e["data"]["usage"] for e in blocks(text)] == [
        {"output_tokens": 10, "input_tokens": 7, "total_tokens": 17, "output_tokens_details": {"reasoning_tokens": 10}},
        {"output_tokens": 20, "input_tokens": 7, "total_tokens": 27, "output_tokens_details": {"reasoning_tokens": 20}},
        {"output_tokens": 30, "input_tokens": 7, "total_tokens": 37, "output_tokens_details": {"reasoning_tokens": 20}},
        final,
        final,
    ]
    assert blocks(text)[-1]["data"]["output"]["choices"][0]["finish_reason"] == "length"


# -- header-based stream switching and the second path -------------------------------------------


@pytest.mark.parametrize(
    ("headers", "streams"),
    [
        ({"X-DashScope-SSE": "enable"}, True),
        ({"Accept": "text/event-stream"}, True),  # what the .NET SDK recordings sent
        ({"Accept": "application/json, Text/Event-Stream"}, True),
        ({"X-DashScope-SSE": "enable", "Accept": "text/event-stream", "X-Accel-Buffering": "no"}, True),
        ({"Accept": "application/json"}, False),
        ({"X-DashScope-SSE": "disable"}, False),
        ({}, False),
    ],
)
def test_headers_switch_streaming(emu, client, headers, streams):
    emu.enqueue(Reply(text="hi", request_id=RID))
    r = post(client, {**native("qwen3-vl-plus"), "stream": not streams}, headers)  # a body `stream` is ignored
    if streams:
        assert r.headers["content-type"] == SSE_TYPE
        assert r.text == event(1, result(answer("hi"), usage(3, 1))) + event(2, result(end(), usage(3, 1)))
    else:
        assert r.headers["content-type"] == "application/json"
        assert r.json()["output"]["choices"][0]["message"]["content"] == [{"text": "hi"}]


def test_text_generation_path_sends_string_content(emu, client):
    # cnblogs-native-qwen-max-message-stream.sse: the text endpoint's content is a plain string
    emu.enqueue(Reply(text="hi", request_id=RID), Reply(text="hi", request_id=RID))
    text_path = post(client, native("qwen3-vl-plus"), SSE, path=TG).text
    multimodal = post(client, native("qwen3-vl-plus"), SSE).text
    assert text_path == multimodal.replace('"content":[{"text":"hi"}]', '"content":"hi"').replace(
        '"content":[]', '"content":""'
    )
    assert '"content":"hi"' in text_path
    assert post(client, native("qvq-max"), path=TG).json()["message"] == STREAM_ONLY
    assert [r.path for r in emu.requests] == ["/api/v1" + TG, "/api/v1" + MM, "/api/v1" + TG]


def test_native_base_url_and_recording(emu, client):
    assert emu.native_base_url == f"http://127.0.0.1:{emu.port}/api/v1"
    body = native("qwen3-vl-plus", enable_thinking=True, incremental_output=True)
    post(client, body, SSE)
    recorded = emu.last_request
    assert (recorded.method, recorded.path, recorded.body) == ("POST", "/api/v1" + MM, body)
    assert recorded.headers["x-dashscope-sse"] == "enable"


# -- non-streaming -----------------------------------------------------------------------------


def test_non_stream_reasoning_and_text(emu, client):
    emu.enqueue(Reply(reasoning="Think first.", text="Answer.", request_id=RID))
    r = post(client, native("qwen3-vl-plus", enable_thinking=True))
    assert r.status_code == 200
    assert r.headers.multi_items() == [
        ("content-type", "application/json"),
        ("x-request-id", RID),
        ("x-dashscope-call-gateway", "true"),
        ("x-dashscope-finished", "true"),
        ("x-dashscope-timeout", "600"),
        ("content-length", str(len(r.content))),
    ]
    message = {"role": "assistant", "content": [{"text": "Answer."}], "reasoning_content": "Think first."}
    assert r.text == dumps(
        {
            "output": {"choices": [{"finish_reason": "stop", "message": message}]},
            "usage": usage(3, 3, 2),
            "request_id": RID,
        }
    )


def test_non_stream_tool_calls_and_images(emu, client):
    call = ToolCallReply("get_weather", '{"city": "Hangzhou"}', id="call_0123")
    emu.enqueue(Reply(tool_calls=[call], request_id=RID), Reply(request_id=RID))
    body = post(client, native("qwen3-vl-plus", IMAGE_USER, tools=TOOLS)).json()
    assert body["output"] == {
        "choices": [
            {
                "finish_reason": "tool_calls",
                "message": {
                    "role": "assistant",
                    "tool_calls": [
                        {
                            "function": {"name": "get_weather", "arguments": '{"city": "Hangzhou"}'},
                            "index": 0,
                            "id": "call_0123",
                            "type": "function",
                        }
                    ],
                    "content": "",
                },
            }
        ]
    }
    assert body["usage"] == usage(3 + VL_IMAGE, 3, image_tokens=VL_IMAGE)
    empty = post(client, native("qwen3-vl-plus")).json()
    assert empty["output"]["choices"][0]["message"] == {"role": "assistant", "content": []}


# -- byte-faithfulness against the captures --------------------------------------------------


def capture(name: str) -> str:
    return (WIRE / name).read_text("utf-8")


def capture_blocks(name: str) -> list[list[str]]:
    text = capture(name).replace(".....\n", "\n")  # the abridgement marker is not wire bytes
    return [block.split("\n") for block in text.strip("\n").split("\n\n")]


def keys(value: Any) -> Any:
    """Key order at every level, values dropped."""
    if isinstance(value, dict):
        return [(k, keys(v)) for k, v in value.items()]
    if isinstance(value, list):
        return [keys(v) for v in value]
    return None


@needs_samples
def test_qvq_max_stream_matches_the_capture(emu, client):
    cap = capture_blocks("aliyun-docs-mirror-qvq-max-native-stream-abridged.sse")
    data = [json.loads(b[3][5:]) for b in cap]
    pieces = [d["output"]["choices"][0]["message"]["reasoning_content"] for d in data[:3]]
    texts = [d["output"]["choices"][0]["message"]["content"][0]["text"] for d in data[3:5]]
    rid = data[-1]["request_id"]
    emu.enqueue(Reply(reasoning=pieces, text=texts, usage=data[-1]["usage"], request_id=rid))
    ours = [block.split("\n") for block in post(client, native("qvq-max", IMAGE_USER), SSE).text[:-2].split("\n\n")]
    assert len(ours) == len(cap) == 6
    for mine, theirs in zip(ours, cap, strict=True):
        assert mine[1:3] == theirs[1:3] == ["event:result", ":HTTP_STATUS/200"]
        assert keys(json.loads(mine[3][5:])) == keys(json.loads(theirs[3][5:]))
        # everything before the usage is the capture's bytes (the head run has another request id)
        assert mine[3].partition(',"usage":')[0] == theirs[3].partition(',"usage":')[0]
    assert [m[0] for m in ours] == [f"id:{n}" for n in range(1, 7)]
    assert ours[-1][3] == cap[-1][3]  # the final event, usage included, byte for byte


@needs_samples
def test_parallel_tool_calls_match_the_capture(emu, client):
    cap = capture_blocks("cnblogs-native-qwen-max-parallel-toolcalls-stream.sse")
    data = [json.loads(b[3][5:]) for b in cap]
    frags = [d["output"]["choices"][0]["message"]["tool_calls"][0] for d in data]
    calls = [
        ToolCallReply(
            frags[0]["function"]["name"],
            [frags[0]["function"]["arguments"], frags[1]["function"]["arguments"]],
            id=frags[0]["id"],
        ),
        ToolCallReply(
            frags[2]["function"]["name"],
            [frags[2]["function"]["arguments"], frags[3]["function"]["arguments"]],
            id=frags[2]["id"],
        ),
    ]
    emu.enqueue(Reply(tool_calls=calls, usage=data[-1]["usage"], request_id=data[-1]["request_id"]))
    emu.register_model("qwen-max")  # the capture's model, outside the emulator's visual-reasoning table
    ours = [block.split("\n") for block in post(client, native("qwen-max"), SSE).text[:-2].split("\n\n")]
    assert len(ours) == 3  # our events 2 = capture events 2 + 3 (protocol doc §7 shape)
    assert ours[0][3].partition(',"usage":')[0] == cap[0][3].partition(',"usage":')[0]
    assert ours[-1][3] == cap[-1][3]  # the last fragment with finish_reason "tool_calls", byte for byte
    merged = json.loads(ours[1][3][5:])["output"]["choices"][0]["message"]["tool_calls"]
    assert merged == [frags[1], frags[2]]
    assert keys(json.loads(ours[0][3][5:])) == keys(data[0])


@needs_samples
def test_streaming_parameter_error_matches_the_capture():
    cap = capture("cnblogs-native-error-invalidparameter-stream.sse")
    rid = json.loads(cap.split("data:")[1])["request_id"]
    with (
        DashScopeEmulator(native_blank_lines=False) as emu,
        httpx.Client(base_url=emu.native_base_url, headers=AUTH, timeout=10) as http,
    ):
        r = post(http, {"model": "qwen-max", "input": {"messages": []}, "parameters": {}}, SSE, path=TG)
    assert r.status_code == 200
    assert r.headers.multi_items()[:3] == [
        ("x-request-id", r.headers["x-request-id"]),
        ("content-type", SSE_TYPE),
        ("x-dashscope-call-gateway", "true"),
    ]
    assert r.text.replace(r.headers["x-request-id"], rid) == cap


@needs_samples
@pytest.mark.parametrize(
    ("name", "reply", "body"),
    [
        (
            "cnblogs-native-qwen-max-toolcall-nonstream.json",
            lambda d: Reply(
                tool_calls=[
                    ToolCallReply(c["function"]["name"], c["function"]["arguments"], id=c["id"])
                    for c in d["output"]["choices"][0]["message"]["tool_calls"]
                ],
                finish_reason="stop",  # this 2024 recording ended its tool turn with "stop"
                usage=d["usage"],
                request_id=d["request_id"],
            ),
            native("qwen-max", tools=TOOLS),
        ),
        (
            "cnblogs-native-qwen-vl-plus-image-nonstream.json",
            lambda d: Reply(
                text=d["output"]["choices"][0]["message"]["content"][0]["text"],
                usage=d["usage"],
                request_id=d["request_id"],
            ),
            native("qwen-vl-plus", IMAGE_USER),
        ),
    ],
)
def test_non_stream_bodies_match_the_captures(emu, client, name, reply, body):
    expected = capture(name).strip()
    emu.register_model(body["model"])  # the capture's model, outside the emulator's visual-reasoning table
    emu.enqueue(reply(json.loads(expected)))
    assert post(client, body).text == expected


@needs_samples
def test_error_bodies_match_the_captures(emu, client):
    cap = json.loads(capture("cnblogs-native-error-400-invalidparameter-nonstream.json"))
    r = post(client, {"model": "qwen-max", "input": {"messages": []}, "parameters": {}}, path=TG)
    assert r.status_code == 400
    assert r.text == dumps({**cap, "request_id": r.headers["x-request-id"]})
    cap = json.loads(capture("cnblogs-native-error-401-invalidapikey-nonstream.json"))
    r = httpx.post(emu.native_base_url + MM, json=native("qwen3-vl-plus"), headers={"Authorization": "Bearer nope"})
    assert r.status_code == 401
    assert r.text == dumps({**cap, "request_id": r.headers["x-request-id"]})


@needs_samples
def test_compact_framing_matches_the_budget_capture():
    cap = capture("cnblogs-native-qwen-plus-latest-thinking-budget10-stream.sse").lstrip("\n")
    with (
        DashScopeEmulator(native_blank_lines=False) as emu,
        httpx.Client(base_url=emu.native_base_url, headers=AUTH, timeout=10) as http,
    ):
        emu.enqueue(Reply(reasoning="ab", text="c", chunk_size=1))
        ours = post(http, native("qwen3-vl-plus", enable_thinking=True, incremental_output=True), SSE).text
    shape = [re.sub(r"^(id:|data:).*", r"\1", line) for line in ours.split("\n")]
    cap_shape = [re.sub(r"^(id:|data:).*", r"\1", line) for line in cap.split("\n")]
    assert shape == [*cap_shape[: len(shape) - 1], ""]  # same line pattern, no blank lines
    assert ours.count("\n\n") == 0
    assert [line[3:] for line in ours.split("\n") if line.startswith("id:")] == ["1", "2", "3", "4"]


# -- rules -------------------------------------------------------------------------------------

BIG_DATA_URL = "data:image/png;base64," + "A" * 10_485_761


def with_items(*items: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"role": "user", "content": [*items, {"text": "Describe."}]}]


THINK: dict[str, Any] = {"enable_thinking": True, "incremental_output": True}
RULE_CASES = [
    pytest.param(native("qvq-max"), False, STREAM_ONLY, id="stream-only"),
    pytest.param(
        native("qwen3-vl-8b-thinking", enable_thinking=False),
        True,
        "The value of the enable_thinking parameter is restricted to True.",
        id="thinking-only-disabled",
    ),
    pytest.param(
        native("qwen3-vl-plus", enable_thinking=True),
        True,
        'The incremental_output parameter must be "true" when enable_thinking is true',
        id="thinking-stream-without-incremental",
    ),
    pytest.param(
        native("qwen3-vl-32b-thinking", incremental_output=False),
        True,
        'The incremental_output parameter must be "true" when enable_thinking is true',
        id="thinking-only-stream-incremental-false",
    ),
    pytest.param(
        native("qvq-plus", incremental_output=False),
        True,
        "The incremental_output parameter of this model cannot be set to False.",
        id="qvq-incremental-false",
    ),
    pytest.param(
        native("qwen3-vl-plus", **THINK, tools=TOOLS, tool_choice="required"),
        True,
        "The tool_choice parameter does not support being set to required or object in thinking mode",
        id="tool-choice-required-thinking",
    ),
    pytest.param(
        native("qwen3-vl-32b-thinking", tools=TOOLS, tool_choice={"type": "function", "function": {"name": "f"}}),
        False,
        "The tool_choice parameter does not support being set to required or object in thinking mode",
        id="tool-choice-object-thinking-only",
    ),
    pytest.param(
        native("qwen3-vl-plus", enable_thinking=True, response_format={"type": "json_object"}),
        False,
        "Json mode response is not supported when enable_thinking is true",
        id="json-object-thinking",
    ),
    pytest.param(
        native("qwen3-vl-plus", response_format={"type": "json_object"}),
        False,
        "'messages' must contain the word 'json' in some form, to use 'response_format' of type 'json_object'.",
        id="json-object-without-the-word",
    ),
    *(
        pytest.param(
            native("qwen3-vl-plus", **THINK, thinking_budget=budget),
            True,
            "The thinking_budget parameter must be a positive integer and not greater than 81920",
            id=f"thinking-budget-{budget!r}",
        )
        for budget in (0, "100", True, 81_921)
    ),
    pytest.param(
        native("qwen3-vl-plus", with_items({"image": BIG_DATA_URL})),
        False,
        "Exceeded limit on max bytes per data-uri item : 10485760",
        id="data-url-too-long",
    ),
    pytest.param(
        native("qwen3-vl-plus", with_items({"video": ["https://e.com/1.jpg", "file:///tmp/2.jpg"]})),
        True,
        "Failed to download multimodal content",
        id="file-url-video-frame",
    ),
    pytest.param(
        native("qwen3-vl-plus", with_items({"image": "cat.png"})),
        False,
        "Failed to download multimodal content",
        id="bare-path",
    ),
    pytest.param(
        native("qwen3-vl-plus", [{"role": "system", "content": [{"text": "Be brief."}]}]),
        False,
        "The input messages do not contain elements with the role of user",
        id="no-user-message",
    ),
    pytest.param(
        native("qwen3-vl-plus", [*USER, {"role": "system", "content": [{"text": "late"}]}]),
        True,
        "System message must be at the beginning.",
        id="system-not-first",
    ),
    pytest.param(
        {"model": "qwen3-vl-plus", "input": {"messages": []}, "parameters": {}},
        True,
        "Role must be user or assistant and Content length must be greater than 0",
        id="empty-messages",
    ),
    *(
        pytest.param(
            body,
            stream,
            "Required parameter(s) missing or invalid, please check the request parameters.",
            id=name,
        )
        for name, body, stream in [
            ("no-input", {"model": "qwen3-vl-plus", "parameters": {}}, False),
            ("messages-not-a-list", {"model": "qwen3-vl-plus", "input": {"messages": {}}}, True),
            ("parameters-not-an-object", {**native("qwen3-vl-plus"), "parameters": []}, False),
            ("no-model", {"input": {"messages": USER}}, True),
            ("compat-body", {"model": "qwen3-vl-plus", "messages": USER}, False),
        ]
    ),
]


@pytest.mark.parametrize(("body", "stream", "message"), RULE_CASES)
def test_rule_rejection(emu, client, body, stream, message):
    emu.enqueue(Reply(text="must not be consumed"))
    r = post(client, body, SSE if stream else None)
    rid = r.headers["x-request-id"]
    assert UUID.fullmatch(rid)
    payload = {"code": "InvalidParameter", "message": message, "request_id": rid}
    if stream:  # an up-front stream failure: HTTP 200 and one event:error (the captured form)
        assert r.status_code == 200
        assert r.headers["content-type"] == SSE_TYPE
        assert r.text == event(1, payload, kind="error", status=400)
    else:
        assert r.status_code == 400
        assert r.headers["content-type"] == "application/json"
        assert r.text == dumps(payload)
    assert emu.pending == 1
    assert emu.last_request.body == body


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(native("qvq-max"), id="qvq-incremental-defaults-to-true"),
        pytest.param(native("qvq-max", incremental_output=True, enable_thinking=True), id="qvq-explicit"),
        pytest.param(native("qwen3-vl-plus", **THINK, tools=TOOLS, tool_choice="auto"), id="thinking-auto-tools"),
        pytest.param(native("qwen3-vl-plus", **THINK, thinking_budget=81_920), id="budget-max"),
        pytest.param(native("qwen3-vl-plus", enable_thinking=False), id="thinking-off-no-incremental"),
        pytest.param(native("qwen3-vl-plus", with_items({"video": ["https://e.com/1.jpg"], "fps": 2})), id="frames"),
        pytest.param(
            native("qwen3-vl-plus", [{"role": "system", "content": [{"text": "Be brief."}]}, *USER]), id="system-first"
        ),
        pytest.param(
            native(
                "qwen3-vl-plus",
                [{"role": "user", "content": "Reply in JSON."}],
                response_format={"type": "json_object"},
            ),
            id="string-content-json-word",
        ),
        pytest.param({"model": "qwen3-vl-plus", "input": {"messages": USER}}, id="parameters-omitted"),
    ],
)
def test_rule_accepts_streams(client, body):
    events = blocks(post(client, body, SSE).text)
    assert events[-1]["event"] == "result"
    assert events[-1]["data"]["output"]["choices"][0]["finish_reason"] == "stop"


def test_thinking_non_stream_is_accepted(client):
    r = post(client, native("qwen3-vl-8b-thinking"))
    assert r.status_code == 200
    assert r.json()["output"]["choices"][0]["message"]["content"] == [{"text": "Hello from the DashScope emulator."}]


def test_enforce_rules_off():
    with (
        DashScopeEmulator(enforce_rules=False) as emu,
        httpx.Client(base_url=emu.native_base_url, headers=AUTH, timeout=10) as http,
    ):
        assert post(http, native("qvq-max", enable_thinking=False)).status_code == 200


# -- auth, bad bodies, scripted errors ---------------------------------------------------------


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {**SSE, "Authorization": "Bearer x"}])
def test_unauthorized_is_plain_401(emu, headers):
    r = httpx.post(emu.native_base_url + MM, headers=headers, json=native("qvq-max"))
    rid = r.headers["x-request-id"]
    assert (r.status_code, r.headers["content-type"]) == (401, "application/json")
    assert r.text == dumps({"code": "InvalidApiKey", "message": "Invalid API-key provided.", "request_id": rid})


def test_no_api_key_means_no_auth():
    with DashScopeEmulator(api_key=None) as emu:
        assert httpx.post(emu.native_base_url + MM, json=native("qwen3-vl-plus")).status_code == 200


@pytest.mark.parametrize("stream", [False, True])
def test_body_not_a_json_object(emu, client, stream):
    r = client.post(MM, content=b"[1, 2]", headers=SSE if stream else {})
    payload = {
        "code": "InvalidParameter",
        "message": "The request body is not valid JSON.",
        "request_id": r.headers["x-request-id"],
    }
    if stream:
        assert (r.status_code, r.text) == (200, event(1, payload, kind="error", status=400))
    else:
        assert (r.status_code, r.text) == (400, dumps(payload))


def test_error_replies(emu, client):
    emu.enqueue(
        ErrorReply(
            429,
            "Requests rate limit exceeded, please try again later.",
            code="limit_requests",
            retry_after=2,
            request_id=RID,
        ),
        ErrorReply(400, "Range of input length should be [1, 129024]", request_id=RID),
        ErrorReply(429, "Requests throttling triggered.", code="Throttling", retry_after=1.5, request_id=RID),
        ErrorReply(503, "Model is unavailable, please try again later.", code="ModelUnavailable", request_id=RID),
        ErrorReply(400, "bad", sse_framed=False, request_id=RID),
        ErrorReply(500, "oops", code="InternalError", sse_framed=True, request_id=RID),
    )
    r = post(client, native("qwen3-vl-plus"))
    assert (r.status_code, r.headers["retry-after"], r.headers["x-request-id"]) == (429, "2", RID)
    assert r.text == dumps(
        {
            "code": "Throttling.RateQuota",
            "message": "Requests rate limit exceeded, please try again later.",
            "request_id": RID,
        }
    )
    r = post(client, native("qwen3-vl-plus"), SSE)
    assert r.status_code == 200
    assert r.text == event(
        1,
        {"code": "InvalidParameter", "message": "Range of input length should be [1, 129024]", "request_id": RID},
        kind="error",
        status=400,
    )
    r = post(client, native("qwen3-vl-plus"), SSE)  # throttling comes from the gateway: plain HTTP
    assert (r.status_code, r.headers["retry-after"], r.headers["content-type"]) == (429, "1.5", "application/json")
    assert r.json() == {"code": "Throttling", "message": "Requests throttling triggered.", "request_id": RID}
    r = post(client, native("qwen3-vl-plus"), SSE)
    assert (r.status_code, r.json()["code"]) == (503, "ModelUnavailable")
    r = post(client, native("qwen3-vl-plus"), SSE)
    assert (r.status_code, r.json()["code"]) == (400, "InvalidParameter")
    r = post(client, native("qwen3-vl-plus"))
    assert r.status_code == 200
    assert r.text == event(1, {"code": "InternalError", "message": "oops", "request_id": RID}, kind="error", status=500)


# -- faults ------------------------------------------------------------------------------------


def test_error_frame_mid_stream(emu, client):
    fault = ErrorFrame(after_chunks=2, message="Output data may contain inappropriate content.")
    emu.enqueue(Reply(text="abcdefghijkl", request_id=RID, fault=fault))
    r = post(client, native("qwen3-vl-plus"), SSE)
    assert r.status_code == 200
    error = {
        "code": "DataInspectionFailed",
        "message": "Output data may contain inappropriate content.",
        "request_id": RID,
    }
    assert r.text == "".join(
        [
            event(1, result(answer("abcdefgh"), usage(3, 1))),
            event(2, result(answer("ijkl"), usage(3, 2))),
            event(3, error, kind="error", status=400),
        ]
    )


def test_disconnect_reset_malformed_nofinish_nodone(emu, client):
    emu.enqueue(Reply(text="abcdefghijklmnop", fault=Disconnect(after_chunks=1)))
    received: list[bytes] = []
    with (
        pytest.raises(httpx.RemoteProtocolError),
        client.stream("POST", MM, json=native("qwen3-vl-plus"), headers=SSE) as r,
    ):
        received.extend(r.iter_raw())
    assert [e["data"]["output"]["choices"][0]["message"]["content"] for e in blocks(b"".join(received).decode())] == [
        [{"text": "abcdefgh"}]
    ]

    emu.enqueue(Reply(fault=ResetBeforeHeaders()))
    with pytest.raises(httpx.TransportError):
        post(client, native("qwen3-vl-plus"), SSE)

    emu.enqueue(Reply(text="abc", request_id=RID, fault=MalformedLine(after_chunks=1, line="data:{not json")))
    assert post(client, native("qwen3-vl-plus"), SSE).text == (
        event(1, result(answer("abc"), usage(3, 1))) + "data:{not json\n\n" + event(2, result(end(), usage(3, 1)))
    )

    emu.enqueue(Reply(reasoning="r", text="t", request_id=RID, fault=NoFinish()))
    assert post(client, native("qvq-max"), SSE).text == event(1, result(reasoning("r"), usage(3, 1, 1))) + event(
        2, result(answer("t"), usage(3, 2, 1))
    )
    emu.enqueue(Reply(tool_calls=[ToolCallReply("f", "{}", id="c")], request_id=RID, fault=NoFinish()))
    assert post(client, native("qwen3-vl-plus", tools=TOOLS), SSE).text == event(
        1, result(tools(head(0, "c", "f", "{}")), usage(3, 1))
    )

    emu.enqueue(Reply(text="x", request_id=RID, fault=NoDone()), Reply(text="x", request_id=RID))
    assert post(client, native("qwen3-vl-plus"), SSE).text == post(client, native("qwen3-vl-plus"), SSE).text


# -- options -----------------------------------------------------------------------------------


def test_without_blank_lines():
    with (
        DashScopeEmulator(native_blank_lines=False) as emu,
        httpx.Client(base_url=emu.native_base_url, headers=AUTH, timeout=10) as http,
    ):
        emu.enqueue(
            Reply(reasoning="r", text="t", request_id=RID),
            Reply(text="ab", chunk_size=1, request_id=RID, fault=ErrorFrame(1, "x")),
        )
        assert post(http, native("qvq-max"), SSE).text == "".join(
            [
                event(1, result(reasoning("r"), usage(3, 1, 1)), sep="\n"),
                event(2, result(answer("t"), usage(3, 2, 1)), sep="\n"),
                event(3, result(end(), usage(3, 2, 1)), sep="\n"),
            ]
        )
        error = {"code": "DataInspectionFailed", "message": "x", "request_id": RID}
        assert post(http, native("qvq-max"), SSE).text == event(1, result(answer("a"), usage(3, 1)), sep="\n") + event(
            2, error, sep="\n", kind="error", status=400
        )


def test_constructor_validation():
    with pytest.raises(ValueError, match="flavour='vllm' only"):
        DashScopeEmulator(reasoning_parser=False)
    with pytest.raises(ValueError, match="dashscope flavour only"):
        DashScopeEmulator(flavour="vllm", native_blank_lines=False)
    with pytest.raises(ValueError, match="unknown flavour 'sglang'"):
        DashScopeEmulator(flavour="sglang")  # type: ignore[arg-type]


def test_22000_event_stream_is_fast(emu, client):
    emu.enqueue(Reply(reasoning=["ab"] * 20_000, text=["c"] * 2_000))
    start = time.perf_counter()
    r = post(client, native("qvq-max"), SSE)
    elapsed = time.perf_counter() - start
    events = blocks(r.text)
    assert len(events) == 22_001
    assert events[-1]["data"]["usage"] == usage(3, 22_000, 20_000)
    assert elapsed < 2.0
