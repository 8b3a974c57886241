"""Framework-neutral core for Qwen3-VL and QVQ visual reasoning on Alibaba Cloud Model Studio.

Adapters (`langchain_qwen_vl`, `llama_index_qwen_vl`) sit on top; nothing here imports a framework.
"""

from __future__ import annotations

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
