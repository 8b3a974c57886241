"""What both wire builders send the same way: parameters, tools and tool choice.

The keys are the same in both protocols: top level in the OpenAI-compatible body, under
`parameters` in the native one.
"""

from __future__ import annotations

import copy
from typing import Any

from .policies import ResolvedRequest
from .tools import wire_tool
from .types import ChatRequest, FunctionChoice, ToolChoice

__all__ = ["request_params", "sampling_params", "tool_choice_param"]


def tool_choice_param(choice: ToolChoice) -> Any:
    """The wire form of a tool choice."""
    if isinstance(choice, FunctionChoice):
        return {"type": "function", "function": {"name": choice.name}}
    return choice


def sampling_params(request: ChatRequest) -> dict[str, Any]:
    """Sampling options that were set."""
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
    """Everything but messages and streaming switches, with `extra_body` merged last."""
    request = resolved.request
    params = sampling_params(request)
    if request.tools:
        params["tools"] = [wire_tool(t, strict=resolved.send_tool_strict) for t in request.tools]
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
    if request.preserve_thinking:
        params["preserve_thinking"] = True
    if request.vl_high_resolution_images is not None:
        params["vl_high_resolution_images"] = request.vl_high_resolution_images
    if request.extra_body:
        params.update(copy.deepcopy(dict(request.extra_body)))
    return params
