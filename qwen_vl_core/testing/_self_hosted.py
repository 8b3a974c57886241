"""A vLLM-like OpenAI-compatible server (`/v1/chat/completions`), to test the self-hosted paths.

Modelled on vLLM >= 0.10 [I for the stream key order; the non-stream body follows
wire-samples/vllm-ascend-docs-qwen3-vl-8b-instruct-nonstream.json]. With a reasoning parser the
reasoning travels in `reasoning` (or `reasoning_content`, or both with `reasoning_content: null`).
Without one it is inlined in `content` as `reasoning</think>\\n\\nanswer` (optionally with the
opening `<think>` too), and that combined text is re-split into `chunk_size` pieces, so the tags get
cut across chunks. DashScope's rules are not enforced: vLLM ignores `enable_thinking` (it reads
`chat_template_kwargs`). Token counts are the DashScope routes' counts, whatever the parser.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from itertools import islice
from typing import Any, Literal

from qwen_vl_core.testing._http import Endpoint, Response
from qwen_vl_core.testing._rules import RequestView, Violation, compat_view
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
    dumps,
    encode,
    endless_line,
    html_response,
    piece_counts,
    retry_after_value,
    tool_groups,
)

__all__ = ["VLLM_PATH", "ReasoningField", "ThinkTags", "vllm_endpoint", "vllm_not_found"]

VLLM_PATH = "/v1/chat/completions"

ReasoningField = Literal["reasoning", "reasoning_content", "both"]
ThinkTags = Literal["close", "both"]

_SSE_TYPE = "text/event-stream; charset=utf-8"
_JSON_TYPE = "application/json"


@dataclass(frozen=True)
class _Options:
    reasoning_parser: bool
    reasoning_field: ReasoningField
    think_tags: ThinkTags


@dataclass(frozen=True)
class _Context:
    completion_id: str
    created: int
    model: str
    include_usage: bool
    usage: dict[str, Any]
    call_ids: tuple[str, ...]


def _context(reply: Reply, view: RequestView) -> _Context:
    options = view.params.get("stream_options")
    prompt = view.tokens.total
    completion = piece_counts(reply)[1]
    auto = {"prompt_tokens": prompt, "total_tokens": prompt + completion, "completion_tokens": completion}
    return _Context(
        completion_id=f"chatcmpl-{reply.request_id or uuid.uuid4().hex}",
        created=int(time.time()),
        model=reply.model or view.model,
        include_usage=isinstance(options, Mapping) and options.get("include_usage") is True,
        usage=dict(reply.usage) if reply.usage is not None else auto,
        call_ids=tuple(call.id or f"chatcmpl-tool-{uuid.uuid4().hex}" for call in reply.tool_calls),
    )


def _inline(reply: Reply, opts: _Options) -> str:
    """Reasoning and answer as a server without a reasoning parser sends them, in one text."""
    reasoning = "".join(reply.pieces(reply.reasoning))
    text = "".join(reply.pieces(reply.text))
    if not reasoning:
        return text
    opening = "<think>" if opts.think_tags == "both" else ""
    return f"{opening}{reasoning}</think>\n\n{text}"


def _reasoning_delta(piece: str, field: ReasoningField) -> str:
    if field == "both":
        return f'{{"reasoning":{dumps(piece)},"reasoning_content":null}}'
    return f"{{{dumps(field)}:{dumps(piece)}}}"


def _deltas(reply: Reply, ctx: _Context, opts: _Options) -> Iterator[str]:
    """Every non-final delta object of the stream, as JSON text."""
    yield '{"role":"assistant","content":""}'
    if opts.reasoning_parser:
        for piece in reply.pieces(reply.reasoning):
            yield _reasoning_delta(piece, opts.reasoning_field)
        texts = reply.pieces(reply.text)
    else:
        texts = reply.pieces(_inline(reply, opts))  # re-split: tags end up cut across chunks
    for piece in texts:
        yield f'{{"content":{dumps(piece)}}}'
    for group in tool_groups(reply, ctx.call_ids):
        for fragment in group:  # vLLM sends one call per chunk; continuations carry only the index
            index = {} if fragment.omit_index else {"index": fragment.index}
            call: dict[str, Any] = {**index, "function": {"arguments": fragment.arguments}}
            if fragment.name is not None:
                function = {"name": fragment.name, "arguments": fragment.arguments}
                call = {"id": fragment.id, "type": "function", **index, "function": function}
            yield f'{{"tool_calls":[{dumps(call)}]}}'


def _events(reply: Reply, ctx: _Context, opts: _Options) -> Iterator[bytes]:
    head = (
        f'data: {{"id":{dumps(ctx.completion_id)},"object":"chat.completion.chunk","created":{ctx.created},'
        f'"model":{dumps(ctx.model)},"choices":['
    )
    for delta in _deltas(reply, ctx, opts):
        yield f'{head}{{"index":0,"delta":{delta},"logprobs":null,"finish_reason":null}}]}}\n\n'.encode()
    if not isinstance(reply.fault, NoFinish):
        finish = dumps(reply.resolved_finish_reason)
        delta = "{}" if reply.tool_calls else '{"content":""}'
        choice = f'{{"index":0,"delta":{delta},"logprobs":null,"finish_reason":{finish},"stop_reason":null}}'
        yield f"{head}{choice}]}}\n\n".encode()
        if ctx.include_usage:
            yield f'{head}],"usage":{dumps(ctx.usage)}}}\n\n'.encode()
    if not isinstance(reply.fault, NoDone):
        yield b"data: [DONE]\n\n"


def _stream_events(reply: Reply, ctx: _Context, opts: _Options) -> Iterator[bytes]:
    events = _events(reply, ctx, opts)
    fault = reply.fault
    if isinstance(fault, EndlessLine):
        yield from islice(events, fault.after_chunks)
        head = f'data: {{"id":{dumps(ctx.completion_id)},"choices":[{{"delta":{{"content":"'
        yield from endless_line(head.encode(), fault)
        return
    if isinstance(fault, ErrorFrame):
        yield from islice(events, fault.after_chunks)
        error = {"message": fault.message, "type": fault.type, "param": None, "code": 400}
        yield b"data: " + encode({"error": error}) + b"\n\n"
        return
    if isinstance(fault, MalformedLine):
        yield from islice(events, fault.after_chunks)
        yield fault.line.encode() + b"\n\n"
    yield from events


def _completion_body(reply: Reply, ctx: _Context, opts: _Options) -> bytes:
    if opts.reasoning_parser:
        text = "".join(reply.pieces(reply.text))
        reasoning: str | None = "".join(reply.pieces(reply.reasoning)) or None
    else:
        text, reasoning = _inline(reply, opts), None
    message: dict[str, Any] = {
        "role": "assistant",
        "content": text or None,
        "refusal": None,
        "annotations": None,
        "audio": None,
        "function_call": None,
        "tool_calls": [
            {
                "id": cid,
                "type": "function",
                "function": {"name": call.name, "arguments": "".join(reply.argument_pieces(call))},
            }
            for call, cid in zip(reply.tool_calls, ctx.call_ids, strict=True)
        ],
    }
    if opts.reasoning_parser and opts.reasoning_field == "both":
        message.update(reasoning=reasoning, reasoning_content=None)
    elif opts.reasoning_parser:
        message[opts.reasoning_field] = reasoning
    choice = {
        "index": 0,
        "message": message,
        "logprobs": None,
        "finish_reason": reply.resolved_finish_reason,
        "stop_reason": None,
        "token_ids": None,
    }
    return encode(
        {
            "id": ctx.completion_id,
            "object": "chat.completion",
            "created": ctx.created,
            "model": ctx.model,
            "choices": [choice],
            "service_tier": None,
            "system_fingerprint": None,
            "usage": ctx.usage,
            "prompt_logprobs": None,
            "prompt_token_ids": None,
            "kv_transfer_params": None,
        }
    )


def _vllm_error(status: int, message: str, type: str = "BadRequestError") -> Response:
    """vLLM's `ErrorResponse`: the HTTP status doubles as `code`."""
    body = encode({"error": {"message": message, "type": type, "param": None, "code": status}})
    return Response(status, [("content-type", _JSON_TYPE)], body)


def vllm_not_found() -> Response:
    """FastAPI's 404 body."""
    return Response(404, [("content-type", _JSON_TYPE)], b'{"detail":"Not Found"}')


def vllm_endpoint(
    *, reasoning_parser: bool = True, reasoning_field: ReasoningField = "reasoning", think_tags: ThinkTags = "close"
) -> Endpoint:
    """The vLLM chat route: no DashScope rules, vLLM's shapes."""
    opts = _Options(reasoning_parser, reasoning_field, think_tags)

    def render(script: Script, view: RequestView) -> Response:
        if isinstance(script, HtmlPage):
            return html_response(script)
        if isinstance(script, EchoAuthorization):
            body = encode({"error": f"Unauthorized: {view.authorization}"})
            return Response(script.status, [("content-type", _JSON_TYPE)], body)
        if isinstance(script, ErrorReply):
            response = _vllm_error(script.status, script.message, script.type)
            if script.retry_after is not None:
                response.headers.append(("retry-after", retry_after_value(script.retry_after)))
            return response
        ctx = _context(script, view)
        if view.stream and not isinstance(script.fault, IgnoreStream):
            events = _stream_events(script, ctx, opts)
            return Response(200, [("content-type", _SSE_TYPE)], events=events, delay=script.delay, fault=script.fault)
        body = _completion_body(script, ctx, opts)
        return Response(200, [("content-type", _JSON_TYPE)], body, delay=script.delay, fault=script.fault)

    def reject(violation: Violation, view: RequestView) -> Response:
        return _vllm_error(violation.status, violation.message)

    return Endpoint(
        view=compat_view,
        check=lambda view: None,
        reject=reject,
        render=render,
        unauthorized=lambda: Response(401, [("content-type", _JSON_TYPE)], b'{"error":"Unauthorized"}'),
        bad_body=lambda headers: _vllm_error(400, "The request body is not a JSON object."),
    )
