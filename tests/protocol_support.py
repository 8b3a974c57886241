"""Both wire protocols in the adapter tests (LangChain and LlamaIndex): where each lives on the
emulator, what a recorded request says whatever its shape, and scripted usage in each protocol's
own shape. The behavioural tests run on both protocols (the `protocol` fixture in each tree's
conftest.py); a test that pins one protocol's exact body says so with `COMPAT_WIRE` or `NATIVE_WIRE`.
Importable from both trees because pytest puts `tests/` (it holds a conftest.py) on `sys.path`.
"""

from __future__ import annotations

from typing import Any

import pytest

from qwen_vl_core.testing import DashScopeEmulator, RecordedRequest

PROTOCOLS = ("openai", "dashscope")
COMPAT_WIRE = pytest.mark.parametrize("protocol", ["openai"])
"""The test asserts the exact OpenAI-compatible body: it runs on that protocol only."""
NATIVE_WIRE = pytest.mark.parametrize("protocol", ["dashscope"])
"""The test asserts the exact native DashScope body: it runs on that protocol only."""


def endpoint(emu: DashScopeEmulator, protocol: str) -> dict[str, Any]:
    """`base_url` and `protocol` fields pointing a model at the emulator's route for `protocol`."""
    base_url = emu.base_url if protocol == "openai" else emu.native_base_url
    return {"base_url": base_url, "protocol": protocol}


def is_native(request: RecordedRequest) -> bool:
    return request.path.startswith("/api/v1/")


def sent_messages(request: RecordedRequest) -> list[dict[str, Any]]:
    """The messages list of either body shape (compat `messages`, native `input.messages`)."""
    body = request.body
    messages = body["input"]["messages"] if is_native(request) else body["messages"]
    assert isinstance(messages, list)
    return messages


def was_streamed(request: RecordedRequest) -> bool:
    """Whether the request asked for a stream, checking that the protocol's switches agree.

    Compat: `stream: true` with `stream_options.include_usage`; native: the `X-DashScope-SSE`
    header with `incremental_output: true`.
    """
    body = request.body
    if is_native(request):
        sse = request.headers.get("x-dashscope-sse") == "enable"
        assert (body["parameters"].get("incremental_output") is True) == sse
        return sse
    stream = body.get("stream") is True
    assert (body.get("stream_options") == {"include_usage": True}) == stream
    return stream


def sent_params(request: RecordedRequest) -> dict[str, Any]:
    """The request parameters (tools, tool_choice, enable_thinking, sampling, ...) of either shape,
    without the streaming switches `was_streamed` checks and the native `result_format`."""
    body = request.body
    if is_native(request):
        assert set(body) == {"model", "input", "parameters"}
        assert set(body["input"]) == {"messages"}
        params = dict(body["parameters"])
        assert params.pop("result_format") == "message"
        params.pop("incremental_output", None)
        return params
    return {k: v for k, v in body.items() if k not in ("model", "messages", "stream", "stream_options")}


def usage_wire(
    protocol: str,
    input_tokens: int,
    output_tokens: int,
    *,
    reasoning_tokens: int | None = None,
    image_tokens: int | None = None,
) -> dict[str, Any]:
    """A scripted usage object in the protocol's own key names (the emulator sends it verbatim)."""
    total = input_tokens + output_tokens
    if protocol == "openai":
        usage: dict[str, Any] = {
            "prompt_tokens": input_tokens,
            "completion_tokens": output_tokens,
            "total_tokens": total,
        }
        if image_tokens is not None:
            usage["prompt_tokens_details"] = {"text_tokens": input_tokens - image_tokens, "image_tokens": image_tokens}
        if reasoning_tokens is not None:
            usage["completion_tokens_details"] = {"reasoning_tokens": reasoning_tokens}
        return usage
    usage = {"input_tokens": input_tokens, "output_tokens": output_tokens, "total_tokens": total}
    if image_tokens is not None:
        usage["input_tokens_details"] = {"text_tokens": input_tokens - image_tokens, "image_tokens": image_tokens}
    if reasoning_tokens is not None:
        usage["output_tokens_details"] = {"reasoning_tokens": reasoning_tokens}
    return usage


def response_id(protocol: str, request_id: str) -> str:
    """The response id each protocol reports: compat `chatcmpl-<request id>`, native the request id."""
    return f"chatcmpl-{request_id}" if protocol == "openai" else request_id


def text_message(protocol: str, role: str, text: str) -> dict[str, Any]:
    """A text-only message as each protocol sends it: compat a string, native one `{"text"}` item."""
    return {"role": role, "content": text if protocol == "openai" else [{"text": text}]}


def tool_result(protocol: str, text: str, call_id: str) -> dict[str, Any]:
    return {**text_message(protocol, "tool", text), "tool_call_id": call_id}


def assistant_calls(*calls: tuple[str, str, str]) -> dict[str, Any]:
    """An assistant tool-call turn `(id, name, arguments)...`: the same on both protocols."""
    return {
        "role": "assistant",
        "content": "",
        "tool_calls": [
            {"id": cid, "type": "function", "function": {"name": name, "arguments": args}} for cid, name, args in calls
        ],
    }


def assert_same_error(
    raised: dict[str, Any], status: int, message: str, request_id: str, codes: tuple[str, str]
) -> None:
    """Both protocols raised the same error: class, message, status, request id, retryable; the code
    is the API's own, spelled per protocol (compat first)."""
    facts = {p: (type(e), e.message, e.status, e.request_id, e.retryable) for p, e in raised.items()}
    assert facts["dashscope"] == facts["openai"]
    assert raised["openai"].message.startswith(message)  # the core adds what to do about it
    assert (raised["openai"].status, raised["openai"].request_id) == (status, request_id)
    assert (raised["openai"].code, raised["dashscope"].code) == codes
