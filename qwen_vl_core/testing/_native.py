"""Native DashScope (`/api/v1/services/aigc/.../generation`) rendering, byte-faithful to the captures.

Layout per event, as in aliyun-docs-mirror-qvq-max-native-stream-abridged.sse: `id:N`,
`event:result`, the `:HTTP_STATUS/200` comment, `data:{json}`, then a blank line (omitted with
`DashScopeEmulator(native_blank_lines=False)`, like some recordings). Reasoning events have
`content: []` and `reasoning_content`; answer events `content: [{"text"}]` and no reasoning key;
tool-call events follow cnblogs-native-qwen-max-parallel-toolcalls-stream.sse (`content: ""`,
`index: 0`), the last argument fragment carrying the finish reason (protocol doc §7); a text turn
ends with an empty `content: []` event. `finish_reason` is the string "null" until then. Usage is
cumulative on every event. Events are string templates: a 20,000-event stream must stay cheap.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from itertools import islice
from typing import Any

from qwen_vl_core.testing._http import Endpoint, Response
from qwen_vl_core.testing._rules import RequestView, Violation, check_request, native_view
from qwen_vl_core.testing._script import (
    EchoAuthorization,
    EndlessLine,
    ErrorFrame,
    ErrorReply,
    HtmlPage,
    IgnoreStream,
    MalformedLine,
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

__all__ = ["NATIVE_CODES", "NATIVE_PATHS", "is_native_stream", "native_endpoint", "native_error"]

NATIVE_PATHS = (
    "/api/v1/services/aigc/multimodal-generation/generation",
    "/api/v1/services/aigc/text-generation/generation",
)

NATIVE_CODES: Mapping[str, str] = {
    "invalid_parameter_error": "InvalidParameter",
    "invalid_api_key": "InvalidApiKey",
    "limit_requests": "Throttling.RateQuota",
    "insufficient_quota": "Throttling.AllocationQuota",
    "data_inspection_failed": "DataInspectionFailed",
    "model_not_found": "ModelNotFound",
}
"""Compat error codes and their native equivalents (protocol doc §4.2); other codes pass unchanged."""

_SSE_TYPE = "text/event-stream;charset=UTF-8"
_JSON_TYPE = "application/json"
_HEAD = "event:result\n:HTTP_STATUS/200\ndata:"
_MESSAGE = '{"message":{"content":'
_PENDING = ',"role":"assistant"},"finish_reason":"null"}'
_BAD_BODY = "The request body is not valid JSON."  # [I] not captured


def is_native_stream(headers: Mapping[str, str]) -> bool:
    """SSE is on with `X-DashScope-SSE: enable` or, as the .NET SDK recordings show, `Accept: text/event-stream`."""
    sse = headers.get("x-dashscope-sse", "").lower() == "enable"
    return sse or "text/event-stream" in headers.get("accept", "").lower()


class _Usage:
    """Cumulative usage after `out` output pieces (`reasoning` of them reasoning), as JSON text.

    Automatic counts use the compat route's numbers. A scripted mapping is the final usage,
    verbatim; earlier events get its output counts scaled by the share of pieces sent so far.
    """

    __slots__ = ("_details", "_flat", "_input", "_reasoning", "_scripted", "_total")

    def __init__(self, reply: Reply, view: RequestView) -> None:
        self._reasoning, self._total = piece_counts(reply)
        self._scripted = reply.usage
        tokens = view.tokens
        self._input = tokens.total
        counts = (("image_tokens", tokens.image), ("video_tokens", tokens.video))
        media = [(key, count) for key, count in counts if count]
        # The qvq capture's layout; video_tokens beside image_tokens (the qwen-vl-max video capture has it flat).
        inner = "".join(f'"{key}":{count},' for key, count in media)
        self._details = f'"input_tokens_details":{{{inner}"text_tokens":{tokens.text}}},' if media else ""
        self._flat = "".join(f',"{key}":{count}' for key, count in media)

    def at(self, out: int, reasoning: int) -> str:
        if self._scripted is not None:
            return dumps(self._scripted if out >= self._total else self._scaled(self._scripted, out, reasoning))
        inputs = self._details
        outputs = f',"output_tokens_details":{{"reasoning_tokens":{reasoning}}}' if self._reasoning else ""
        flat = self._flat
        return (
            f'{{"total_tokens":{self._input + out},{inputs}"output_tokens":{out},'
            f'"input_tokens":{self._input}{outputs}{flat}}}'
        )

    def _scaled(self, usage: Mapping[str, Any], out: int, reasoning: int) -> dict[str, Any]:
        result = dict(usage)
        final = usage.get("output_tokens")
        if not isinstance(final, int):
            return result
        now = final * out // self._total
        result["output_tokens"] = now
        if isinstance(usage.get("total_tokens"), int):
            result["total_tokens"] = usage["total_tokens"] - final + now
        details = usage.get("output_tokens_details")
        if isinstance(details, Mapping):
            scaled = dict(details)
            if isinstance(scaled.get("reasoning_tokens"), int) and self._reasoning:
                scaled["reasoning_tokens"] = scaled["reasoning_tokens"] * reasoning // self._reasoning
            if isinstance(scaled.get("text_tokens"), int):
                scaled["text_tokens"] = scaled["text_tokens"] * out // self._total
            result["output_tokens_details"] = scaled
        return result


@dataclass(frozen=True)
class _Context:
    request_id: str
    call_ids: tuple[str, ...]
    usage: _Usage
    sep: str
    """What ends an event: a blank line, or just the line end."""
    text_endpoint: bool = False
    """The text-generation endpoint sends `content` as a string (the multimodal one as a list)."""


def _result(event: int, choice: str, usage: str, tail: str) -> bytes:
    return f'id:{event}\n{_HEAD}{{"output":{{"choices":[{choice}]}},"usage":{usage}{tail}'.encode()


def _events(reply: Reply, ctx: _Context) -> Iterator[bytes]:
    usage = ctx.usage.at
    tail = f',"request_id":{dumps(ctx.request_id)}}}{ctx.sep}'
    event = out = reasoning = 0
    for piece in reply.pieces(reply.reasoning):
        event, out, reasoning = event + 1, out + 1, reasoning + 1
        empty = '""' if ctx.text_endpoint else "[]"
        choice = f'{_MESSAGE}{empty},"reasoning_content":{dumps(piece)}{_PENDING}'
        yield _result(event, choice, usage(out, reasoning), tail)
    for piece in reply.pieces(reply.text):
        event, out = event + 1, out + 1
        content = dumps(piece) if ctx.text_endpoint else f'[{{"text":{dumps(piece)}}}]'
        choice = f"{_MESSAGE}{content}{_PENDING}"
        yield _result(event, choice, usage(out, reasoning), tail)
    finish = '"null"' if isinstance(reply.fault, NoFinish) else dumps(reply.resolved_finish_reason)
    groups = tool_groups(reply, ctx.call_ids)
    for position, group in enumerate(groups, 1):
        event, out = event + 1, out + len(group)
        calls = ",".join(fragment_json(fragment, native=True) for fragment in group)
        reason = finish if position == len(groups) else '"null"'
        choice = f'{_MESSAGE}"","tool_calls":[{calls}],"role":"assistant"}},"index":0,"finish_reason":{reason}}}'
        yield _result(event, choice, usage(out, reasoning), tail)
    if not groups and not isinstance(reply.fault, NoFinish):
        empty = '""' if ctx.text_endpoint else "[]"
        choice = f'{_MESSAGE}{empty},"role":"assistant"}},"finish_reason":{finish}}}'
        yield _result(event + 1, choice, usage(out, reasoning), tail)


def _error_event(number: int, status: int, body: bytes, sep: str) -> bytes:
    return b"id:%d\nevent:error\n:HTTP_STATUS/%d\ndata:%s%s" % (number, status, body, sep.encode())


def _stream_events(reply: Reply, ctx: _Context) -> Iterator[bytes]:
    events = _events(reply, ctx)
    fault = reply.fault
    if isinstance(fault, EndlessLine):
        sent = list(islice(events, fault.after_chunks))
        yield from sent
        head = f'id:{len(sent) + 1}\n{_HEAD}{{"output":{{"choices":[{{"message":{{"content":[{{"text":"'
        yield from endless_line(head.encode(), fault)
        return
    if isinstance(fault, ErrorFrame):
        sent = list(islice(events, fault.after_chunks))
        yield from sent
        code = NATIVE_CODES.get(fault.code, fault.code)
        body = encode({"code": code, "message": fault.message, "request_id": ctx.request_id})
        yield _error_event(len(sent) + 1, 400, body, ctx.sep)
        return
    if isinstance(fault, MalformedLine):
        yield from islice(events, fault.after_chunks)
        yield (fault.line + ctx.sep).encode()
    yield from events


def _completion_body(reply: Reply, ctx: _Context) -> bytes:
    """The non-streaming body, in the key order of cnblogs-native-qwen-max-toolcall-nonstream.json."""
    message: dict[str, Any] = {"role": "assistant"}
    if reply.tool_calls:
        message["tool_calls"] = [
            {
                "function": {"name": call.name, "arguments": "".join(reply.argument_pieces(call))},
                "index": index,
                "id": cid,
                "type": "function",
            }
            for index, (call, cid) in enumerate(zip(reply.tool_calls, ctx.call_ids, strict=True))
        ]
    text = "".join(reply.pieces(reply.text))
    if ctx.text_endpoint:
        message["content"] = text
    else:
        message["content"] = [{"text": text}] if text else ("" if reply.tool_calls else [])
    reasoning = "".join(reply.pieces(reply.reasoning))
    if reasoning:
        message["reasoning_content"] = reasoning
    reasoning_count, total = piece_counts(reply)
    usage = ctx.usage.at(total, reasoning_count)
    choice = dumps({"finish_reason": reply.resolved_finish_reason, "message": message})
    return f'{{"output":{{"choices":[{choice}]}},"usage":{usage},"request_id":{dumps(ctx.request_id)}}}'.encode()


def native_error(
    status: int,
    message: str,
    *,
    code: str = "InvalidParameter",
    request_id: str | None = None,
    as_event: bool = False,
    sep: str = "\n\n",
) -> Response:
    """`{"code", "message", "request_id"}` with `status`, or (`as_event`) as one `event:error` on HTTP 200."""
    rid = request_id or new_request_id()
    body = encode({"code": code, "message": message, "request_id": rid})
    if as_event:  # header order of cnblogs-native-error-invalidparameter-stream.response-headers.txt
        headers = [("x-request-id", rid), ("content-type", _SSE_TYPE), ("x-dashscope-call-gateway", "true")]
        return Response(200, headers, events=iter([_error_event(1, status, body, sep)]))
    headers = [("content-type", _JSON_TYPE), ("x-request-id", rid), ("x-dashscope-call-gateway", "true")]
    return Response(status, headers, body)


def native_endpoint(*, blank_lines: bool = True, text_endpoint: bool = False) -> Endpoint:
    """The native chat route; `blank_lines=False` ends events with one line break instead of two;
    `text_endpoint` renders `content` as a string, as text-generation does (cnblogs-native-qwen-max-*)."""
    sep = "\n\n" if blank_lines else "\n"

    def render(script: Script, view: RequestView) -> Response:
        if isinstance(script, HtmlPage):
            return html_response(script)
        if isinstance(script, EchoAuthorization):
            message = f"Invalid API-key provided: {view.authorization}"
            return native_error(script.status, message, code="InvalidApiKey")
        if isinstance(script, ErrorReply):
            framed = script.sse_framed
            if framed is None:
                framed = view.stream and 400 <= script.status < 500 and script.status not in (401, 429)
            code = NATIVE_CODES.get(script.code, script.code)
            response = native_error(
                script.status, script.message, code=code, request_id=script.request_id, as_event=framed, sep=sep
            )
            if script.retry_after is not None:
                response.headers.append(("retry-after", retry_after_value(script.retry_after)))
            return response
        ctx = _Context(
            request_id=script.request_id or new_request_id(),
            call_ids=tuple(call.id or call_id() for call in script.tool_calls),
            usage=_Usage(script, view),
            sep=sep,
            text_endpoint=text_endpoint,
        )
        head = [("x-request-id", ctx.request_id)]
        gateway = [("x-dashscope-call-gateway", "true")]
        if view.stream and not isinstance(script.fault, IgnoreStream):  # header order: 2026 parallel-toolcalls capture
            headers = [*head, ("content-type", _SSE_TYPE), *gateway]
            headers += [("x-dashscope-timeout", "600"), ("x-dashscope-finished", "false")]
            return Response(200, headers, events=_stream_events(script, ctx), delay=script.delay, fault=script.fault)
        headers = [("content-type", _JSON_TYPE), *head, *gateway]
        headers += [("x-dashscope-finished", "true"), ("x-dashscope-timeout", "600")]
        return Response(200, headers, _completion_body(script, ctx), delay=script.delay, fault=script.fault)

    def reject(violation: Violation, view: RequestView) -> Response:
        as_event = view.stream and violation.framed  # native messages carry no prefix
        return native_error(violation.status, violation.message, code=violation.native_code, as_event=as_event, sep=sep)

    def unauthorized() -> Response:
        return native_error(401, "Invalid API-key provided.", code="InvalidApiKey")

    return Endpoint(
        view=lambda body, headers: native_view(body, stream=is_native_stream(headers), headers=headers),
        check=check_request,
        reject=reject,
        render=render,
        unauthorized=unauthorized,
        bad_body=lambda headers: native_error(400, _BAD_BODY, as_event=is_native_stream(headers), sep=sep),
    )
