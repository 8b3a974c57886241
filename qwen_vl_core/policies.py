"""Protocol-independent request policies: thinking rules, forced tool choice, system messages.

Both wire builders call `apply_policies` first, so the native protocol gets exactly the same rules.
Pure functions: they return new objects and never touch their inputs.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

from .catalog import ModelSpec
from .types import ChatRequest, FunctionChoice, Message, Part, TextPart

__all__ = ["ResolvedRequest", "apply_policies", "normalize_messages"]

logger = logging.getLogger("qwen_vl_core")


@dataclass(frozen=True)
class ResolvedRequest:
    """A request after the policies: what the wire builders serialize."""

    request: ChatRequest
    messages: tuple[Message, ...]
    thinking: bool
    """Whether the call runs in thinking mode."""
    send_enable_thinking: bool | None
    """The `enable_thinking` value to put on the wire, or None to leave it out."""
    stream: bool


def _check_thinking(request: ChatRequest, spec: ModelSpec) -> None:
    enable, budget = request.thinking.enable, request.thinking.budget
    if spec.thinking_only and enable is False:
        raise ValueError(
            f"{spec.name} is a thinking-only model: enable_thinking=False is not allowed (the API "
            "rejects it). Leave enable_thinking unset, or use a hybrid model such as qwen3-vl-plus."
        )
    if budget is None:
        return
    if not spec.supports_thinking_budget:
        raise ValueError(f"{spec.name} has no thinking_budget; remove it (only Qwen3-VL models take one).")
    if not spec.thinking_enabled(enable):
        raise ValueError(
            f"thinking_budget={budget} was given but thinking is off for {spec.name}; "
            "set enable_thinking=True or remove thinking_budget."
        )
    if budget <= 0 or (spec.max_reasoning_tokens is not None and budget > spec.max_reasoning_tokens):
        limit = spec.max_reasoning_tokens
        raise ValueError(
            "thinking_budget must be a positive integer"
            + (f" no greater than {limit} for {spec.name}" if limit else "")
            + f"; got {budget}."
        )


def _forces_tool(request: ChatRequest) -> bool:
    return request.tool_choice == "required" or isinstance(request.tool_choice, FunctionChoice)


def _forces_json(request: ChatRequest) -> bool:
    rf = request.response_format
    return rf is not None and rf.get("type") in ("json_object", "json_schema")


def _resolve_thinking(request: ChatRequest, spec: ModelSpec) -> tuple[ChatRequest, bool]:
    """Apply the forced-tool-choice / JSON-mode rule; return the (maybe updated) request and mode."""
    thinking = spec.thinking_enabled(request.thinking.enable)
    if not thinking:
        return request, False
    conflicts = [
        what
        for what, hit in (("forced tool_choice", _forces_tool(request)), ("JSON mode", _forces_json(request)))
        if hit
    ]
    if not conflicts:
        return request, True
    what = " and ".join(conflicts)
    if spec.thinking_only:
        raise ValueError(
            f"{spec.name} always thinks, and the API rejects {what} in thinking mode. Use "
            "tool_choice='auto' (and parse the tool call if one comes back), or a hybrid model "
            "such as qwen3-vl-plus with thinking off."
        )
    logger.warning(
        "%s is not allowed in thinking mode; this request to %s runs with thinking switched off.",
        what,
        spec.name,
    )
    if request.thinking.budget is not None:
        raise ValueError(f"{what} needs thinking off, but thinking_budget was given; remove one of them.")
    return replace(request, thinking=replace(request.thinking, enable=False)), False


def _join(first: tuple[Part, ...], second: tuple[Part, ...]) -> tuple[Part, ...]:
    """Join two contents; text-only contents become one text separated by a blank line."""
    if all(type(p) is TextPart for p in (*first, *second)):
        texts = ["".join(p.text for p in c if isinstance(p, TextPart)) for c in (first, second)]
        return (TextPart("\n\n".join(t for t in texts if t)),)
    return (*first, *second)


def normalize_messages(request: ChatRequest) -> tuple[Message, ...]:
    """System-message policy and history clean-up (see the README's "System messages")."""
    messages = request.messages
    lead: list[str] = []
    i = 0
    for message in messages:
        if message.role == "system" and any(not isinstance(p, TextPart) for p in message.content):
            raise ValueError("A system message can only hold text; put images and videos in a user message.")
    while i < len(messages) and messages[i].role == "system":
        if messages[i].text:
            lead.append(messages[i].text)
        i += 1
    rest: list[Message] = []
    for message in messages[i:]:
        if message.role == "system":
            # The API only takes a system message first; a later one (LlamaIndex agents add one on
            # early stopping) goes in as user text.
            message = Message("user", message.content)
        if message.reasoning is not None:
            message = replace(message, reasoning=None)
        if message.role == "user" and rest and rest[-1].role == "user" and not rest[-1].tool_calls:
            rest[-1] = Message("user", _join(rest[-1].content, message.content))
            continue
        rest.append(message)
    if not any(m.role == "user" for m in rest):
        raise ValueError(
            "The request has no user message; the API needs at least one. Put the question (and the "
            "images) in a user message, not only in a system message."
        )
    if not lead:
        return tuple(rest)
    system_text = "\n\n".join(lead)
    mode = request.system_message_mode
    if mode == "keep" or (mode == "auto" and request.tools):
        return (Message("system", (TextPart(system_text),)), *rest)
    first_user = next(k for k, m in enumerate(rest) if m.role == "user")
    rest[first_user] = replace(rest[first_user], content=_join((TextPart(system_text),), rest[first_user].content))
    return tuple(rest)


def apply_policies(request: ChatRequest, spec: ModelSpec, *, stream: bool) -> ResolvedRequest:
    """Validate and resolve a request for `spec`; raises ValueError before anything is sent."""
    _check_thinking(request, spec)
    if request.tools and not spec.supports_tools:
        raise ValueError(f"{spec.name} does not support tool calling; use a Qwen3-VL model for tools.")
    if _forces_json(request) and not spec.supports_json_mode and not spec.thinking_only:
        raise ValueError(f"{spec.name} does not support JSON mode.")
    request, thinking = _resolve_thinking(request, spec)
    enable = request.thinking.enable
    # Thinking-only models reason anyway; only an explicit True is echoed (never for QVQ).
    send = (True if spec.supports_thinking_budget and enable else None) if spec.thinking_only else enable
    return ResolvedRequest(
        request=request,
        messages=normalize_messages(request),
        thinking=thinking,
        send_enable_thinking=send,
        stream=stream or spec.stream_only,
    )
