"""`ChatRequest` → OpenAI-compatible `/chat/completions` body (a plain dict).

The policies in `policies.py` run first; this module only serializes. DashScope-only keys
(`enable_thinking`, `thinking_budget`, `vl_high_resolution_images`, `top_k`, ...) are top-level
body keys on the wire.
"""

from __future__ import annotations

import copy
from typing import Any

from .catalog import ModelSpec
from .policies import ResolvedRequest, apply_policies
from .types import ChatRequest, FunctionChoice, ImagePart, Message, Part, TextPart, ToolSpec

__all__ = [
    "build_compat_body",
    "compat_message",
    "compat_part",
    "compat_tool",
    "request_params",
    "sampling_params",
    "serialize_compat",
    "tool_choice_param",
]


def compat_part(part: Part) -> dict[str, Any]:
    if isinstance(part, TextPart):
        return {"type": "text", "text": part.text}
    if isinstance(part, ImagePart):
        item: dict[str, Any] = {"type": "image_url", "image_url": {"url": part.wire_url}}
        if part.max_pixels is not None:
            item["max_pixels"] = part.max_pixels
        return item
    frames = part.wire_frames
    if frames is not None:
        item = {"type": "video", "video": frames}
    else:
        item = {"type": "video_url", "video_url": {"url": part.wire_url}}
    if part.fps is not None:
        item["fps"] = part.fps
    return item


def _content(parts: tuple[Part, ...]) -> str | list[dict[str, Any]]:
    if all(isinstance(p, TextPart) for p in parts):
        return "".join(p.text for p in parts if isinstance(p, TextPart))
    return [compat_part(p) for p in parts]


def compat_message(message: Message) -> dict[str, Any]:
    """One history message; reasoning of earlier turns is never included."""
    out: dict[str, Any] = {"role": message.role, "content": _content(message.content)}
    if message.role == "assistant" and message.tool_calls:
        out["tool_calls"] = [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
            for c in message.tool_calls
        ]
    if message.role == "tool":
        out["tool_call_id"] = message.tool_call_id or ""
    return out


def compat_tool(tool: ToolSpec) -> dict[str, Any]:
    function: dict[str, Any] = {
        "name": tool.name,
        "description": tool.description,
        "parameters": copy.deepcopy(dict(tool.parameters)),
    }
    if tool.strict is not None:
        function["strict"] = tool.strict
    return {"type": "function", "function": function}


def tool_choice_param(choice: Any) -> Any:
    """The wire form of a tool choice (shared by both protocols)."""
    if isinstance(choice, FunctionChoice):
        return {"type": "function", "function": {"name": choice.name}}
    return choice


def sampling_params(request: ChatRequest) -> dict[str, Any]:
    """Sampling options that were set (shared by both protocols)."""
    s = request.sampling
    values = {
        "temperature": s.temperature,
        "top_p": s.top_p,
        "top_k": s.top_k,
        "max_tokens": s.max_tokens,
        "seed": s.seed,
        "stop": list(s.stop) if s.stop is not None else None,
        "presence_penalty": s.presence_penalty,
        "repetition_penalty": s.repetition_penalty,
    }
    return {k: v for k, v in values.items() if v is not None}


def request_params(resolved: ResolvedRequest) -> dict[str, Any]:
    """Everything but messages and streaming switches; the same keys in both protocols
    (top level in compat, under `parameters` natively), with `extra_body` merged last."""
    request = resolved.request
    params = sampling_params(request)
    if request.tools:
        params["tools"] = [compat_tool(t) for t in request.tools]
        if request.tool_choice is not None:
            params["tool_choice"] = tool_choice_param(request.tool_choice)
        if request.parallel_tool_calls is not None:
            params["parallel_tool_calls"] = request.parallel_tool_calls
    if request.response_format is not None:
        params["response_format"] = copy.deepcopy(dict(request.response_format))
    if resolved.send_enable_thinking is not None:
        params["enable_thinking"] = resolved.send_enable_thinking
    if request.thinking.budget is not None:
        params["thinking_budget"] = request.thinking.budget
    if request.vl_high_resolution_images is not None:
        params["vl_high_resolution_images"] = request.vl_high_resolution_images
    if request.extra_body:
        params.update(copy.deepcopy(dict(request.extra_body)))
    return params


def serialize_compat(resolved: ResolvedRequest) -> dict[str, Any]:
    """Serialize a request the policies already resolved."""
    body: dict[str, Any] = {
        "model": resolved.request.model,
        "messages": [compat_message(m) for m in resolved.messages],
    }
    if resolved.stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    body.update(request_params(resolved))
    if resolved.stream:
        body["stream"] = True  # an extra_body cannot switch a streaming-only call back
        body.setdefault("stream_options", {})["include_usage"] = True
    return body


def build_compat_body(request: ChatRequest, spec: ModelSpec, *, stream: bool) -> dict[str, Any]:
    """Build the compat body, applying every policy; `stream` may be forced on (streaming-only models)."""
    return serialize_compat(apply_policies(request, spec, stream=stream))
