"""One error tree for every failure, whatever the protocol or where in the stream it happened.

    QwenVLError
    ├── APIStatusError                 the API answered with an error (HTTP status or error frame)
    │   ├── AuthenticationError        401 (also: no API key configured, `MissingAPIKeyError`)
    │   ├── PermissionDeniedError      403, billing / arrears
    │   ├── InvalidRequestError        400 and other 4xx
    │   │   └── ContextOverflowError   "Range of input length ..."
    │   ├── NotFoundError              404, unknown model
    │   ├── RateLimitError             429
    │   ├── ServerError                5xx
    │   └── StreamError                an error frame in the middle of a stream
    ├── APIConnectionError             no HTTP answer (refused, reset, DNS)
    │   └── APITimeoutError
    └── IncompleteStreamError          the stream ended without a finish reason

    InvalidMediaError(ValueError)      an image or video input refused before sending (unreadable,
                                       unsupported, too large, cut short, or a local file not allowed)

Every error carries `status`, `code`, `message`, `request_id`, `retryable`, and `partial`: what
was received before the failure (a `ChatResult`-like object or None), so nothing already delivered
is lost.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping
from typing import Any

__all__ = [
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "ContextOverflowError",
    "IncompleteStreamError",
    "InvalidMediaError",
    "InvalidRequestError",
    "MissingAPIKeyError",
    "NotFoundError",
    "PermissionDeniedError",
    "QwenVLError",
    "RateLimitError",
    "ServerError",
    "StreamError",
    "add_hint",
    "error_from_body",
    "error_from_payload",
    "parse_error_body",
    "redact_error",
    "redact_text",
]


class QwenVLError(Exception):
    """Base of every error this library raises for a failed call."""

    retryable: bool = False

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        request_id: str | None = None,
        partial: Any = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.request_id = request_id
        self.partial = partial
        self.retry_after: float | None = None
        """Seconds the server asked to wait (`Retry-After`), when it said."""

    def __str__(self) -> str:
        bits = [f"HTTP {self.status}" if self.status else None, self.code]
        head = " ".join(b for b in bits if b)
        tail = f" (request id {self.request_id})" if self.request_id else ""
        return f"{head}: {self.message}{tail}" if head else f"{self.message}{tail}"


class APIStatusError(QwenVLError):
    """The API answered with an error."""


class AuthenticationError(APIStatusError):
    pass


class MissingAPIKeyError(AuthenticationError):
    """No key was configured; raised at the first request, never at construction."""


class PermissionDeniedError(APIStatusError):
    pass


class InvalidRequestError(APIStatusError):
    pass


class ContextOverflowError(InvalidRequestError):
    pass


class NotFoundError(APIStatusError):
    pass


class RateLimitError(APIStatusError):
    retryable = True


class ServerError(APIStatusError):
    retryable = True


class StreamError(APIStatusError):
    """An error frame arrived after the stream had started."""


class APIConnectionError(QwenVLError):
    retryable = True


class APITimeoutError(APIConnectionError):
    pass


class IncompleteStreamError(QwenVLError):
    """The stream stopped before the model finished; `partial` holds what arrived."""

    retryable = True


class InvalidMediaError(ValueError):
    """An image or video input cannot be sent; raised before any request, naming the input and the fix.

    A `ValueError` like the other input errors (so `except ValueError` keeps working), not a
    `QwenVLError`: nothing was sent, so there is no status, request id or partial result. The
    message never quotes the input's content.
    """


_CODE_CLASSES: dict[str, type[APIStatusError]] = {
    "invalid_api_key": AuthenticationError,
    "InvalidApiKey": AuthenticationError,
    "limit_requests": RateLimitError,
    "Throttling": RateLimitError,
    "Throttling.RateQuota": RateLimitError,
    "Throttling.BurstRate": RateLimitError,
    "Arrearage": PermissionDeniedError,
    "AccessDenied": PermissionDeniedError,
    "Model.AccessDenied": PermissionDeniedError,
    "model_not_found": NotFoundError,
    "ModelNotFound": NotFoundError,
    "model_not_supported": NotFoundError,
}

_HINTS = {
    AuthenticationError: "Check DASHSCOPE_API_KEY; keys are region-specific (a Beijing key fails in "
    "Singapore or Virginia), so the region or base URL must match the key.",
    PermissionDeniedError: "The account cannot use this model: check billing and model access in Model Studio.",
    NotFoundError: "The model name is wrong or not offered in this region; `qwen-vl models` lists the names.",
    RateLimitError: "Slow down or raise the quota; the call can be retried after a pause.",
    ContextOverflowError: "The prompt (text plus image and video tokens) is larger than the model's "
    "maximum input; send fewer or smaller images.",
}


_NOT_RETRYABLE_CODES = frozenset(
    {
        "Throttling.AllocationQuota",
        "insufficient_quota",
        "PrepaidBillOverdue",
        "PostpaidBillOverdue",
        "CommodityNotPurchased",
        "AllocationQuota.FreeTierOnly",
    }
)
_INSPECTION = (
    "Model Studio's content inspection refused the input or output; rephrase or change the image "
    "(the same request gets the same answer)."
)
_QUOTA = "The quota is used up; raise it in the Model Studio console (retrying will not help)."
_BILLING = (
    "The account has an overdue bill or has not bought this model; settle it in the Alibaba Cloud "
    "billing console (retrying will not help)."
)
_DOWNLOAD = (
    "The server could not fetch an image or video URL (private, expired, or not reachable from Alibaba "
    "Cloud): use a public or signed URL, or set inline_remote_images=True to download images here and "
    "send them inline."
)
_THINKING_CONFLICT = (
    "This model was thinking: call it with enable_thinking=False (the library does so by itself for the "
    "models it knows; describe this one with qwen_vl_core.register_model(...) or model_spec=)."
)
_NON_STREAM_THINKING = (
    "Thinking calls must stream: use stream() (invoke()/chat() stream by themselves for the models "
    "this library knows), or set enable_thinking=False."
)
_MESSAGE_HINTS = (
    ("Failed to download multimodal content", _DOWNLOAD),
    ("in thinking mode", _THINKING_CONFLICT),
    ("not supported when enable_thinking is true", _THINKING_CONFLICT),
    ("must be set to false for non-streaming calls", _NON_STREAM_THINKING),
    ("only support stream call", _NON_STREAM_THINKING),
)
"""Hints for what users of the Qwen3.5+ models hit most (messages from the error-code page,
help.aliyun.com/zh/model-studio/error-code, and the issue trackers in docs/models.md)."""

_CODE_HINTS = {
    "data_inspection_failed": _INSPECTION,
    "DataInspectionFailed": _INSPECTION,
    "Throttling.AllocationQuota": _QUOTA,
    "insufficient_quota": _QUOTA,
    "PrepaidBillOverdue": _BILLING,
    "PostpaidBillOverdue": _BILLING,
    "CommodityNotPurchased": _BILLING,
}


def _class_for(status: int | None, code: str | None, message: str) -> type[APIStatusError]:
    if "Range of input length" in message:
        return ContextOverflowError
    if code and code in _CODE_CLASSES:
        return _CODE_CLASSES[code]
    if code and code.startswith(("Throttling", "limit_")):
        return RateLimitError
    if status is None:
        return InvalidRequestError if code else ServerError
    if status == 401:
        return AuthenticationError
    if status == 403:
        return PermissionDeniedError
    if status == 404:
        return NotFoundError
    if status == 429:
        return RateLimitError
    if status >= 500:
        return ServerError
    return InvalidRequestError


def error_from_payload(
    payload: Mapping[str, Any],
    *,
    status: int | None = None,
    request_id: str | None = None,
    mid_stream: bool = False,
    partial: Any = None,
) -> APIStatusError:
    """Build an error from a compat `{"error": {...}}` or native `{"code", "message"}` payload."""
    inner = payload.get("error")
    body: Mapping[str, Any] = inner if isinstance(inner, Mapping) else payload
    if isinstance(inner, str) and inner:  # vLLM: {"error": "Unauthorized"}
        body = {"message": inner}
    message = str(body.get("message") or "The API returned an error without a message.")
    raw_code = body.get("code") or body.get("type")
    code = str(raw_code) if raw_code not in (None, "") else None  # vLLM sends the HTTP status as an int
    rid = payload.get("request_id") or request_id
    if rid is None:
        response_id = payload.get("id")
        if isinstance(response_id, str) and response_id.startswith("chatcmpl-"):
            rid = response_id.removeprefix("chatcmpl-")
    param = body.get("param")
    if isinstance(param, str) and param and param not in message:  # name the bad parameter
        message = f"{message} (parameter `{param}`)"
    cls: type[APIStatusError] = StreamError if mid_stream else _class_for(status, code, message)
    hint = (
        (_CODE_HINTS.get(code) if code else None)
        or next((h for needle, h in _MESSAGE_HINTS if needle in message), None)
        or _HINTS.get(cls)
    )
    if hint and hint not in message:
        stop = "" if message.rstrip().endswith((".", "!", "?", ")", "。", "！", "？")) else "."
        message = f"{message}{stop} {hint}"
    error = cls(message, status=status, code=code, request_id=rid, partial=partial)
    if code in _NOT_RETRYABLE_CODES:
        error.retryable = False
    return error


def parse_error_body(text: str) -> Mapping[str, Any] | None:
    """Parse an error body, including one framed as SSE (`data: {...}`), which the openai SDK cannot."""
    for candidate in (text, *(line[5:] for line in text.splitlines() if line.startswith("data:"))):
        try:
            value = json.loads(candidate)
        except (ValueError, RecursionError):
            continue
        if isinstance(value, Mapping):
            return value
    return None


def error_from_body(status: int, text: str, *, request_id: str | None = None) -> APIStatusError:
    """Build an error from an HTTP error response body (JSON, SSE-framed JSON or plain text)."""
    payload = parse_error_body(text)
    if payload is None:
        snippet = text.strip()[:300] or "(empty body)"
        payload = {"message": f"HTTP {status} with a body that is not a DashScope error: {snippet}"}
    return error_from_payload(payload, status=status, request_id=request_id)


# -- redaction: a key a server echoed back never leaves in an error ----------------------------------


def _masked(secret: str) -> str:
    return f"{secret[:3]}…{secret[-4:]}" if len(secret) >= 16 else "…"


def redact_text(text: str, secrets: tuple[str, ...]) -> str:
    """`text` with every occurrence of each secret (so also its `Bearer` form) shortened to `sk-…1234`."""
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, _masked(secret))
    return text


def _redacted(value: Any, secrets: tuple[str, ...], depth: int = 0) -> Any:
    if isinstance(value, str):
        return redact_text(value, secrets)
    if depth > 20:
        return value
    if isinstance(value, Mapping):
        return {k: _redacted(v, secrets, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_redacted(v, secrets, depth + 1) for v in value)
    return value


def add_hint(error: QwenVLError, hint: str) -> None:
    """Append a sentence to an error's message (once; nothing for an empty hint)."""
    if not hint or hint in error.message:
        return
    stop = "" if error.message.rstrip().endswith((".", "!", "?", ")", "。", "！", "？")) else "."
    error.message = f"{error.message}{stop} {hint}"
    error.args = (error.message,)


def redact_error(error: BaseException, secrets: tuple[str, ...]) -> None:
    """Remove the secrets from an error in place: its message, arguments, `partial` (the text a server
    echoed back), and the same down its cause chain (the openai SDK's errors keep the body)."""
    if not secrets:
        return
    current: BaseException | None = error
    for _ in range(8):
        if current is None:
            break
        current.args = _redacted(current.args, secrets)
        for name in ("message", "body"):
            value = getattr(current, name, None)
            if value is not None:
                with contextlib.suppress(AttributeError):  # a read-only attribute of a foreign error
                    setattr(current, name, _redacted(value, secrets))
        if isinstance(current, QwenVLError) and current.partial is not None:
            current.partial = _redacted_partial(current.partial, secrets)
        current = current.__cause__ or current.__context__


def _redacted_partial(partial: Any, secrets: tuple[str, ...]) -> Any:
    from dataclasses import is_dataclass, replace

    if not is_dataclass(partial) or isinstance(partial, type):
        return partial
    changes: dict[str, Any] = {}
    for name in ("reasoning", "text"):
        value = getattr(partial, name, None)
        if isinstance(value, str) and any(secret in value for secret in secrets):
            changes[name] = redact_text(value, secrets)
    calls = getattr(partial, "tool_calls", None)
    if calls and any(secret in call.arguments for call in calls for secret in secrets):
        changes["tool_calls"] = tuple(
            replace(call, arguments=redact_text(call.arguments, secrets), args=_redacted(call.args, secrets))
            for call in calls
        )
    return replace(partial, **changes) if changes else partial
