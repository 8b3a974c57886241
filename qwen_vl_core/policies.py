"""Every API rule, once, for both protocols and both adapters.

`apply_policies` turns a `ChatRequest` into a `ResolvedRequest` (what the wire builders
serialize) before anything else happens, so a bad option fails before any image is resized:

1. thinking options are validated (`check_thinking`, also run by the adapters at construction);
2. tools and JSON mode need a model that has them;
3. JSON mode (`json_object`) needs the word "JSON" in the prompt: an instruction is added;
4. forced tool choice and JSON mode are rejected by the API in thinking mode: a hybrid model runs
   that request with thinking off, a thinking-only model falls back to `auto` where the caller
   allowed it (structured output) and fails otherwise; each case logs one warning;
5. calls in thinking mode and to streaming-only models stream on the wire;
6. system messages follow the guide (`normalize_messages`);
7. for self-hosted servers: the thinking switch goes in `chat_template_kwargs`, and `<think>`
   tags are split out of the answer of thinking models (unless the caller decided otherwise).

Pure functions: they return new objects and never touch their inputs.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

from .catalog import ModelSpec
from .types import ChatRequest, FunctionChoice, Message, Part, TextPart

__all__ = [
    "JSON_INSTRUCTION",
    "ResolvedRequest",
    "ServerTraits",
    "apply_policies",
    "check_json_mode",
    "check_preserve_thinking",
    "check_thinking",
    "check_tools",
    "ensure_json_instruction",
    "normalize_messages",
    "resolve_messages",
]

logger = logging.getLogger("qwen_vl_core")

JSON_INSTRUCTION = "Respond with a JSON object."


@dataclass(frozen=True)
class ServerTraits:
    """What the policies need to know about where the request goes."""

    speaks_dashscope: bool = True
    """Takes DashScope's parameters (Model Studio, the native protocol, a `/compatible-mode/v1` gateway)."""
    native: bool = False
    """The native DashScope protocol (else the OpenAI-compatible one)."""
    thinking_via_chat_template: bool | None = None
    """Caller's choice; None: on for servers that do not speak DashScope (vLLM, SGLang)."""
    parse_think_tags: bool | None = None
    """Caller's choice; None: on for thinking-only models on servers that do not speak DashScope."""


@dataclass(frozen=True)
class ResolvedRequest:
    """A request after the policies: what the wire builders serialize."""

    request: ChatRequest
    messages: tuple[Message, ...]
    thinking: bool | None
    """Whether the call runs in thinking mode (None: the model's default is unknown)."""
    send_enable_thinking: bool | None
    """The `enable_thinking` value to put on the wire, or None to leave it out."""
    stream: bool
    """Whether the call streams on the wire."""
    chat_template: bool = False
    """Send the thinking switch as `chat_template_kwargs` (self-hosted servers)."""
    split_think_tags: bool = False
    """Split `<think>` tags out of the answer text."""
    send_tool_strict: bool = True
    """Send the tools' `strict` flag (the OpenAI-compatible schema has it; the native one does not)."""


def check_thinking(spec: ModelSpec, enable: bool | None, budget: int | None) -> None:
    """The thinking options a model accepts; ValueError with the fix. Run at construction and per call.

    Unknown facts (an unknown model, or a budget range no page gives) are left to the server.
    """
    if spec.thinking_only and enable is False:
        raise ValueError(
            f"{spec.name} is a thinking-only model: enable_thinking=False is not allowed (the API "
            "rejects it). Leave enable_thinking unset, or use a hybrid model such as qwen3-vl-plus."
        )
    if spec.thinking == "none" and enable:
        raise ValueError(
            f"{spec.name} does not think: the API rejects enable_thinking=True for it "
            "(InvalidParameter.NotSupportEnableThinking). Remove it, or use a thinking model such as qwen3.6-plus."
        )
    if budget is None:
        return
    if isinstance(budget, bool) or not isinstance(budget, int):
        raise ValueError(f"thinking_budget must be a whole number of tokens; got {budget!r}.")
    if spec.supports_thinking_budget is False:
        raise ValueError(f"{spec.name} has no thinking_budget; remove it (Qwen3-VL and later models take one).")
    if spec.thinking_enabled(enable) is False:
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


def check_preserve_thinking(spec: ModelSpec, preserve: bool) -> None:
    """`preserve_thinking` needs a model that takes it (unknown: sent, the server judges)."""
    if preserve and spec.supports_preserve_thinking is False:
        raise ValueError(
            f"{spec.name} does not take preserve_thinking (the docs list qwen3.6-plus, qwen3.7-plus and "
            "qwen3.7-flash); remove it."
        )


def check_tools(spec: ModelSpec, what: str = "tool calling") -> None:
    """Tools need a model that calls them (unknown: sent, the server judges)."""
    if spec.supports_tools is False:
        raise ValueError(
            f"{spec.name} does not support tool calling, so {what} cannot work; use a Qwen3-VL model for "
            "tools (with QVQ, LlamaIndex's ReActAgent drives tools through the prompt)."
        )


def check_json_mode(spec: ModelSpec, what: str = "JSON mode") -> None:
    """JSON mode (`response_format`, structured output by JSON) needs a model that has it."""
    if spec.supports_json_mode is False:
        raise ValueError(
            f"{spec.name} has no JSON mode (thinking-only and QVQ models reject response_format), so "
            f"{what} cannot work; use a hybrid model such as qwen3-vl-plus, or structured output by "
            "function calling."
        )


def _forces_tool(request: ChatRequest) -> bool:
    choice = request.tool_choice
    return bool(request.tools) and (choice == "required" or isinstance(choice, FunctionChoice))


def _json_type(request: ChatRequest) -> object:
    rf = request.response_format
    return rf.get("type") if rf is not None else None


def _resolve_thinking(request: ChatRequest, spec: ModelSpec) -> tuple[ChatRequest, bool | None]:
    """Rule 4; returns the (maybe updated) request and whether the call thinks (None: unknown)."""
    thinking = spec.thinking_enabled(request.thinking.enable)
    forced, json_mode = _forces_tool(request), _json_type(request) in ("json_object", "json_schema")
    if thinking is False or not (forced or json_mode):
        return request, thinking
    what = " and ".join(w for w, hit in (("forced tool_choice", forced), ("JSON mode", json_mode)) if hit)
    if not spec.thinking_only:
        budget = request.thinking.budget
        logger.warning(
            "%s is not allowed in thinking mode; this request to %s runs with thinking switched off%s.",
            what,
            spec.name,
            f" (thinking_budget={budget} is not sent)" if budget is not None else "",
        )
        return replace(request, thinking=replace(request.thinking, enable=False, budget=None)), False
    if json_mode or not request.allow_tool_choice_fallback:
        raise ValueError(
            f"{spec.name} always thinks, and the API rejects {what} in thinking mode. Use "
            "tool_choice='auto' (and parse the tool call if one comes back), or a hybrid model "
            "such as qwen3-vl-plus with thinking off."
        )
    logger.warning(
        "%s always thinks and the API rejects forced tool_choice in thinking mode; this request is sent "
        "with tool_choice='auto', and the model may answer without calling the tool.",
        spec.name,
    )
    return replace(request, tool_choice="auto"), True


def ensure_json_instruction(messages: tuple[Message, ...]) -> tuple[Message, ...]:
    """JSON mode needs the word "json" in the prompt (else HTTP 400); add a short instruction if absent.

    The instruction goes after the leading system messages, so `normalize_messages` merges it into
    the system prompt (or folds it into the first user turn).
    """
    for message in messages:
        if any(isinstance(p, TextPart) and "json" in p.text.lower() for p in message.content):
            return messages
    lead = next((i for i, m in enumerate(messages) if m.role != "system"), len(messages))
    instruction = Message("system", (TextPart(JSON_INSTRUCTION),))
    return (*messages[:lead], instruction, *messages[lead:])


def _join(first: tuple[Part, ...], second: tuple[Part, ...]) -> tuple[Part, ...]:
    """Join two contents; text-only contents become one text separated by a blank line."""
    if all(type(p) is TextPart for p in (*first, *second)):
        texts = ["".join(p.text for p in c if isinstance(p, TextPart)) for c in (first, second)]
        return (TextPart("\n\n".join(t for t in texts if t)),)
    return (*first, *second)


def normalize_messages(request: ChatRequest, messages: tuple[Message, ...] | None = None) -> tuple[Message, ...]:
    """System-message policy and history clean-up (see the README's "System messages")."""
    messages = request.messages if messages is None else messages
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
        if message.reasoning is not None and not request.preserve_thinking:
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


def resolve_messages(request: ChatRequest) -> tuple[Message, ...]:
    """The messages as sent: the JSON-mode instruction (rule 3) and the system-message policy (rule 6)."""
    messages = request.messages
    if _json_type(request) == "json_object":
        messages = ensure_json_instruction(messages)
    return normalize_messages(request, messages)


def _send_enable_thinking(spec: ModelSpec, enable: bool | None) -> bool | None:
    # Thinking-only models reason anyway; only an explicit True is echoed (never for QVQ). Models
    # that never think reject the parameter.
    if spec.thinking_only:
        return True if spec.supports_thinking_budget and enable else None
    if spec.thinking == "none":
        return None
    return enable


def apply_policies(
    request: ChatRequest, spec: ModelSpec, *, stream: bool, server: ServerTraits | None = None, batch: bool = False
) -> ResolvedRequest:
    """Validate and resolve a request for `spec`; raises ValueError before anything is sent.

    `stream` is the caller's wish; thinking mode and streaming-only models stream anyway, except
    on Batch API lines (`batch=True`), which never stream.
    """
    server = server or ServerTraits()
    check_thinking(spec, request.thinking.enable, request.thinking.budget)
    check_preserve_thinking(spec, request.preserve_thinking)
    if request.tools:
        check_tools(spec)
    json_type = _json_type(request)
    if json_type in ("json_object", "json_schema") and not spec.thinking_only:
        check_json_mode(spec)
    request, thinking = _resolve_thinking(request, spec)
    enable = request.thinking.enable
    self_hosted = not server.speaks_dashscope
    via_template = server.thinking_via_chat_template
    split = server.parse_think_tags
    if request.tools and not server.native:
        send_strict = True
    else:
        send_strict = False
        if any(t.strict is not None for t in request.tools):
            logger.debug("The native protocol's tool schema has no `strict`; it is not sent.")
    return ResolvedRequest(
        request=request,
        messages=resolve_messages(request),
        thinking=thinking,
        send_enable_thinking=_send_enable_thinking(spec, enable),
        # Thinking (or not knowing whether the model thinks) streams: long reasoning meets the
        # non-streaming timeout, and some models refuse non-streaming thinking calls.
        stream=not batch and (stream or spec.stream_only or thinking is not False),
        chat_template=via_template if via_template is not None else self_hosted and not server.native,
        split_think_tags=split if split is not None else self_hosted and spec.thinking_only,
        send_tool_strict=send_strict,
    )
