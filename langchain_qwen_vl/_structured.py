"""`with_structured_output`: which tool or response format to bind, and the parsers.

The rules for thinking mode are the core's (`qwen_vl_core.policies`), the same for LlamaIndex:
function calling binds the tool as a forced choice with `allow_tool_choice_fallback`, so a hybrid
model runs the call with thinking off and a thinking-only model gets `tool_choice="auto"` (each with
a warning); the parser then raises an `OutputParserException` carrying the model's text when it
answered without calling the tool. `json_mode` / `json_schema` need a model with JSON mode
(checked here, when the runnable is built).
"""

from __future__ import annotations

from collections.abc import Mapping
from operator import itemgetter
from typing import Any, Literal

from langchain_core.exceptions import OutputParserException
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import AIMessage
from langchain_core.output_parsers import JsonOutputParser, PydanticOutputParser
from langchain_core.output_parsers.openai_tools import JsonOutputKeyToolsParser, PydanticToolsParser
from langchain_core.outputs import ChatGeneration, Generation
from langchain_core.runnables import Runnable, RunnableMap, RunnablePassthrough
from langchain_core.utils.function_calling import convert_to_openai_tool
from langchain_core.utils.pydantic import is_basemodel_subclass

from qwen_vl_core import ModelSpec
from qwen_vl_core.policies import check_json_mode, check_tools
from qwen_vl_core.tools import tool_spec

__all__ = ["StructuredMethod", "structured_output"]

StructuredMethod = Literal["function_calling", "json_mode", "json_schema"]


def _require_tool_call(result: list[Generation], name: str) -> None:
    """Fail loudly, with the model's own words, when no valid call of tool `name` came back."""
    generation = result[0] if result else None
    if not isinstance(generation, ChatGeneration) or not isinstance(generation.message, AIMessage):
        return
    message = generation.message
    if any(call["name"] == name for call in message.tool_calls):
        return
    invalid = [call for call in message.invalid_tool_calls if call["name"] == name]
    if invalid:
        bad = invalid[0]
        raise OutputParserException(
            f"The model called {bad['name']!r} with arguments that are not valid JSON: {bad['args']!r} "
            f"({bad['error']}).",
            llm_output=bad["args"],
        )
    raise OutputParserException(
        f"The model answered without calling the structured-output tool {name!r}, so there is nothing to "
        f"parse. Its answer was: {message.text!r}",
        llm_output=message.text,
    )


class _PydanticToolParser(PydanticToolsParser):
    def parse_result(self, result: list[Generation], *, partial: bool = False) -> Any:
        if not partial:
            _require_tool_call(result, self.tools[0].__name__)
        return super().parse_result(result, partial=partial)


class _JsonToolParser(JsonOutputKeyToolsParser):
    def parse_result(self, result: list[Generation], *, partial: bool = False) -> Any:
        if not partial:
            _require_tool_call(result, self.key_name)
        return super().parse_result(result, partial=partial)


def _function_calling(
    model: BaseChatModel, schema: Any, spec: ModelSpec, strict: bool | None
) -> tuple[Runnable[LanguageModelInput, Any], Runnable[Any, Any]]:
    check_tools(spec, "with_structured_output(method='function_calling')")
    name = tool_spec(schema, convert=convert_to_openai_tool).name
    llm = model.bind_tools(
        [schema],
        tool_choice=name,
        strict=strict,
        allow_tool_choice_fallback=True,
        ls_structured_output_format={"kwargs": {"method": "function_calling", "strict": strict}, "schema": schema},
    )
    if isinstance(schema, type) and is_basemodel_subclass(schema):
        return llm, _PydanticToolParser(tools=[schema], first_tool_only=True)
    return llm, _JsonToolParser(key_name=name, first_tool_only=True)


def _response_format(schema: Any, method: StructuredMethod, strict: bool | None) -> dict[str, Any]:
    if method == "json_mode":
        return {"type": "json_object"}
    function = convert_to_openai_tool(schema)["function"]
    json_schema: dict[str, Any] = {"name": function["name"], "schema": function.get("parameters", {})}
    if function.get("description"):
        json_schema["description"] = function["description"]
    if strict is not None:
        json_schema["strict"] = strict
    return {"type": "json_schema", "json_schema": json_schema}


def structured_output(
    model: BaseChatModel,
    spec: ModelSpec,
    schema: Mapping[str, Any] | type,
    *,
    method: StructuredMethod,
    include_raw: bool,
    strict: bool | None,
) -> Runnable[LanguageModelInput, Any]:
    """The runnable behind `ChatQwenVL.with_structured_output` (see the module docstring)."""
    if schema is None:
        raise ValueError("with_structured_output needs a schema (a pydantic model, TypedDict or JSON schema).")
    if method == "function_calling":
        llm, parser = _function_calling(model, schema, spec, strict)
    elif method in ("json_mode", "json_schema"):
        check_json_mode(spec, f"with_structured_output(method={method!r})")
        llm = model.bind(
            response_format=_response_format(schema, method, strict),
            ls_structured_output_format={"kwargs": {"method": method, "strict": strict}, "schema": schema},
        )
        pydantic = isinstance(schema, type) and is_basemodel_subclass(schema)
        parser = PydanticOutputParser(pydantic_object=schema) if pydantic else JsonOutputParser()  # type: ignore[arg-type]
    else:
        raise ValueError(f"Unknown method {method!r}: use 'function_calling', 'json_mode' or 'json_schema'.")
    if not include_raw:
        return llm | parser
    parser_assign = RunnablePassthrough.assign(parsed=itemgetter("raw") | parser, parsing_error=lambda _: None)
    parser_none = RunnablePassthrough.assign(parsed=lambda _: None)
    with_fallback = parser_assign.with_fallbacks([parser_none], exception_key="parsing_error")
    return RunnableMap(raw=llm) | with_fallback
