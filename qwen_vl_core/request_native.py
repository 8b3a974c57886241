"""`ChatRequest` → native DashScope multimodal-generation body: `{"model", "input", "parameters"}`.

The same policies as the compat protocol run first (`policies.apply_policies`). Streaming is not a
body key here: it is switched on by the `X-DashScope-SSE: enable` header (see `NATIVE_STREAM_HEADERS`).
"""

from __future__ import annotations

from typing import Any

from .catalog import ModelSpec
from .policies import ResolvedRequest, ServerTraits, apply_policies
from .request_common import request_params
from .types import ChatRequest, ImagePart, Message, Part, TextPart

__all__ = [
    "NATIVE_PATH",
    "NATIVE_STREAM_HEADERS",
    "build_native_body",
    "native_message",
    "native_part",
    "serialize_native",
]

NATIVE_PATH = "/services/aigc/multimodal-generation/generation"
NATIVE_STREAM_HEADERS = {"Accept": "text/event-stream", "X-DashScope-SSE": "enable", "X-Accel-Buffering": "no"}


def native_part(part: Part) -> dict[str, Any]:
    if isinstance(part, TextPart):
        return {"text": part.text}
    if isinstance(part, ImagePart):
        item: dict[str, Any] = {"image": part.wire_url}
        if part.max_pixels is not None:
            item["max_pixels"] = part.max_pixels
        return item
    frames = part.wire_frames
    item = {"video": frames if frames is not None else part.wire_url}
    if part.fps is not None:
        item["fps"] = part.fps
    return item


def native_message(message: Message) -> dict[str, Any]:
    """One history message; content is a list of modal items; an earlier turn's reasoning only when
    the policies kept it (`preserve_thinking`)."""
    content: Any = [native_part(p) for p in message.content if not (isinstance(p, TextPart) and not p.text)]
    out: dict[str, Any] = {"role": message.role, "content": content}
    if message.role == "assistant" and message.reasoning:
        out["reasoning_content"] = message.reasoning
    if message.role == "assistant" and message.tool_calls:
        if not content:
            out["content"] = ""  # as the recorded tool-call history sends it
        out["tool_calls"] = [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
            for c in message.tool_calls
        ]
    if message.role == "tool":
        out["tool_call_id"] = message.tool_call_id or ""
    return out


def serialize_native(resolved: ResolvedRequest) -> dict[str, Any]:
    """Serialize a request the policies already resolved."""
    parameters: dict[str, Any] = {"result_format": "message"}
    if resolved.stream:
        parameters["incremental_output"] = True  # required in thinking mode; QVQ only accepts true
    parameters.update(request_params(resolved))
    if resolved.stream:
        parameters["incremental_output"] = True  # an extra_body cannot switch it back
    return {
        "model": resolved.request.model,
        "input": {"messages": [native_message(m) for m in resolved.messages]},
        "parameters": parameters,
    }


def build_native_body(request: ChatRequest, spec: ModelSpec, *, stream: bool) -> dict[str, Any]:
    """Build the native body, applying every policy; send it with `NATIVE_STREAM_HEADERS` when streaming."""
    return serialize_native(apply_policies(request, spec, stream=stream, server=ServerTraits(native=True)))
