"""Tools and tool choices, in every spelling both frameworks use, → the core's `ToolSpec` / `ToolChoice`.

One parser for both adapters, called once per `bind_tools` / `chat_with_tools`:

- tools: `ToolSpec`; OpenAI dicts (`{"type": "function", "function": {...}}` or the bare
  `{"name", "description", "parameters"}`); pydantic model classes; plain functions (their
  signature and docstring); anything else through the adapter's `convert` hook (LangChain and
  LlamaIndex tool objects), which returns an OpenAI dict.
- choices: `auto`, `none`, `required` (`any` and `True` mean required, `False` none), a tool name,
  `{"type": "function", "function": {"name": ...}}`, `{"name": ...}` and `{"type": "auto"}` forms.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from .types import FunctionChoice, ToolChoice, ToolSpec

__all__ = ["ToolConverter", "parse_tool_choice", "tool_spec", "tool_specs", "wire_tool"]

ToolConverter = Callable[[Any], Mapping[str, Any]]
"""A framework's own tool → OpenAI dict conversion (the adapter passes it)."""

_EMPTY_PARAMETERS: Mapping[str, Any] = {"type": "object", "properties": {}}
_LITERAL_CHOICES = ("auto", "none", "required")


def _from_function_dict(function: Mapping[str, Any], where: str) -> ToolSpec:
    name = function.get("name")
    if not isinstance(name, str) or not name:
        raise ValueError(f"{where} has no function name; a tool needs `name`, `description` and `parameters`.")
    parameters = function.get("parameters")
    if parameters is not None and not isinstance(parameters, Mapping):
        raise ValueError(f"Tool {name!r}: `parameters` must be a JSON schema object, got {type(parameters).__name__}.")
    strict = function.get("strict")
    return ToolSpec(
        name=name,
        description=str(function.get("description") or ""),
        parameters=dict(parameters) if parameters else dict(_EMPTY_PARAMETERS),
        strict=strict if isinstance(strict, bool) else None,
    )


def _openai_function(tool: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The function part of an OpenAI-style tool dict, or None when the dict has another shape."""
    if tool.get("type") == "function" and isinstance(tool.get("function"), Mapping):
        return tool["function"]  # type: ignore[no-any-return]
    if "type" not in tool and isinstance(tool.get("name"), str) and ("parameters" in tool or "description" in tool):
        return tool
    return None


def _is_pydantic_model(tool: Any) -> bool:
    try:
        from pydantic import BaseModel
    except ImportError:  # pragma: no cover - pydantic is a dependency
        return False
    return isinstance(tool, type) and issubclass(tool, BaseModel)


def _first_paragraph(doc: str | None) -> str:
    return inspect.cleandoc(doc).split("\n\n", 1)[0].strip() if doc else ""


def _schema_without_titles(schema: dict[str, Any]) -> dict[str, Any]:
    schema.pop("title", None)
    for prop in (schema.get("properties") or {}).values():
        if isinstance(prop, dict):
            prop.pop("title", None)
    return schema


def _from_pydantic(model: Any) -> ToolSpec:
    schema = _schema_without_titles(dict(model.model_json_schema()))
    description = schema.pop("description", None) or _first_paragraph(model.__doc__)
    return ToolSpec(name=model.__name__, description=description, parameters=schema)


def _from_function(function: Callable[..., Any]) -> ToolSpec:
    from pydantic import create_model

    fields: dict[str, Any] = {}
    for name, param in inspect.signature(function).parameters.items():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            continue
        annotation = param.annotation if param.annotation is not inspect.Parameter.empty else Any
        default = param.default if param.default is not inspect.Parameter.empty else ...
        fields[name] = (annotation, default)
    model = create_model(function.__name__, **fields)
    schema = _schema_without_titles(dict(model.model_json_schema()))
    return ToolSpec(name=function.__name__, description=_first_paragraph(function.__doc__), parameters=schema)


def tool_spec(tool: Any, *, convert: ToolConverter | None = None) -> ToolSpec:
    """One tool in any accepted form → `ToolSpec`; `ValueError` naming the tool for anything else."""
    if isinstance(tool, ToolSpec):
        return tool
    if isinstance(tool, Mapping):
        function = _openai_function(tool)
        if function is not None:
            return _from_function_dict(function, "A tool dict")
        if convert is None:
            raise ValueError(
                f"Unsupported tool dict with keys {sorted(tool)}: only function tools are supported, as "
                "{'type': 'function', 'function': {'name', 'description', 'parameters'}}."
            )
    if convert is not None:
        converted = convert(tool)
        function = _openai_function(converted) if isinstance(converted, Mapping) else None
        if function is None:
            raise ValueError(f"Unsupported tool {tool!r}: only function tools are supported.")
        return _from_function_dict(function, f"Tool {tool!r}")
    if _is_pydantic_model(tool):
        return _from_pydantic(tool)
    if inspect.isfunction(tool) or inspect.ismethod(tool):
        return _from_function(tool)
    raise ValueError(
        f"Unsupported tool of type {type(tool).__name__}: pass a ToolSpec, an OpenAI function-tool dict, a "
        "pydantic model class or a function."
    )


def tool_specs(
    tools: Iterable[Any] | None, *, strict: bool | None = None, convert: ToolConverter | None = None
) -> tuple[ToolSpec, ...]:
    """Every tool → `ToolSpec`; `strict` (when not None) is set on all of them."""
    specs = tuple(tool_spec(t, convert=convert) for t in tools or ())
    if strict is not None:
        specs = tuple(replace(s, strict=strict) for s in specs)
    return specs


def parse_tool_choice(choice: Any, tools: Sequence[ToolSpec] | None = None) -> ToolChoice | None:
    """Any accepted `tool_choice` spelling → the core value; a named tool must be among `tools` (if given)."""
    if choice is None or isinstance(choice, FunctionChoice):
        parsed: ToolChoice | None = choice
    elif choice is True or choice == "any":
        parsed = "required"
    elif choice is False:
        parsed = "none"
    elif isinstance(choice, str) and choice in _LITERAL_CHOICES:
        parsed = choice  # type: ignore[assignment]
    elif isinstance(choice, str) and choice:
        parsed = FunctionChoice(choice)
    elif isinstance(choice, Mapping):
        function = choice.get("function")
        name = function.get("name") if isinstance(function, Mapping) else choice.get("name")
        kind = choice.get("type")
        if isinstance(name, str) and name:
            parsed = FunctionChoice(name)
        elif kind in _LITERAL_CHOICES or kind == "any":
            parsed = "required" if kind == "any" else kind
        else:
            parsed = _bad_choice(choice)
    else:
        parsed = _bad_choice(choice)
    if isinstance(parsed, FunctionChoice) and tools is not None:
        names = [t.name for t in tools]
        if parsed.name not in names:
            raise ValueError(f"tool_choice names {parsed.name!r}, which is not among the tools {names}.")
    return parsed


def _bad_choice(choice: Any) -> ToolChoice:
    raise ValueError(
        f"Unsupported tool_choice {choice!r}: use 'auto', 'none', 'required' (or 'any' / True), a tool name, "
        "or {'type': 'function', 'function': {'name': ...}}."
    )


def wire_tool(tool: ToolSpec, *, strict: bool = True) -> dict[str, Any]:
    """The OpenAI-style tool dict both protocols send; `strict=False` leaves the `strict` key out."""
    function: dict[str, Any] = {
        "name": tool.name,
        "description": tool.description,
        "parameters": _deep_copy(tool.parameters),
    }
    if strict and tool.strict is not None:
        function["strict"] = tool.strict
    return {"type": "function", "function": function}


def _deep_copy(value: Any) -> Any:
    """A JSON-shaped copy (mappings and lists copied, leaves shared), cheaper than `copy.deepcopy`."""
    if isinstance(value, Mapping):
        return {k: _deep_copy(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_deep_copy(v) for v in value]
    return value
