"""with_structured_output on hybrid (thinking on and off) and thinking-only models, on both protocols."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from langchain_core.exceptions import OutputParserException
from langchain_core.messages import HumanMessage
from lc_support import sent_messages, sent_params, text_message, was_streamed
from pydantic import BaseModel
from typing_extensions import TypedDict

from langchain_qwen_vl import ChatQwenVL
from qwen_vl_core.testing import DashScopeEmulator, Reply, ToolCallReply

ChatFactory = Callable[..., ChatQwenVL]


class Answer(BaseModel):
    """The answer to a maths question."""

    value: float
    unit: str


class AnswerDict(TypedDict):
    """The answer to a maths question."""

    value: float
    unit: str


ANSWER_TOOL = {
    "type": "function",
    "function": {
        "name": "Answer",
        "description": "The answer to a maths question.",
        "parameters": {
            "properties": {"value": {"type": "number"}, "unit": {"type": "string"}},
            "required": ["value", "unit"],
            "type": "object",
        },
    },
}
CALL = ToolCallReply("Answer", '{"value": 6, "unit": "cm2"}', id="call_1")
Q = [HumanMessage("Area of a 3 by 4 triangle?")]


def test_hybrid_thinking_on_runs_the_structured_call_with_thinking_off(
    make_model: ChatFactory, emu: DashScopeEmulator, protocol: str
) -> None:
    model = make_model("qwen3-vl-flash", enable_thinking=True, thinking_budget=2000)
    emu.enqueue(Reply(tool_calls=[CALL]))
    assert model.with_structured_output(Answer).invoke(Q) == Answer(value=6, unit="cm2")
    sent = emu.last_request
    assert (sent.body["model"], sent_messages(sent), sent_params(sent), was_streamed(sent)) == (
        "qwen3-vl-flash",
        [text_message(protocol, "user", "Area of a 3 by 4 triangle?")],
        {
            "tools": [ANSWER_TOOL],
            "tool_choice": {"type": "function", "function": {"name": "Answer"}},
            "enable_thinking": False,
        },
        False,
    )
    assert (model.enable_thinking, model.thinking_budget) == (True, 2000)


def test_hybrid_thinking_off_forces_the_tool(make_model: ChatFactory, emu: DashScopeEmulator) -> None:
    emu.enqueue(Reply(tool_calls=[ToolCallReply("AnswerDict", '{"value": 6, "unit": "cm2"}')]))
    structured = make_model("qwen3-vl-plus").with_structured_output(AnswerDict)
    assert structured.invoke(Q) == {"value": 6, "unit": "cm2"}
    params = sent_params(emu.last_request)
    assert (params["tool_choice"], "enable_thinking" in params) == (
        {"type": "function", "function": {"name": "AnswerDict"}},
        False,
    )


def test_bound_kwargs_keep_ls_structured_output_format() -> None:
    structured = ChatQwenVL(enable_thinking=True).with_structured_output(Answer, strict=True)
    bound = structured.first  # type: ignore[attr-defined]
    assert bound.kwargs["ls_structured_output_format"] == {
        "kwargs": {"method": "function_calling", "strict": True},
        "schema": Answer,
    }
    # The thinking rule is the core's, applied per call (with its warning), not bound here.
    assert (bound.kwargs["tool_choice"], bound.kwargs["allow_tool_choice_fallback"]) == (
        {"type": "function", "function": {"name": "Answer"}},
        True,
    )
    assert "enable_thinking" not in bound.kwargs


def test_thinking_only_offers_the_tool_with_auto(make_model: ChatFactory, emu: DashScopeEmulator) -> None:
    emu.enqueue(Reply(reasoning="Half of 12.", tool_calls=[CALL]))
    assert make_model("qwen3-vl-32b-thinking").with_structured_output(Answer).invoke(Q) == Answer(value=6, unit="cm2")
    params = sent_params(emu.last_request)
    assert (params["tool_choice"], "enable_thinking" in params, was_streamed(emu.last_request)) == ("auto", False, True)


def test_thinking_only_without_a_tool_call_raises_with_the_text(
    make_model: ChatFactory, emu: DashScopeEmulator
) -> None:
    emu.enqueue(Reply(reasoning="Hmm.", text="It is 6 cm2."), Reply(reasoning="Hmm.", text="It is 6 cm2."))
    model = make_model("qwen3-vl-32b-thinking")
    with pytest.raises(OutputParserException) as info:
        model.with_structured_output(Answer).invoke(Q)
    assert str(info.value).startswith(
        "The model answered without calling the structured-output tool 'Answer', so there is nothing to parse. "
        "Its answer was: 'It is 6 cm2.'"
    )
    assert info.value.llm_output == "It is 6 cm2."
    raw = model.with_structured_output(Answer, include_raw=True).invoke(Q)
    assert raw["parsed"] is None
    assert raw["raw"].content == "It is 6 cm2."
    assert isinstance(raw["parsing_error"], OutputParserException)


def test_include_raw_on_success(make_model: ChatFactory, emu: DashScopeEmulator) -> None:
    emu.enqueue(Reply(tool_calls=[CALL]))
    out = make_model().with_structured_output(Answer, include_raw=True).invoke(Q)
    assert (out["parsed"], out["parsing_error"], out["raw"].tool_calls[0]["id"]) == (
        Answer(value=6, unit="cm2"),
        None,
        "call_1",
    )


def test_json_mode_adds_the_word_json_without_touching_the_callers_messages(
    make_model: ChatFactory, emu: DashScopeEmulator, protocol: str
) -> None:
    emu.enqueue(Reply(text='{"value": 6, "unit": "cm2"}'))
    messages = [HumanMessage("Area of a 3 by 4 triangle?")]
    result = (
        make_model("qwen3-vl-plus", enable_thinking=True)
        .with_structured_output(Answer, method="json_mode")
        .invoke(messages)
    )
    assert result == Answer(value=6, unit="cm2")
    assert messages == [HumanMessage("Area of a 3 by 4 triangle?")]
    sent = emu.last_request
    assert (sent.body["model"], sent_messages(sent), sent_params(sent), was_streamed(sent)) == (
        "qwen3-vl-plus",
        [text_message(protocol, "user", "Respond with a JSON object.\n\nArea of a 3 by 4 triangle?")],
        {"response_format": {"type": "json_object"}, "enable_thinking": False},
        False,
    )


def test_json_mode_leaves_a_prompt_that_mentions_json_alone(
    make_model: ChatFactory, emu: DashScopeEmulator, protocol: str
) -> None:
    emu.enqueue(Reply(text='{"value": 6, "unit": "cm2"}'))
    result = make_model().with_structured_output(AnswerDict, method="json_mode").invoke("Answer as JSON: 3x4/2?")
    assert result == {"value": 6, "unit": "cm2"}
    assert sent_messages(emu.last_request) == [text_message(protocol, "user", "Answer as JSON: 3x4/2?")]


def test_json_schema(make_model: ChatFactory, emu: DashScopeEmulator) -> None:
    emu.enqueue(Reply(text='{"value": 6, "unit": "cm2"}'))
    result = make_model().with_structured_output(Answer, method="json_schema", strict=True).invoke(Q)
    assert result == Answer(value=6, unit="cm2")
    assert sent_params(emu.last_request)["response_format"] == {
        "type": "json_schema",
        "json_schema": {
            "name": "Answer",
            "description": "The answer to a maths question.",
            "schema": ANSWER_TOOL["function"]["parameters"],  # type: ignore[index]
            "strict": True,
        },
    }


def test_structured_stream(make_model: ChatFactory, emu: DashScopeEmulator) -> None:
    emu.enqueue(Reply(tool_calls=[ToolCallReply("AnswerDict", '{"value": 6, "unit": "cm2"}')], chunk_size=4))
    chunks: list[Any] = list(make_model().with_structured_output(AnswerDict).stream(Q))
    assert chunks[-1] == {"value": 6, "unit": "cm2"}


@pytest.mark.parametrize(
    ("model", "method", "error"),
    [
        ("qwen3-vl-32b-thinking", "json_mode", "qwen3-vl-32b-thinking has no JSON mode"),
        ("qvq-max", "json_schema", "qvq-max has no JSON mode"),
        (
            "qvq-max",
            "function_calling",
            "qvq-max does not support tool calling, so with_structured_output(method='function_calling') cannot work",
        ),
    ],
)
def test_unsupported_methods_fail_at_construction(model: str, method: str, error: str) -> None:
    with pytest.raises(ValueError, match="^" + re.escape(error)):
        ChatQwenVL(model=model).with_structured_output(Answer, method=method)  # type: ignore[arg-type]


def test_unknown_method_and_extra_kwargs() -> None:
    with pytest.raises(ValueError, match=r"^Unknown method 'xml'"):
        ChatQwenVL().with_structured_output(Answer, method="xml")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"^Received unsupported arguments \['tools'\]"):
        ChatQwenVL().with_structured_output(Answer, tools=[])


def test_invalid_arguments_raise_with_the_raw_text(make_model: ChatFactory, emu: DashScopeEmulator) -> None:
    emu.enqueue(Reply(tool_calls=[ToolCallReply("Answer", '{"value": 6,, "unit": "cm2"}', id="c9")]))
    with pytest.raises(OutputParserException) as info:
        make_model().with_structured_output(Answer).invoke(Q)
    assert str(info.value).startswith("The model called 'Answer' with arguments that are not valid JSON: ")
    assert info.value.llm_output == '{"value": 6,, "unit": "cm2"}'
