"""Framework-neutral core for Qwen3-VL and QVQ visual reasoning on Alibaba Cloud Model Studio.

Adapters (`langchain_qwen_vl`, `llama_index_qwen_vl`) sit on top; nothing here imports a framework.
The names below are imported on first use (`import qwen_vl_core` loads none of the HTTP stack, and
the openai SDK only when an OpenAI-compatible transport is first built).
"""

from __future__ import annotations

import importlib as _importlib
import typing as _typing

if _typing.TYPE_CHECKING:
    from .accumulator import ChatResult, ParsedToolCall, StreamAccumulator
    from .catalog import KNOWN_MODELS, ModelSpec, UnknownModelWarning, get_spec, list_specs, register_model
    from .client import QwenVLClient
    from .errors import (
        APIConnectionError,
        APIStatusError,
        APITimeoutError,
        AuthenticationError,
        ContextOverflowError,
        IncompleteStreamError,
        InvalidMediaError,
        InvalidRequestError,
        MissingAPIKeyError,
        NotFoundError,
        PermissionDeniedError,
        QwenVLError,
        RateLimitError,
        ServerError,
        StreamError,
    )
    from .events import ReasoningDelta, StreamEnd, StreamEvent, TextDelta, ToolCallDelta, Usage, UsageUpdate
    from .media import image_to_url, video_to_url
    from .regions import REGIONS, resolve_endpoint
    from .request_compat import build_compat_body
    from .retry import HeaderTimeoutError
    from .settings import ClientOptions, RequestSettings
    from .types import (
        ChatRequest,
        FunctionChoice,
        ImagePart,
        Message,
        SamplingOptions,
        TextPart,
        ThinkingOptions,
        ToolCall,
        ToolSpec,
        VideoPart,
    )

__version__ = "0.1.0"

_MODULES = {
    "accumulator": ("ChatResult", "ParsedToolCall", "StreamAccumulator"),
    "catalog": ("KNOWN_MODELS", "ModelSpec", "UnknownModelWarning", "get_spec", "list_specs", "register_model"),
    "client": ("QwenVLClient",),
    "errors": (
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
    ),
    "events": ("ReasoningDelta", "StreamEnd", "StreamEvent", "TextDelta", "ToolCallDelta", "Usage", "UsageUpdate"),
    "media": ("image_to_url", "video_to_url"),
    "regions": ("REGIONS", "resolve_endpoint"),
    "request_compat": ("build_compat_body",),
    "retry": ("HeaderTimeoutError",),
    "settings": ("ClientOptions", "RequestSettings"),
    "types": (
        "ChatRequest",
        "FunctionChoice",
        "ImagePart",
        "Message",
        "SamplingOptions",
        "TextPart",
        "ThinkingOptions",
        "ToolCall",
        "ToolSpec",
        "VideoPart",
    ),
}
_WHERE = {name: module for module, names in _MODULES.items() for name in names}


def __getattr__(name: str) -> _typing.Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'qwen_vl_core' has no attribute {name!r}")
    value = getattr(_importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_WHERE})


__all__ = [
    "KNOWN_MODELS",
    "REGIONS",
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "ChatRequest",
    "ChatResult",
    "ClientOptions",
    "ContextOverflowError",
    "FunctionChoice",
    "HeaderTimeoutError",
    "ImagePart",
    "IncompleteStreamError",
    "InvalidMediaError",
    "InvalidRequestError",
    "Message",
    "MissingAPIKeyError",
    "ModelSpec",
    "NotFoundError",
    "ParsedToolCall",
    "PermissionDeniedError",
    "QwenVLClient",
    "QwenVLError",
    "RateLimitError",
    "ReasoningDelta",
    "RequestSettings",
    "SamplingOptions",
    "ServerError",
    "StreamAccumulator",
    "StreamEnd",
    "StreamError",
    "StreamEvent",
    "TextDelta",
    "TextPart",
    "ThinkingOptions",
    "ToolCall",
    "ToolCallDelta",
    "ToolSpec",
    "UnknownModelWarning",
    "Usage",
    "UsageUpdate",
    "VideoPart",
    "__version__",
    "build_compat_body",
    "get_spec",
    "image_to_url",
    "list_specs",
    "register_model",
    "resolve_endpoint",
    "video_to_url",
]
