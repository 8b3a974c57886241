"""Request checks of the compat endpoint, with DashScope's real error messages.

Messages are copied from captures (protocol doc §2.4, §4.2); the two marked [I] are inferred.
Model rules need a catalog entry: for unknown models only the media rules apply, as the real
server's rules for them are unknown to us.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from qwen_vl_core.catalog import ModelSpec, get_spec

__all__ = ["MAX_DATA_URI_CHARS", "check_compat_request", "count_images", "lookup_spec", "message_texts"]

MAX_DATA_URI_CHARS = 10_485_760
"""Longest base64 payload of one data URL the server accepts (10 MiB)."""

_PREFIX = "<400> InternalError.Algo.InvalidParameter: "
_STREAM_ONLY = "This model only support stream mode, please enable the stream parameter to access the model. "


def lookup_spec(model: str) -> ModelSpec:
    """Catalog spec for `model`; the server never emits the unknown-model warning."""
    return get_spec(model, warn=False)


def _messages(body: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    messages = body.get("messages")
    if not isinstance(messages, list):
        return []
    return [m for m in messages if isinstance(m, Mapping)]


def _parts(messages: Sequence[Mapping[str, Any]]) -> Iterator[Mapping[str, Any]]:
    for message in messages:
        content = message.get("content")
        if isinstance(content, list):
            yield from (part for part in content if isinstance(part, Mapping))


def message_texts(body: Mapping[str, Any]) -> Iterator[str]:
    """Every text of every message: string contents and `text` parts."""
    for message in _messages(body):
        content = message.get("content")
        if isinstance(content, str):
            yield content
    for part in _parts(_messages(body)):
        text = part.get("text")
        if part.get("type") == "text" and isinstance(text, str):
            yield text


def count_images(body: Mapping[str, Any]) -> int:
    """Number of `image_url` parts in the request."""
    return sum(1 for part in _parts(_messages(body)) if part.get("type") == "image_url")


def _media_urls(messages: Sequence[Mapping[str, Any]]) -> Iterator[str]:
    for part in _parts(messages):
        kind = part.get("type")
        if kind in ("image_url", "video_url"):
            ref = part.get(kind)
            url = ref.get("url") if isinstance(ref, Mapping) else ref
            if isinstance(url, str):
                yield url
        elif kind == "video":
            frames = part.get("video")
            if isinstance(frames, str):
                yield frames
            elif isinstance(frames, list):
                yield from (frame for frame in frames if isinstance(frame, str))


def _media_rules(messages: Sequence[Mapping[str, Any]]) -> str | None:
    for url in _media_urls(messages):
        head = url[:8].lower()
        if head.startswith("data:"):
            # Slicing a 10 MB string would copy it; measure from the comma instead.
            if len(url) - url.find(",") - 1 > MAX_DATA_URI_CHARS:
                return f"{_PREFIX}Exceeded limit on max bytes per data-uri item : {MAX_DATA_URI_CHARS}"
        elif not head.startswith(("http://", "https://")):
            # file:// and bare paths make the server try (and fail) to fetch them (§2.1).
            return f"{_PREFIX}Failed to download multimodal content"
    return None


def _budget_ok(budget: Any, limit: int | None) -> bool:
    if isinstance(budget, bool) or not isinstance(budget, int) or budget <= 0:
        return False
    return limit is None or budget <= limit


def _response_format_type(body: Mapping[str, Any]) -> Any:
    fmt = body.get("response_format")
    return fmt.get("type") if isinstance(fmt, Mapping) else None


def _thinking_rules(body: Mapping[str, Any], spec: ModelSpec) -> str | None:
    enable = body.get("enable_thinking")
    if enable is False and spec.thinking_only:
        return f"{_PREFIX}The value of the enable_thinking parameter is restricted to True."
    if "thinking_budget" in body and not _budget_ok(body["thinking_budget"], spec.max_reasoning_tokens):
        limit = spec.max_reasoning_tokens
        return f"{_PREFIX}The thinking_budget parameter must be a positive integer and not greater than {limit}"
    if not spec.thinking_enabled(enable if isinstance(enable, bool) else None):
        return None
    tool_choice = body.get("tool_choice")
    if tool_choice == "required" or isinstance(tool_choice, Mapping):
        return f"{_PREFIX}The tool_choice parameter does not support being set to required or object in thinking mode"
    if _response_format_type(body) in ("json_object", "json_schema"):
        return f"{_PREFIX}Json mode response is not supported when enable_thinking is true"
    return None


def _model_rules(body: Mapping[str, Any], spec: ModelSpec) -> str | None:
    if spec.stream_only and body.get("stream") is not True:
        return _STREAM_ONLY
    message = _thinking_rules(body, spec)
    if message is not None:
        return message
    if body.get("tools") and not spec.supports_tools:
        return f"{_PREFIX}The model does not support tools."  # [I] inferred, not captured
    if _response_format_type(body) == "json_object" and not any("json" in text.lower() for text in message_texts(body)):
        return (
            f"{_PREFIX}'messages' must contain the word 'json' in some form, to use 'response_format' "
            "of type 'json_object'."
        )
    messages = _messages(body)
    if not any(m.get("role") == "user" for m in messages):
        return f"{_PREFIX}The input messages do not contain elements with the role of user"
    roles = [m.get("role") for m in messages]
    first_other = next((i for i, role in enumerate(roles) if role != "system"), len(roles))
    if "system" in roles[first_other:]:
        return f"{_PREFIX}System message must be at the beginning."  # [I] inferred, not captured
    return None


def check_compat_request(body: Mapping[str, Any]) -> str | None:
    """The error message of the first rule `body` breaks (all are HTTP 400), or None."""
    model = body.get("model")
    if isinstance(model, str):
        spec = lookup_spec(model)
        if spec.known:
            message = _model_rules(body, spec)
            if message is not None:
                return message
    return _media_rules(_messages(body))
