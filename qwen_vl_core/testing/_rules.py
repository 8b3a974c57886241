"""DashScope's request checks, once for both protocols, with the real error messages.

Each protocol turns its body into a `RequestView` (the compat body's top level, or the native
`input.messages` / `parameters`); one set of checks runs on the view. Messages are copied from
captures (protocol doc §2.4, §4.2); those marked [I] are inferred. The compat endpoint adds the
`<400> InternalError.Algo.InvalidParameter: ` prefix; native messages are bare. Model rules need a
catalog entry: for unknown models only the media rules apply (the real rules for them are unknown).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any

from qwen_vl_core.catalog import ModelSpec, get_spec

__all__ = [
    "COMPAT_PREFIX",
    "MAX_DATA_URI_CHARS",
    "STREAM_ONLY",
    "RequestView",
    "Violation",
    "check_request",
    "compat_view",
    "lookup_spec",
    "native_view",
]

MAX_DATA_URI_CHARS = 10_485_760
"""Longest base64 payload of one data URL the server accepts (10 MiB)."""

COMPAT_PREFIX = "<400> InternalError.Algo.InvalidParameter: "
STREAM_ONLY = "This model only support stream mode, please enable the stream parameter to access the model. "
_MISSING = "Required parameter(s) missing or invalid, please check the request parameters."  # [I] which cases
_EMPTY_MESSAGES = "Role must be user or assistant and Content length must be greater than 0"


@dataclass(frozen=True)
class Violation:
    """A broken rule. `internal` messages carry the compat prefix; the stream-only one never does."""

    message: str
    internal: bool = True


@dataclass(frozen=True)
class RequestView:
    """One chat request as the rules and the usage counts see it, whatever the protocol."""

    body: Mapping[str, Any]
    stream: bool
    native: bool
    model: str
    params: Mapping[str, Any]
    """Where the parameters live: the compat body itself, or the native `parameters` object."""
    roles: tuple[Any, ...]
    texts: tuple[str, ...]
    """String contents and text parts of every message."""
    media: tuple[str, ...]
    """Every image, video and video-frame URL."""
    images: int
    shape_error: str | None = None
    """A native body that is not `{"model", "input": {"messages"}, "parameters"}`."""


def lookup_spec(model: str) -> ModelSpec:
    """Catalog spec for `model`; the server never emits the unknown-model warning."""
    return get_spec(model, warn=False)


def _mappings(value: Any) -> list[Mapping[str, Any]]:
    return [item for item in value if isinstance(item, Mapping)] if isinstance(value, list) else []


def _urls(value: Any) -> Iterator[str]:
    if isinstance(value, Mapping):  # compat {"url": ...}
        value = value.get("url")
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):  # video frames
        yield from (frame for frame in value if isinstance(frame, str))


def _view(body: Mapping[str, Any], messages: Any, params: Any, *, stream: bool, native: bool) -> RequestView:
    texts: list[str] = []
    media: list[str] = []
    images = 0
    listed = _mappings(messages)
    for message in listed:
        content = message.get("content")
        if isinstance(content, str):
            texts.append(content)
        for part in _mappings(content):
            kind = part.get("type") if not native else next((k for k in ("text", "image", "video") if k in part), None)
            if kind == "text":
                if isinstance(part.get("text"), str):
                    texts.append(part["text"])
            elif kind in ("image", "image_url", "video", "video_url"):
                images += kind.startswith("image")
                media.extend(_urls(part.get(kind)))
    model = body.get("model")
    return RequestView(
        body=body,
        stream=stream,
        native=native,
        model=model if isinstance(model, str) else "",
        params=params if isinstance(params, Mapping) else {},
        roles=tuple(m.get("role") for m in listed),
        texts=tuple(texts),
        media=tuple(media),
        images=images,
    )


def compat_view(body: Mapping[str, Any]) -> RequestView:
    """The view of an OpenAI-compatible body; streaming is its `stream` key."""
    return _view(body, body.get("messages"), body, stream=body.get("stream") is True, native=False)


def native_view(body: Mapping[str, Any], *, stream: bool) -> RequestView:
    """The view of a native body; streaming comes from the headers, never from the body."""
    inputs = body.get("input")
    messages = inputs.get("messages") if isinstance(inputs, Mapping) else None
    params = body.get("parameters", {})
    view = _view(body, messages, params, stream=stream, native=True)
    shape_error = None
    if not isinstance(body.get("model"), str) or not isinstance(messages, list) or not isinstance(params, Mapping):
        shape_error = _MISSING
    elif not messages:
        shape_error = _EMPTY_MESSAGES  # the parameter-error capture: an empty messages list
    if shape_error is None:
        return view
    return replace(view, shape_error=shape_error)


def _media_rules(view: RequestView) -> Violation | None:
    for url in view.media:
        head = url[:8].lower()
        if head.startswith("data:"):
            # Slicing a 10 MB string would copy it; measure from the comma instead.
            if len(url) - url.find(",") - 1 > MAX_DATA_URI_CHARS:
                return Violation(f"Exceeded limit on max bytes per data-uri item : {MAX_DATA_URI_CHARS}")
        elif not head.startswith(("http://", "https://")):
            # file:// and bare paths make the server try (and fail) to fetch them (§2.1).
            return Violation("Failed to download multimodal content")
    return None


def _budget_ok(budget: Any, limit: int | None) -> bool:
    if isinstance(budget, bool) or not isinstance(budget, int) or budget <= 0:
        return False
    return limit is None or budget <= limit


def _response_format_type(params: Mapping[str, Any]) -> Any:
    fmt = params.get("response_format")
    return fmt.get("type") if isinstance(fmt, Mapping) else None


def _thinking_rules(view: RequestView, spec: ModelSpec) -> Violation | None:
    params = view.params
    enable = params.get("enable_thinking")
    if enable is False and spec.thinking_only:
        return Violation("The value of the enable_thinking parameter is restricted to True.")
    if "thinking_budget" in params and not _budget_ok(params["thinking_budget"], spec.max_reasoning_tokens):
        limit = spec.max_reasoning_tokens
        return Violation(f"The thinking_budget parameter must be a positive integer and not greater than {limit}")
    if not spec.thinking_enabled(enable if isinstance(enable, bool) else None):
        return None
    if view.native and view.stream and not spec.stream_only and params.get("incremental_output") is not True:
        # Stream-only models default incremental_output to true; the others default to false.
        return Violation('The incremental_output parameter must be "true" when enable_thinking is true')
    tool_choice = params.get("tool_choice")
    if tool_choice == "required" or isinstance(tool_choice, Mapping):
        return Violation("The tool_choice parameter does not support being set to required or object in thinking mode")
    if _response_format_type(params) in ("json_object", "json_schema"):
        return Violation("Json mode response is not supported when enable_thinking is true")
    return None


def _model_rules(view: RequestView, spec: ModelSpec) -> Violation | None:
    params = view.params
    if spec.stream_only and not view.stream:
        return Violation(STREAM_ONLY, internal=False)
    if view.native and spec.stream_only and params.get("incremental_output") is False:
        return Violation("The incremental_output parameter of this model cannot be set to False.")
    violation = _thinking_rules(view, spec)
    if violation is not None:
        return violation
    if params.get("tools") and not spec.supports_tools:
        return Violation("The model does not support tools.")  # [I] inferred, not captured
    if _response_format_type(params) == "json_object" and not any("json" in text.lower() for text in view.texts):
        return Violation(
            "'messages' must contain the word 'json' in some form, to use 'response_format' of type 'json_object'."
        )
    if "user" not in view.roles:
        return Violation("The input messages do not contain elements with the role of user")
    first_other = next((i for i, role in enumerate(view.roles) if role != "system"), len(view.roles))
    if "system" in view.roles[first_other:]:
        return Violation("System message must be at the beginning.")  # [I] inferred, not captured
    return None


def check_request(view: RequestView) -> Violation | None:
    """The first rule the request breaks (all are HTTP 400), or None."""
    if view.shape_error is not None:
        return Violation(view.shape_error)
    spec = lookup_spec(view.model)
    if spec.known:
        violation = _model_rules(view, spec)
        if violation is not None:
            return violation
    return _media_rules(view)
