"""`ChatRequest` → OpenAI-compatible `/chat/completions` body (a plain dict).

The policies in `policies.py` run first; this module only serializes. DashScope-only keys
(`enable_thinking`, `thinking_budget`, `vl_high_resolution_images`, `top_k`, ...) are top-level
body keys on the wire.
"""

from __future__ import annotations

from typing import Any

from .catalog import ModelSpec
from .policies import ResolvedRequest, apply_policies
from .request_common import request_params
from .types import ChatRequest, ImagePart, Message, Part, TextPart

__all__ = ["build_compat_body", "compat_message", "compat_part", "serialize_compat"]


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
    """One history message; an earlier turn's reasoning only when the policies kept it (`preserve_thinking`)."""
    out: dict[str, Any] = {"role": message.role, "content": _content(message.content)}
    if message.role == "assistant" and message.reasoning:
        out["reasoning_content"] = message.reasoning
    if message.role == "assistant" and message.tool_calls:
        out["tool_calls"] = [
            {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
            for c in message.tool_calls
        ]
    if message.role == "tool":
        out["tool_call_id"] = message.tool_call_id or ""
    return out


def _thinking_to_chat_template(body: dict[str, Any]) -> None:
    """Self-hosted servers (vLLM, SGLang, llama.cpp) take the thinking switch through the chat template."""
    if "enable_thinking" not in body and "thinking_budget" not in body:
        return
    kwargs = dict(body.get("chat_template_kwargs") or {})
    if "enable_thinking" in body:
        kwargs.setdefault("enable_thinking", body.pop("enable_thinking"))
    if "thinking_budget" in body:
        body["thinking_token_budget"] = body.pop("thinking_budget")  # vLLM's name for it
    body["chat_template_kwargs"] = kwargs


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
    if resolved.chat_template:
        _thinking_to_chat_template(body)
    return body


def build_compat_body(request: ChatRequest, spec: ModelSpec, *, stream: bool, batch: bool = False) -> dict[str, Any]:
    """The compat body Model Studio gets, every policy applied; `stream` is forced on in thinking mode and
    for streaming-only models, except for Batch API lines (`batch=True`)."""
    return serialize_compat(apply_policies(request, spec, stream=stream, batch=batch))
