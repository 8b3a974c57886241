"""OpenAI-compatible wire rendering, byte-faithful to the captures in `shared/wire-samples`.

Key order differs between chunk kinds on the real wire, so every chunk is written from a string
template rather than one dict; this is also what keeps a 20,000-chunk stream fast.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from itertools import islice
from typing import Any

from qwen_vl_core.testing._http import Endpoint, Response
from qwen_vl_core.testing._rules import COMPAT_PREFIX, RequestView, Violation, check_request, compat_view
from qwen_vl_core.testing._script import (
    EchoAuthorization,
    EndlessLine,
    ErrorFrame,
    ErrorReply,
    HtmlPage,
    IgnoreStream,
    MalformedLine,
    NoDone,
    NoFinish,
    Reply,
    Script,
)
from qwen_vl_core.testing._wire import (
    call_id,
    dumps,
    encode,
    endless_line,
    fragment_json,
    html_response,
    new_request_id,
    piece_counts,
    retry_after_value,
    tool_groups,
)

__all__ = ["COMPAT_ENDPOINT", "COMPAT_PATH", "compat_error", "not_found", "render_compat", "retry_after_value"]

COMPAT_PATH = "/compatible-mode/v1/chat/completions"

_SSE_TYPE = "text/event-stream;charset=UTF-8"
_JSON_TYPE = "application/json"
_OPEN = 'data: {"choices":['
_NEXT = ',"finish_reason":null,"index":0,"logprobs":null}'
_ROLE_DELTA = '{"content":"","role":"assistant"}'


def _sse(payload: bytes) -> bytes:
    return b"data: " + payload + b"\n\n"


@dataclass(frozen=True)
class _Context:
    """Per-request facts the rendering needs."""

    model: str
    request_id: str
    created: int
    thinking: bool
    include_usage: bool
    usage: dict[str, Any]
    call_ids: tuple[str, ...]

    @property
    def completion_id(self) -> str:
        return f"chatcmpl-{self.request_id}"

    def headers(self, content_type: str) -> list[tuple[str, str]]:
        return [
            ("content-type", content_type),
            ("x-request-id", self.request_id),
            ("x-dashscope-call-gateway", "true"),
        ]


def _auto_usage(reply: Reply, view: RequestView) -> dict[str, Any]:
    """Deterministic usage: the prompt counted as `_usage` says, one output token per piece."""
    tokens = view.tokens
    prompt = tokens.total
    reasoning, completion = piece_counts(reply)
    usage: dict[str, Any] = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }
    if reasoning:
        usage["completion_tokens_details"] = {"reasoning_tokens": reasoning}
    details = {"image_tokens": tokens.image} if tokens.image else {}
    if tokens.video:  # protocol doc section 3.1: video_tokens may appear for video inputs
        details["video_tokens"] = tokens.video
    if details:
        usage["prompt_tokens_details"] = details
    return usage


def thinking_shape(reply: Reply, view: RequestView) -> bool:
    """Whether to render the thinking shape (`reasoning_content` keys): the model thinks per the facts
    (or, where they do not say, `enable_thinking` is true), or the reply scripts reasoning anyway."""
    thinking = view.thinking
    if thinking is None:
        thinking = view.params.get("enable_thinking") is True
    return thinking or bool(reply.reasoning)


def _context(reply: Reply, view: RequestView) -> _Context:
    options = view.params.get("stream_options")
    return _Context(
        model=reply.model or view.model,
        request_id=reply.request_id or new_request_id(),
        created=int(time.time()),
        thinking=thinking_shape(reply, view),
        include_usage=isinstance(options, Mapping) and options.get("include_usage") is True,
        usage=dict(reply.usage) if reply.usage is not None else _auto_usage(reply, view),
        call_ids=tuple(call.id or call_id() for call in reply.tool_calls),
    )


def _events(reply: Reply, ctx: _Context) -> Iterator[bytes]:
    tail = (
        f'],"object":"chat.completion.chunk","usage":null,"created":{ctx.created},'
        f'"system_fingerprint":null,"model":{dumps(ctx.model)},"id":{dumps(ctx.completion_id)}}}\n\n'
    )
    reasoning = reply.pieces(reply.reasoning)
    # Role chunk; with reasoning it is the qvq-max capture's first line, key order included.
    role = '{"content":null,"role":"assistant","reasoning_content":""}' if reasoning else _ROLE_DELTA
    yield f'{_OPEN}{{"delta":{role},"index":0,"logprobs":null,"finish_reason":null}}{tail}'.encode()
    for piece in reasoning:
        yield f'{_OPEN}{{"delta":{{"content":null,"reasoning_content":{dumps(piece)}}}{_NEXT}{tail}'.encode()
    text_end = ',"reasoning_content":null}' if ctx.thinking else "}"
    for piece in reply.pieces(reply.text):
        yield f'{_OPEN}{{"delta":{{"content":{dumps(piece)}{text_end}{_NEXT}{tail}'.encode()
    tool_start = '{"content":null,"reasoning_content":null,' if ctx.thinking else '{"content":null,'
    for group in tool_groups(reply, ctx.call_ids):
        calls = ",".join(map(fragment_json, group))
        yield f'{_OPEN}{{"delta":{tool_start}"tool_calls":[{calls}]}}{_NEXT}{tail}'.encode()
    if not isinstance(reply.fault, NoFinish):
        if reply.tool_calls:
            delta = "{}"  # the tool-call finish chunk has an empty delta (protocol doc §7)
        else:
            delta = '{"content":"","reasoning_content":null}' if ctx.thinking else '{"content":""}'
        finish = dumps(reply.resolved_finish_reason)
        yield f'{_OPEN}{{"finish_reason":{finish},"delta":{delta},"index":0,"logprobs":null}}{tail}'.encode()
        if ctx.include_usage:
            yield (_OPEN + tail.replace('"usage":null', '"usage":' + dumps(ctx.usage), 1)).encode()
    if not isinstance(reply.fault, NoDone):
        yield b"data: [DONE]\n\n"


def _stream_events(reply: Reply, ctx: _Context) -> Iterator[bytes]:
    events = _events(reply, ctx)
    fault = reply.fault
    if isinstance(fault, EndlessLine):
        yield from islice(events, fault.after_chunks)
        yield from endless_line(b'data: {"choices":[{"delta":{"content":"', fault)
        return
    if isinstance(fault, ErrorFrame):
        yield from islice(events, fault.after_chunks)
        error = {"message": fault.message, "type": fault.type, "param": None, "code": fault.code}
        yield _sse(encode({"error": error}))
        return
    if isinstance(fault, MalformedLine):
        yield from islice(events, fault.after_chunks)
        yield fault.line.encode() + b"\n\n"
    yield from events


def _completion_body(reply: Reply, ctx: _Context) -> bytes:
    message: dict[str, Any] = {"content": "".join(reply.pieces(reply.text))}
    if ctx.thinking:
        message["reasoning_content"] = "".join(reply.pieces(reply.reasoning))
    message["role"] = "assistant"
    if reply.tool_calls:
        message["tool_calls"] = [
            {
                "function": {"arguments": "".join(reply.argument_pieces(call)), "name": call.name},
                "id": call_id,
                **({} if call.omit_index else {"index": index}),
                "type": "function",
            }
            for index, (call, call_id) in enumerate(zip(reply.tool_calls, ctx.call_ids, strict=True))
        ]
    return encode(
        {
            "choices": [
                {
                    "message": message,
                    "finish_reason": reply.resolved_finish_reason,
                    "index": 0,
                    "logprobs": None,
                }
            ],
            "object": "chat.completion",
            "usage": ctx.usage,
            "created": ctx.created,
            "system_fingerprint": None,
            "model": ctx.model,
            "id": ctx.completion_id,
        }
    )


def compat_error(
    status: int,
    message: str,
    *,
    code: str = "invalid_parameter_error",
    type: str = "invalid_request_error",
    sse_framed: bool = False,
    request_id: str | None = None,
) -> Response:
    """An error response with the body shape of wire-samples/errors-compat-captured-in-logs.jsonl."""
    rid = request_id or new_request_id()
    body = encode(
        {
            "error": {"code": code, "param": None, "message": message, "type": type},
            "id": f"chatcmpl-{rid}",
            "request_id": rid,
        }
    )
    headers = [
        ("content-type", _SSE_TYPE if sse_framed else _JSON_TYPE),
        ("x-request-id", rid),
        ("x-dashscope-call-gateway", "true"),
    ]
    return Response(status, headers, _sse(body) if sse_framed else body)


def _render_error(error: ErrorReply) -> Response:
    response = compat_error(
        error.status,
        error.message,
        code=error.code,
        type=error.type,
        sse_framed=bool(error.sse_framed),
        request_id=error.request_id,
    )
    if error.retry_after is not None:
        response.headers.append(("retry-after", retry_after_value(error.retry_after)))
    return response


def _echo_authorization(script: EchoAuthorization, view: RequestView) -> Response:
    rid = new_request_id()
    error = {
        "message": f"Incorrect API key provided: {view.authorization}",
        "type": "invalid_request_error",
        "param": None,
        "code": "invalid_api_key",
    }
    return Response(script.status, [("content-type", _JSON_TYPE), ("x-request-id", rid)], encode({"error": error}))


def render_compat(script: Script, view: RequestView) -> Response:
    """The compat response for one script."""
    if isinstance(script, ErrorReply):
        return _render_error(script)
    if isinstance(script, HtmlPage):
        return html_response(script)
    if isinstance(script, EchoAuthorization):
        return _echo_authorization(script, view)
    ctx = _context(script, view)
    if view.stream and not isinstance(script.fault, IgnoreStream):
        headers = ctx.headers(_SSE_TYPE)
        return Response(200, headers, events=_stream_events(script, ctx), delay=script.delay, fault=script.fault)
    return Response(200, ctx.headers(_JSON_TYPE), _completion_body(script, ctx), delay=script.delay, fault=script.fault)


def _reject(violation: Violation, view: RequestView) -> Response:
    # A streaming request that fails up front gets an SSE-framed 4xx body (protocol doc §4.1).
    message = COMPAT_PREFIX + violation.message if violation.internal else violation.message
    framed = view.stream and violation.framed
    return compat_error(violation.status, message, code=violation.code, sse_framed=framed)


def _unauthorized() -> Response:
    rid = new_request_id()
    error = {
        "message": "Incorrect API key provided. ",
        "type": "invalid_request_error",
        "param": None,
        "code": "invalid_api_key",
    }
    return Response(
        401,
        [("content-type", _JSON_TYPE), ("x-request-id", rid)],
        encode({"error": error, "request_id": rid}),
    )


def _bad_body(headers: Mapping[str, str]) -> Response:
    # [I] the real message for an unparsable body was not captured.
    return compat_error(400, COMPAT_PREFIX + "The request body is not valid JSON.")


def not_found() -> Response:
    """404 for any path no endpoint serves."""
    body = encode({"error": {"message": "Not Found", "type": "not_found", "code": "not_found"}})
    return Response(404, [("content-type", _JSON_TYPE)], body)


COMPAT_ENDPOINT = Endpoint(
    view=compat_view,
    check=check_request,
    reject=_reject,
    render=render_compat,
    unauthorized=_unauthorized,
    bad_body=_bad_body,
)
"""The OpenAI-compatible chat route."""
