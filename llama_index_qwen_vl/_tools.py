"""LlamaIndex tools and tool-choice values → the core's `ToolSpec` / `ToolChoice`.

`tool_choice` arrives in many shapes (FunctionAgent passes a tool name, FunctionCallingProgram sets
`tool_required`, OpenAI-style callers pass a dict); they all end up as one core value here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from qwen_vl_core import FunctionChoice, ToolSpec
from qwen_vl_core.types import ToolChoice

if TYPE_CHECKING:
    from llama_index.core.tools.types import BaseTool

__all__ = ["is_forced", "resolve_tool_choice", "to_tool_spec", "to_tool_specs"]

_LITERAL_CHOICES = ("auto", "none", "required")


def to_tool_spec(tool: BaseTool | Mapping[str, Any] | ToolSpec) -> ToolSpec:
    """A LlamaIndex tool, an OpenAI-style tool dict or a `ToolSpec` as a `ToolSpec` (no `strict`)."""
    if isinstance(tool, ToolSpec):
        return tool
    if isinstance(tool, Mapping):
        function = tool.get("function", tool)
    else:
        function = tool.metadata.to_openai_tool(skip_length_check=True)["function"]
    return ToolSpec(
        name=function["name"],
        description=function.get("description") or "",
        parameters=function.get("parameters") or {"type": "object", "properties": {}},
    )


def to_tool_specs(tools: Sequence[Any] | None) -> tuple[ToolSpec, ...]:
    return tuple(to_tool_spec(t) for t in tools or ())


def resolve_tool_choice(choice: Any, *, tool_required: bool = False) -> ToolChoice | None:
    """`None` + `tool_required` → "required"; a tool name or `{"function": {"name"}}` dict → forced."""
    if choice is None:
        return "required" if tool_required else None
    if isinstance(choice, FunctionChoice):
        return choice
    if isinstance(choice, str):
        return choice if choice in _LITERAL_CHOICES else FunctionChoice(choice)  # type: ignore[return-value]
    if isinstance(choice, Mapping):
        name = (choice.get("function") or {}).get("name") or choice.get("name")
        if isinstance(name, str) and name:
            return FunctionChoice(name)
        kind = choice.get("type")
        if kind in _LITERAL_CHOICES:
            return kind  # type: ignore[no-any-return]
    raise ValueError(
        f"Unsupported tool_choice {choice!r}: use 'auto', 'none', 'required', a tool name, or "
        "{'type': 'function', 'function': {'name': ...}}."
    )


def is_forced(choice: ToolChoice | None) -> bool:
    return choice == "required" or isinstance(choice, FunctionChoice)
