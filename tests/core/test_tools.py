"""`qwen_vl_core.tools`: every tool and tool-choice spelling both frameworks use, parsed once."""

from __future__ import annotations

import re
from typing import Any

import pytest
from pydantic import BaseModel, Field

from qwen_vl_core import FunctionChoice, ToolSpec
from qwen_vl_core.request_common import tool_choice_param
from qwen_vl_core.tools import parse_tool_choice, tool_spec, tool_specs, wire_tool

AREA = ToolSpec(
    "area",
    "Area of a rectangle.",
    {"type": "object", "properties": {"w": {"type": "number"}, "h": {"type": "number"}}, "required": ["w", "h"]},
)


class Box(BaseModel):
    """A detected object."""

    label: str = Field(description="what it is")
    score: float = 0.5


def zoom(factor: int, note: str = "") -> str:
    """Zoom into the image.

    Longer explanation that is not part of the description.
    """
    return f"{factor}{note}"


def test_openai_dicts_both_forms() -> None:
    wire = {
        "type": "function",
        "function": {"name": "area", "description": AREA.description, "parameters": AREA.parameters},
    }
    assert tool_spec(wire) == AREA
    bare = {"name": "area", "description": AREA.description, "parameters": AREA.parameters}
    assert tool_spec(bare) == AREA
    assert tool_spec({"type": "function", "function": {"name": "g", "strict": True}}) == ToolSpec(
        "g", "", {"type": "object", "properties": {}}, strict=True
    )
    assert tool_spec(AREA) is AREA


def test_pydantic_model_and_function() -> None:
    assert tool_spec(Box) == ToolSpec(
        "Box",
        "A detected object.",
        {
            "properties": {
                "label": {"description": "what it is", "type": "string"},
                "score": {"default": 0.5, "type": "number"},
            },
            "required": ["label"],
            "type": "object",
        },
    )
    assert tool_spec(zoom) == ToolSpec(
        "zoom",
        "Zoom into the image.",
        {
            "properties": {"factor": {"type": "integer"}, "note": {"default": "", "type": "string"}},
            "required": ["factor"],
            "type": "object",
        },
    )


def test_framework_objects_go_through_the_adapters_converter() -> None:
    seen: list[Any] = []

    def convert(tool: Any) -> dict[str, Any]:
        seen.append(tool)
        return {"type": "function", "function": {"name": "framework_tool", "parameters": {"type": "object"}}}

    marker = object()
    assert tool_spec(marker, convert=convert) == ToolSpec("framework_tool", "", {"type": "object"})
    assert seen == [marker]
    assert tool_spec(AREA, convert=convert) is AREA  # already converted: never converted again
    assert seen == [marker]


@pytest.mark.parametrize(
    ("tool", "message"),
    [
        (
            {"type": "web_search"},
            "Unsupported tool dict with keys ['type']: only function tools are supported, as "
            "{'type': 'function', 'function': {'name', 'description', 'parameters'}}.",
        ),
        (
            {"type": "function", "function": {"description": "no name"}},
            "A tool dict has no function name; a tool needs `name`, `description` and `parameters`.",
        ),
        (
            {"type": "function", "function": {"name": "f", "parameters": "x"}},
            "Tool 'f': `parameters` must be a JSON schema object, got str.",
        ),
        (
            42,
            "Unsupported tool of type int: pass a ToolSpec, an OpenAI function-tool dict, a pydantic model "
            "class or a function.",
        ),
    ],
)
def test_bad_tools(tool: object, message: str) -> None:
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        tool_spec(tool)


def test_tool_specs_sets_strict() -> None:
    assert tool_specs([AREA], strict=True) == (ToolSpec(AREA.name, AREA.description, AREA.parameters, strict=True),)
    assert tool_specs([AREA], strict=None) == (AREA,)
    assert tool_specs(None) == ()


@pytest.mark.parametrize(
    ("choice", "core", "wire"),
    [
        (None, None, None),
        ("auto", "auto", "auto"),
        ("none", "none", "none"),
        (False, "none", "none"),
        ("required", "required", "required"),
        ("any", "required", "required"),
        (True, "required", "required"),
        ({"type": "required"}, "required", "required"),
        ({"type": "any"}, "required", "required"),
        ("area", FunctionChoice("area"), {"type": "function", "function": {"name": "area"}}),
        ({"name": "area"}, FunctionChoice("area"), {"type": "function", "function": {"name": "area"}}),
        (
            {"type": "function", "function": {"name": "area"}},
            FunctionChoice("area"),
            {"type": "function", "function": {"name": "area"}},
        ),
        (FunctionChoice("area"), FunctionChoice("area"), {"type": "function", "function": {"name": "area"}}),
    ],
)
def test_tool_choice_spellings(choice: object, core: object, wire: object) -> None:
    parsed = parse_tool_choice(choice, [AREA])
    assert parsed == core
    assert (tool_choice_param(parsed) if parsed is not None else None) == wire


def test_bad_tool_choices() -> None:
    with pytest.raises(ValueError, match=r"^Unsupported tool_choice 3: use 'auto', 'none', 'required' \(or 'any'"):
        parse_tool_choice(3)
    with pytest.raises(ValueError, match=r"^tool_choice names 'crop', which is not among the tools \['area'\]\.$"):
        parse_tool_choice("crop", [AREA])


def test_wire_tool_copies_the_schema_and_can_leave_strict_out() -> None:
    spec = ToolSpec("f", "d", {"type": "object", "properties": {"a": {"enum": ["x", "y"]}}}, strict=True)
    wire = wire_tool(spec)
    assert wire == {
        "type": "function",
        "function": {"name": "f", "description": "d", "parameters": dict(spec.parameters), "strict": True},
    }
    wire["function"]["parameters"]["properties"]["a"]["enum"].append("z")
    assert spec.parameters["properties"]["a"]["enum"] == ["x", "y"]
    assert "strict" not in wire_tool(spec, strict=False)["function"]
