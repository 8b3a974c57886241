"""Output records: one JSON-serializable dict per item, the same for both paths.

A real-time `ChatResult` and a Batch API result line go through one mapping: the line's
`chat.completion` body becomes events with the core's `events_from_compat_response`, then a
`ChatResult` with the `StreamAccumulator`, then `record_from_result`. Errors map through the core's
`error_from_payload` in both paths too, so the same scripted reply gives the same record.

    {"id", "answer", "reasoning", "tool_calls", "finish_reason", "model", "usage", "request_id", "error"}

`reasoning` is left out with `include_reasoning=False`; `error` is None or
`{"type", "message", "code", "status", "request_id"}` (then `answer` etc. are None).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..accumulator import ChatResult, StreamAccumulator
from ..errors import QwenVLError, error_from_payload
from ..events import Usage
from ..parse_compat import events_from_compat_response

__all__ = [
    "BatchItemError",
    "error_info",
    "record_from_batch_line",
    "record_from_error",
    "record_from_result",
    "usage_record",
]


class BatchItemError(QwenVLError):
    """A Batch API line that failed without an HTTP answer (for example `batch_expired`)."""

    retryable = True


def usage_record(usage: Usage | None) -> dict[str, int | None] | None:
    if usage is None:
        return None
    return {
        "input_tokens": usage.input_tokens,
        "output_tokens": usage.output_tokens,
        "total_tokens": usage.total_tokens,
        "reasoning_tokens": usage.reasoning_tokens,
        "image_tokens": usage.image_tokens,
        "video_tokens": usage.video_tokens,
        "cached_tokens": usage.cached_tokens,
    }


def record_from_result(item_id: str, result: ChatResult, *, include_reasoning: bool = True) -> dict[str, Any]:
    record: dict[str, Any] = {"id": item_id, "answer": result.text}
    if include_reasoning:
        record["reasoning"] = result.reasoning
    record["tool_calls"] = [
        {"id": call.id, "name": call.name, "arguments": call.arguments, "args": call.args} for call in result.tool_calls
    ]
    record["finish_reason"] = result.finish_reason
    record["model"] = result.model
    record["usage"] = usage_record(result.usage)
    record["request_id"] = result.request_id
    record["error"] = None
    return record


def error_info(exc: BaseException) -> dict[str, Any]:
    """What a record keeps of a failure: the class name, the message and, for API errors, code/status/id."""
    if isinstance(exc, QwenVLError):
        return {
            "type": type(exc).__name__,
            "message": exc.message,
            "code": exc.code,
            "status": exc.status,
            "request_id": exc.request_id,
        }
    return {"type": type(exc).__name__, "message": str(exc), "code": None, "status": None, "request_id": None}


def record_from_error(item_id: str, exc: BaseException, *, include_reasoning: bool = True) -> dict[str, Any]:
    info = error_info(exc)
    record: dict[str, Any] = {"id": item_id, "answer": None}
    if include_reasoning:
        record["reasoning"] = None
    record.update(tool_calls=[], finish_reason=None, model=None, usage=None, request_id=info["request_id"], error=info)
    return record


def _line_error(line: Mapping[str, Any], status: Any, body: Any, request_id: str | None) -> QwenVLError:
    code = status if isinstance(status, int) else None
    if isinstance(body, Mapping) and "error" in body:
        return error_from_payload(body, status=code, request_id=request_id)
    error = line.get("error")
    error = error if isinstance(error, Mapping) else {}
    message = str(error.get("message") or "The Batch API reported a failure without a message.")
    if code is not None:
        return error_from_payload({"error": {**error, "message": message}}, status=code, request_id=request_id)
    raw_code = error.get("code")
    return BatchItemError(message, code=str(raw_code) if raw_code else None, request_id=request_id)


def record_from_batch_line(line: Mapping[str, Any], *, include_reasoning: bool = True) -> dict[str, Any]:
    """A Batch API result-file or error-file line → the record the real-time path would have written."""
    item_id = str(line.get("custom_id"))
    response = line.get("response")
    response = response if isinstance(response, Mapping) else {}
    status, body = response.get("status_code"), response.get("body")
    request_id = response.get("request_id")
    request_id = request_id if isinstance(request_id, str) else None
    if isinstance(status, int) and status < 400 and isinstance(body, Mapping) and "error" not in body:
        accumulator = StreamAccumulator()
        try:
            for event in events_from_compat_response(body, request_id):
                accumulator.add(event)
        except QwenVLError as exc:
            return record_from_error(item_id, exc, include_reasoning=include_reasoning)
        return record_from_result(item_id, accumulator.result(), include_reasoning=include_reasoning)
    error = _line_error(line, status, body, request_id)
    return record_from_error(item_id, error, include_reasoning=include_reasoning)
