"""One LangChain call (messages, `stop`, per-call kwargs) + the model's fields → a neutral `ChatRequest`.

Per-call kwargs win over fields, key by key (`extra_body` is merged, per call winning); nothing the
caller passed and nothing on the model is changed. Unknown kwargs are an error, not silently dropped.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from langchain_core.messages import BaseMessage

from qwen_vl_core import ChatRequest, SamplingOptions, ThinkingOptions

from ._convert import convert_messages, convert_tool_choice, convert_tools, ensure_json_instruction

if TYPE_CHECKING:
    from .chat_models import ChatQwenVL

__all__ = ["CALL_OPTIONS", "build_request"]

CALL_OPTIONS = frozenset(
    {
        "model",
        "tools",
        "tool_choice",
        "parallel_tool_calls",
        "response_format",
        "enable_thinking",
        "thinking_budget",
        "temperature",
        "top_p",
        "max_tokens",
        "seed",
        "vl_high_resolution_images",
        "system_message_mode",
        "extra_body",
        # Read by langchain-core itself; harmless if they reach us.
        "stream",
        "ls_structured_output_format",
        "structured_output_format",
    }
)
"""Keyword arguments `invoke` / `stream` / `bind` accept."""


def build_request(
    model: ChatQwenVL, messages: Sequence[BaseMessage], stop: list[str] | None, kwargs: Mapping[str, Any]
) -> ChatRequest:
    unknown = kwargs.keys() - CALL_OPTIONS
    if unknown:
        raise TypeError(
            f"ChatQwenVL got unexpected keyword argument(s) {sorted(unknown)}; pass other API "
            "parameters in extra_body={...}."
        )
    get = kwargs.get
    core_messages = convert_messages(messages)
    response_format = get("response_format")
    if isinstance(response_format, Mapping) and response_format.get("type") == "json_object":
        core_messages = ensure_json_instruction(core_messages)
    tools = get("tools")
    extra_body = model.extra_body
    call_extra = get("extra_body")
    if call_extra:
        extra_body = {**(extra_body or {}), **call_extra}
    stop = stop or model.stop
    return ChatRequest(
        model=get("model", model.model),
        messages=core_messages,
        tools=convert_tools(tools) if tools else (),
        tool_choice=convert_tool_choice(get("tool_choice")),
        parallel_tool_calls=get("parallel_tool_calls", model.parallel_tool_calls),
        thinking=ThinkingOptions(
            enable=get("enable_thinking", model.enable_thinking),
            budget=get("thinking_budget", model.thinking_budget),
        ),
        sampling=SamplingOptions(
            temperature=get("temperature", model.temperature),
            top_p=get("top_p", model.top_p),
            max_tokens=get("max_tokens", model.max_tokens),
            seed=get("seed", model.seed),
            stop=tuple(stop) if stop else None,
        ),
        response_format=response_format,
        vl_high_resolution_images=get("vl_high_resolution_images", model.vl_high_resolution_images),
        system_message_mode=get("system_message_mode", model.system_message_mode),
        extra_body=extra_body,
    )
