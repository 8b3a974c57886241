"""`with_structured_output` for DashScope's rules on thinking mode.

- Hybrid model with thinking on: the structured call binds `enable_thinking=False` (forced tool
  choice and JSON mode are rejected in thinking mode); the model instance is never changed.
- Thinking-only model: function calling with `tool_choice="auto"`, and a parser that raises an
  `OutputParserException` carrying the model's text when it answered without calling the tool.
- `json_mode` / `json_schema` only where the catalog says the model has JSON mode.
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
    model: BaseChatModel, schema: Any, spec: ModelSpec, strict: bool | None, bind: dict[str, Any]
) -> tuple[Runnable[LanguageModelInput, Any], Runnable[Any, Any]]:
    if not spec.supports_tools:
        raise ValueError(
            f"{spec.name} has no tool calling, so method='function_calling' cannot work; use a Qwen3-VL "
            "model (or ask for JSON in the prompt and parse the text yourself)."
        )
    name = convert_to_openai_tool(schema)["function"]["name"]
    llm = model.bind_tools(
        [schema],
        tool_choice="auto" if spec.thinking_only else name,
        strict=strict,
        ls_structured_output_format={"kwargs": {"method": "function_calling", "strict": strict}, "schema": schema},
        **bind,
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
    thinking_on: bool,
    schema: Mapping[str, Any] | type,
    *,
    method: StructuredMethod,
    include_raw: bool,
    strict: bool | None,
) -> Runnable[LanguageModelInput, Any]:
    """The runnable behind `ChatQwenVL.with_structured_output` (see the module docstring)."""
    if schema is None:
        raise ValueError("with_structured_output needs a schema (a pydantic model, TypedDict or JSON schema).")
    bind: dict[str, Any] = {}
    if thinking_on and not spec.thinking_only:
        bind = {"enable_thinking": False, "thinking_budget": None}
    if method == "function_calling":
        llm, parser = _function_calling(model, schema, spec, strict, bind)
    elif method in ("json_mode", "json_schema"):
        if not spec.supports_json_mode:
            raise ValueError(
                f"{spec.name} has no JSON mode (thinking-only and QVQ models reject response_format); "
                f"method={method!r} needs a hybrid Qwen3-VL model such as qwen3-vl-plus, or use "
                "method='function_calling'."
            )
        llm = model.bind(
            response_format=_response_format(schema, method, strict),
            ls_structured_output_format={"kwargs": {"method": method, "strict": strict}, "schema": schema},
            **bind,
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
