"""DashScope's request checks, once for both protocols, with the real error messages.

Each protocol turns its body into a `RequestView` (the compat body's top level, or the native
`input.messages` / `parameters`); one set of checks runs on the view. Messages are copied from
captures and the error-code page (https://www.alibabacloud.com/help/en/model-studio/error-code,
protocol doc sections 2.4 and 4.2); those marked [I] are inferred. The compat endpoint adds the
`<400> InternalError.Algo.InvalidParameter: ` prefix to `internal` messages; native messages are
bare. A name missing from the emulator's fact table (`_facts`) is refused as model-not-found;
model rules apply only where the table has the fact they need.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from qwen_vl_core.testing._facts import ModelFacts, lookup
from qwen_vl_core.testing._usage import PromptTokens, Visual, count_prompt

__all__ = [
    "COMPAT_PREFIX",
    "MAX_DATA_URI_CHARS",
    "MODEL_NOT_FOUND",
    "STREAM_ONLY",
    "RequestView",
    "Violation",
    "check_request",
    "compat_view",
    "native_view",
]

MAX_DATA_URI_CHARS = 10_485_760
"""Longest base64 payload of one data URL the server accepts (10 MiB)."""

COMPAT_PREFIX = "<400> InternalError.Algo.InvalidParameter: "
STREAM_ONLY = "This model only support stream mode, please enable the stream parameter to access the model. "
MODEL_NOT_FOUND = "The model does not exist or you do not have access to it."  # protocol doc section 4.2 [C2]
_NO_MODEL = "you must provide a model parameter."  # error-code page, 400 invalid_request_error
_MISSING = "Required parameter(s) missing or invalid, please check the request parameters."  # [I] which cases
_EMPTY_MESSAGES = "Role must be user or assistant and Content length must be greater than 0"
_NON_STREAM_THINKING = "parameter.enable_thinking must be set to false for non-streaming calls"  # error-code page


@dataclass(frozen=True)
class Violation:
    """A broken rule and how it is reported."""

    message: str
    internal: bool = True
    """The compat message carries `COMPAT_PREFIX`."""
    status: int = 400
    code: str = "invalid_parameter_error"
    """The compat `error.code` (and `type` stays `invalid_request_error`)."""
    native_code: str = "InvalidParameter"
    framed: bool = True
    """A streaming request gets it SSE-framed (compat) / as an HTTP-200 `event:error` (native); False: plain HTTP."""


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
    visuals: tuple[Visual, ...] = ()
    facts: ModelFacts | None = None
    """The model's facts from the active table; None for a name the server does not know."""
    authorization: str = field(default="", repr=False)
    """The request's `Authorization` header, for scripts that echo it."""
    shape_error: str | None = None
    """A native body that is not `{"model", "input": {"messages"}, "parameters"}`."""

    @functools.cached_property
    def tokens(self) -> PromptTokens:
        """Prompt token counts (computed once per request)."""
        return count_prompt(self.texts, self.visuals, self.facts, self.params)

    @property
    def thinking(self) -> bool | None:
        """Thinking mode from the facts and `enable_thinking`; None when the facts do not say."""
        return None if self.facts is None else self.facts.thinking_mode(self.params.get("enable_thinking"))


def _mappings(value: Any) -> list[Mapping[str, Any]]:
    return [item for item in value if isinstance(item, Mapping)] if isinstance(value, list) else []


def _urls(value: Any) -> tuple[str, ...]:
    if isinstance(value, Mapping):  # compat {"url": ...}
        value = value.get("url")
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list):  # video frames
        return tuple(frame for frame in value if isinstance(frame, str))
    return ()


def _view(
    body: Mapping[str, Any],
    messages: Any,
    params: Any,
    headers: Mapping[str, str] | None,
    *,
    stream: bool,
    native: bool,
) -> RequestView:
    texts: list[str] = []
    visuals: list[Visual] = []
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
                value = part.get(kind)
                frames = isinstance(value, list)
                visual_kind: Literal["image", "video"] = "image" if kind.startswith("image") else "video"
                visuals.append(Visual(visual_kind, _urls(value), frames, part.get("max_pixels"), part.get("fps")))
    model = body.get("model")
    name = model if isinstance(model, str) else ""
    return RequestView(
        body=body,
        stream=stream,
        native=native,
        model=name,
        params=params if isinstance(params, Mapping) else {},
        roles=tuple(m.get("role") for m in listed),
        texts=tuple(texts),
        media=tuple(url for visual in visuals for url in visual.urls),
        visuals=tuple(visuals),
        facts=lookup(name),
        authorization=(headers or {}).get("authorization", ""),
    )


def compat_view(body: Mapping[str, Any], headers: Mapping[str, str] | None = None) -> RequestView:
    """The view of an OpenAI-compatible body; streaming is its `stream` key."""
    return _view(body, body.get("messages"), body, headers, stream=body.get("stream") is True, native=False)


def native_view(body: Mapping[str, Any], *, stream: bool, headers: Mapping[str, str] | None = None) -> RequestView:
    """The view of a native body; streaming comes from the headers, never from the body."""
    inputs = body.get("input")
    messages = inputs.get("messages") if isinstance(inputs, Mapping) else None
    params = body.get("parameters", {})
    view = _view(body, messages, params, headers, stream=stream, native=True)
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
            # file:// and bare paths make the server try (and fail) to fetch them (section 2.1).
            return Violation("Failed to download multimodal content")
    return None


def _budget_ok(budget: Any, limit: int) -> bool:
    return not isinstance(budget, bool) and isinstance(budget, int) and 0 < budget <= limit


def _response_format_type(params: Mapping[str, Any]) -> Any:
    fmt = params.get("response_format")
    return fmt.get("type") if isinstance(fmt, Mapping) else None


def _thinking_rules(view: RequestView, facts: ModelFacts) -> Violation | None:
    params = view.params
    enable = params.get("enable_thinking")
    if enable is False and facts.thinking == "only":
        return Violation("The value of the enable_thinking parameter is restricted to True.")
    if enable is True and facts.thinking == "none":
        # Error-code page, 400 InvalidParameter.NotSupportEnableThinking ("The model xxx does not ..."); [I] prefix.
        message = f"The model {view.model} does not support enable_thinking."
        return Violation(message, native_code="InvalidParameter.NotSupportEnableThinking")
    limit = facts.max_thinking_budget
    if "thinking_budget" in params and limit is not None and not _budget_ok(params["thinking_budget"], limit):
        return Violation(f"The thinking_budget parameter must be a positive integer and not greater than {limit}")
    if not view.thinking:  # off, or unknown: no thinking-mode rule
        return None
    if not view.stream and facts.non_stream_thinking_refused:
        return Violation(_NON_STREAM_THINKING, internal=False)  # bare in compat too (tencentmusic/supersonic#2355)
    if view.native and view.stream and not facts.stream_only and params.get("incremental_output") is not True:
        # Stream-only models default incremental_output to true; the others default to false.
        return Violation('The incremental_output parameter must be "true" when enable_thinking is true')
    tool_choice = params.get("tool_choice")
    if tool_choice == "required" or isinstance(tool_choice, Mapping):
        return Violation("The tool_choice parameter does not support being set to required or object in thinking mode")
    if _response_format_type(params) in ("json_object", "json_schema"):
        return Violation("Json mode response is not supported when enable_thinking is true")
    return None


def _model_rules(view: RequestView, facts: ModelFacts) -> Violation | None:
    params = view.params
    if facts.stream_only and not view.stream:
        return Violation(STREAM_ONLY, internal=False)
    if view.native and facts.stream_only and params.get("incremental_output") is False:
        return Violation("The incremental_output parameter of this model cannot be set to False.")
    violation = _thinking_rules(view, facts)
    if violation is not None:
        return violation
    if params.get("tools") and facts.tools is False:
        return Violation("The tool call is not supported.")  # error-code page; [I] the compat prefix
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


def _model_known(view: RequestView) -> Violation | None:
    if not view.native and not isinstance(view.body.get("model"), str):
        return Violation(_NO_MODEL, internal=False, code="invalid_request_error")
    if view.facts is None:
        # 404 ModelNotFound / model_not_found (protocol doc 4.2); [I] plain HTTP even for a stream.
        return Violation(
            MODEL_NOT_FOUND,
            internal=False,
            status=404,
            code="model_not_found",
            native_code="ModelNotFound",
            framed=False,
        )
    return None


def _input_length(view: RequestView, facts: ModelFacts) -> Violation | None:
    limit = facts.input_limit(view.thinking)
    if limit is None or view.tokens.total <= limit:
        return None
    return Violation(f"Range of input length should be [1, {limit}]")  # errors-compat-captured-in-logs.jsonl


def check_request(view: RequestView) -> Violation | None:
    """The first rule the request breaks, or None."""
    if view.shape_error is not None:
        return Violation(view.shape_error)
    violation = _model_known(view)
    if violation is not None:
        return violation
    assert view.facts is not None
    return _model_rules(view, view.facts) or _media_rules(view) or _input_length(view, view.facts)
