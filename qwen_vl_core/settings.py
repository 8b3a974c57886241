"""The settings both adapters expose, defined once: `ClientOptions` and `RequestSettings`.

`ClientOptions` configures a `QwenVLClient` (where to connect, timeouts, retries, what the media
stage may do); it is also the key under which an adapter caches its client. `RequestSettings`
holds the per-request defaults (model, thinking, sampling, ...); a call's keyword arguments
override them field by field (`with_call_options`) and the result becomes a `ChatRequest`.

Both adapters declare one field per name in `ClientOptions.FIELDS` and `RequestSettings.FIELDS`
and build these objects with `from_fields(adapter)`, which reads every name from the adapter: a
setting missing from one adapter fails there (and in the parity test), it cannot drift silently.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any, ClassVar, get_args

from pydantic import SecretStr

from .catalog import ModelSpec, get_spec
from .reading import check_local_files
from .regions import Protocol, resolve_endpoint
from .tools import parse_tool_choice, tool_specs
from .types import (
    ChatRequest,
    Message,
    SamplingOptions,
    SystemMessageMode,
    ThinkingOptions,
    ToolChoice,
    ToolSpec,
)

__all__ = [
    "DEFAULT_CONNECT_TIMEOUT",
    "DEFAULT_HEADER_TIMEOUT",
    "DEFAULT_MAX_SSE_LINE",
    "DEFAULT_TIMEOUT",
    "ClientOptions",
    "RequestSettings",
]

DEFAULT_TIMEOUT = 600.0
"""Seconds allowed between two reads of a response (not for the whole stream)."""
DEFAULT_CONNECT_TIMEOUT = 10.0
"""Seconds allowed to open a connection."""
DEFAULT_HEADER_TIMEOUT = 60.0
"""Seconds a streamed call waits for the response headers. DashScope sends them at once for a stream
(the time to the first token is spent after them), so a server silent for this long is not answering."""
DEFAULT_MAX_SSE_LINE = 8 * 1024 * 1024
"""The longest line (characters) a stream may send: a native event repeats at most the whole output
so far, well under this; a body without line breaks is not server-sent events."""


def _positive_seconds(name: str, value: Any, *, optional: bool) -> None:
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
        allowed = "a positive number of seconds" + (" or None (no limit)" if optional else "")
        raise ValueError(f"{name} must be {allowed}; got {value!r}.")


@dataclass(frozen=True)
class ClientOptions:
    """Everything that configures a `QwenVLClient`. Validated at construction: bad values fail here."""

    api_key: SecretStr | None = field(default=None, repr=False)
    """An explicit key; None uses `DASHSCOPE_API_KEY`, which only ever goes to Model Studio hosts."""
    region: str | None = None
    workspace_id: str | None = None
    """A Model Studio workspace id: the region's workspace domain instead of its shared host."""
    base_url: str | None = None
    protocol: Protocol = "openai"
    timeout: float | None = DEFAULT_TIMEOUT
    """The read timeout: the longest wait for the next piece of a response (None: no limit)."""
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    header_timeout: float | None = DEFAULT_HEADER_TIMEOUT
    """Streamed calls: the longest wait for the response headers (None: the read timeout applies). A
    request that timed out waiting for headers is sent again at most once."""
    max_retries: int = 2
    default_headers: Mapping[str, str] | None = None
    http_client: Any = field(default=None, compare=True, repr=False)
    async_http_client: Any = field(default=None, compare=True, repr=False)
    downscale_images: bool = True
    inline_remote_images: bool = False
    local_files: bool | tuple[str, ...] = True
    """Whether paths and `file://` URLs in content may be read: True, False, or the allowed directories.
    Turn it off (or list directories) when content blocks come from people you do not trust."""
    parse_think_tags: bool | None = None
    thinking_via_chat_template: bool | None = None
    coalesce_deltas: bool = True
    """Merge the deltas of one kind that arrive in one network read into one event (one framework
    chunk per read instead of per token, under load); False: one event per server event."""
    max_sse_line: int = DEFAULT_MAX_SSE_LINE
    """The longest line (in characters) a stream may send before the call fails (memory stays bounded)."""

    FIELDS: ClassVar[tuple[str, ...]]

    def __post_init__(self) -> None:
        if isinstance(self.api_key, str):
            object.__setattr__(self, "api_key", SecretStr(self.api_key) if self.api_key else None)
        if self.protocol not in get_args(Protocol):
            raise ValueError(
                f"protocol must be 'openai' (compatible mode) or 'dashscope' (native); got {self.protocol!r}."
            )
        if self.base_url is None:  # the endpoint is validated now, but the environment is read at use
            resolve_endpoint(region=self.region or "intl", workspace_id=self.workspace_id, protocol=self.protocol)
        _positive_seconds("timeout", self.timeout, optional=True)
        _positive_seconds("connect_timeout", self.connect_timeout, optional=False)
        _positive_seconds("header_timeout", self.header_timeout, optional=True)
        if isinstance(self.max_sse_line, bool) or not isinstance(self.max_sse_line, int) or self.max_sse_line < 1024:
            raise ValueError(f"max_sse_line must be a whole number of characters >= 1024; got {self.max_sse_line!r}.")
        if isinstance(self.max_retries, bool) or not isinstance(self.max_retries, int) or self.max_retries < 0:
            raise ValueError(f"max_retries must be a whole number >= 0 (0 disables retries); got {self.max_retries!r}.")
        if not isinstance(self.local_files, bool):
            check_local_files(self.local_files)  # TypeError for a single path, a None, bytes
            object.__setattr__(self, "local_files", tuple(os.fspath(d) for d in self.local_files))
        if self.default_headers is not None:
            headers = dict(self.default_headers)
            if not all(isinstance(k, str) and isinstance(v, str) for k, v in headers.items()):
                raise ValueError("default_headers must map header names (str) to values (str).")
            object.__setattr__(self, "default_headers", headers)

    @classmethod
    def from_fields(cls, source: Any, **overrides: Any) -> ClientOptions:
        """Read every option from `source` (an adapter) by name; `overrides` win."""
        return cls(**{name: overrides[name] if name in overrides else getattr(source, name) for name in cls.FIELDS})


ClientOptions.FIELDS = tuple(f.name for f in fields(ClientOptions))


@dataclass(frozen=True)
class RequestSettings:
    """Per-request defaults, overridable per call. Turned into a `ChatRequest` by `request()`."""

    model: str = "qwen3-vl-plus"
    enable_thinking: bool | None = None
    thinking_budget: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    presence_penalty: float | None = None
    repetition_penalty: float | None = None
    """Sent as `repetition_penalty` on both protocols (DashScope's own name for it)."""
    max_tokens: int | None = None
    seed: int | None = None
    stop: tuple[str, ...] | None = None
    vl_high_resolution_images: bool | None = None
    parallel_tool_calls: bool | None = None
    system_message_mode: SystemMessageMode = "auto"
    preserve_thinking: bool = False
    """Send earlier turns' reasoning back with the history (models that take `preserve_thinking`)."""
    extra_body: Mapping[str, Any] | None = None
    """Any other body key, merged last (per call: merged over these, key by key)."""
    model_spec: ModelSpec | None = None
    """What to assume about `model` instead of the catalog (a per-call `model=` drops it)."""
    # Per call only (bound by bind_tools / with_structured_output / chat_with_tools):
    tools: tuple[ToolSpec, ...] = ()
    tool_choice: ToolChoice | None = None
    response_format: Mapping[str, Any] | None = None
    allow_tool_choice_fallback: bool = False
    """Structured output on a thinking-only model: send `auto` (and warn) instead of failing."""

    FIELDS: ClassVar[tuple[str, ...]]
    """The fields an adapter declares (its constructor settings)."""
    CALL_OPTIONS: ClassVar[frozenset[str]]
    """The keyword arguments a call accepts."""

    def __post_init__(self) -> None:
        if self.stop is not None and not isinstance(self.stop, tuple):
            stop = [self.stop] if isinstance(self.stop, str) else list(self.stop)
            object.__setattr__(self, "stop", tuple(stop) if stop else None)
        if not isinstance(self.model, str) or not self.model.strip():
            raise ValueError(f"model must be a model name such as 'qwen3-vl-plus'; got {self.model!r}.")

    @classmethod
    def from_fields(cls, source: Any, **overrides: Any) -> RequestSettings:
        """Read every setting from `source` (an adapter) by name; `overrides` win."""
        return cls(**{name: overrides[name] if name in overrides else getattr(source, name) for name in cls.FIELDS})

    def with_call_options(
        self, options: Mapping[str, Any], *, convert_tool: Any = None, caller: str = "the call"
    ) -> RequestSettings:
        """These settings with a call's keyword arguments applied; unknown names are a `TypeError`.

        `tools` may be in any form `qwen_vl_core.tools.tool_spec` takes (`convert_tool` is the
        adapter's hook for its framework's tool objects); `tool_choice` in any accepted spelling.
        """
        if not options:
            return self
        unknown = options.keys() - self.CALL_OPTIONS
        if unknown:
            raise TypeError(
                f"{caller} got unexpected keyword argument(s) {sorted(unknown)}; accepted: "
                f"{sorted(self.CALL_OPTIONS)}. Put other API parameters in extra_body={{...}}."
            )
        changes = dict(options)
        if "model" in changes and "model_spec" not in changes and changes["model"] != self.model:
            changes["model_spec"] = None  # the spec described the adapter's own model
        if "extra_body" in changes and changes["extra_body"] and self.extra_body:
            changes["extra_body"] = {**self.extra_body, **changes["extra_body"]}
        if "tools" in changes:
            changes["tools"] = tool_specs(changes["tools"], convert=convert_tool)
        tools = changes.get("tools", self.tools)
        if "tool_choice" in changes or "tools" in changes:
            choice = changes.get("tool_choice", self.tool_choice)
            changes["tool_choice"] = parse_tool_choice(choice, tools) if tools else None
        return replace(self, **changes)

    def request(self, messages: Iterable[Message]) -> ChatRequest:
        """The neutral request for `messages` with these settings."""
        tools = self.tools
        return ChatRequest(
            model=self.model,
            messages=tuple(messages),
            tools=tools,
            tool_choice=self.tool_choice if tools else None,
            parallel_tool_calls=self.parallel_tool_calls if tools else None,
            thinking=ThinkingOptions(enable=self.enable_thinking, budget=self.thinking_budget),
            sampling=SamplingOptions(
                temperature=self.temperature,
                top_p=self.top_p,
                top_k=self.top_k,
                max_tokens=self.max_tokens,
                seed=self.seed,
                stop=self.stop,
                presence_penalty=self.presence_penalty,
                repetition_penalty=self.repetition_penalty,
            ),
            response_format=self.response_format,
            vl_high_resolution_images=self.vl_high_resolution_images,
            system_message_mode=self.system_message_mode,
            extra_body=self.extra_body or None,
            allow_tool_choice_fallback=self.allow_tool_choice_fallback,
            preserve_thinking=self.preserve_thinking,
            model_spec=self.model_spec,
        )

    def spec(self) -> ModelSpec:
        """The spec these settings assume for `model` (`model_spec`, else the catalog's)."""
        return self.model_spec or get_spec(self.model)


_PER_CALL_ONLY = ("tools", "tool_choice", "response_format", "allow_tool_choice_fallback")
RequestSettings.FIELDS = tuple(f.name for f in fields(RequestSettings) if f.name not in _PER_CALL_ONLY)
RequestSettings.CALL_OPTIONS = frozenset(f.name for f in fields(RequestSettings))
