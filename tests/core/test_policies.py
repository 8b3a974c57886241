"""Request policies and the compat body builder: pure functions, exact bodies."""

from __future__ import annotations

import copy
import logging

import pytest

from qwen_vl_core import (
    ChatRequest,
    FunctionChoice,
    ImagePart,
    Message,
    SamplingOptions,
    TextPart,
    ThinkingOptions,
    ToolCall,
    ToolSpec,
    VideoPart,
    build_compat_body,
    get_spec,
)

PLUS = get_spec("qwen3-vl-plus")
THINKER = get_spec("qwen3-vl-32b-thinking")
QVQ = get_spec("qvq-max")
TOOL = ToolSpec("get_weather", "Weather for a city.", {"type": "object", "properties": {"city": {"type": "string"}}})


def user(*parts: str | TextPart | ImagePart | VideoPart) -> Message:
    return Message("user", tuple(TextPart(p) if isinstance(p, str) else p for p in parts))


def system(text: str) -> Message:
    return Message("system", (TextPart(text),))


def req(*messages: Message, model: str = "qwen3-vl-plus", **kw: object) -> ChatRequest:
    return ChatRequest(model=model, messages=messages, **kw)  # type: ignore[arg-type]


def test_plain_body_non_streaming() -> None:
    body = build_compat_body(req(user("hi")), PLUS, stream=False)
    assert body == {"model": "qwen3-vl-plus", "messages": [{"role": "user", "content": "hi"}]}


def test_stream_always_asks_for_usage() -> None:
    body = build_compat_body(
        req(user("hi"), extra_body={"stream_options": {"include_usage": False}}), PLUS, stream=True
    )
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}


def test_streaming_only_model_is_always_streamed() -> None:
    body = build_compat_body(req(user("hi"), model="qvq-max"), QVQ, stream=False)
    assert body == {
        "model": "qvq-max",
        "messages": [{"role": "user", "content": "hi"}],
        "stream": True,
        "stream_options": {"include_usage": True},
    }


def test_multimodal_parts_keep_order_and_options() -> None:
    message = user(
        ImagePart("https://x/a.png", max_pixels=1_000_000),
        "between",
        VideoPart(frames=("https://x/1.jpg", "https://x/2.jpg"), fps=2.0),
        VideoPart(url="https://x/v.mp4"),
    )
    body = build_compat_body(req(message), PLUS, stream=False)
    assert body["messages"][0]["content"] == [
        {"type": "image_url", "image_url": {"url": "https://x/a.png"}, "max_pixels": 1_000_000},
        {"type": "text", "text": "between"},
        {"type": "video", "video": ["https://x/1.jpg", "https://x/2.jpg"], "fps": 2.0},
        {"type": "video_url", "video_url": {"url": "https://x/v.mp4"}},
    ]


def test_thinking_options_and_sampling() -> None:
    request = req(
        user("hi"),
        thinking=ThinkingOptions(enable=True, budget=1000),
        sampling=SamplingOptions(temperature=0.5, max_tokens=99, seed=7, stop=("x",)),
        vl_high_resolution_images=True,
    )
    body = build_compat_body(request, PLUS, stream=True)
    assert body == {
        "model": "qwen3-vl-plus",
        "messages": [{"role": "user", "content": "hi"}],
        "stream": True,
        "stream_options": {"include_usage": True},
        "temperature": 0.5,
        "max_tokens": 99,
        "seed": 7,
        "stop": ["x"],
        "enable_thinking": True,
        "thinking_budget": 1000,
        "vl_high_resolution_images": True,
    }


def test_enable_thinking_false_is_sent_for_hybrid() -> None:
    body = build_compat_body(req(user("hi"), thinking=ThinkingOptions(enable=False)), PLUS, stream=False)
    assert body["enable_thinking"] is False


def test_thinking_only_models_get_no_enable_thinking_unless_true() -> None:
    assert "enable_thinking" not in build_compat_body(req(user("hi"), model=THINKER.name), THINKER, stream=True)
    assert "enable_thinking" not in build_compat_body(req(user("hi"), model="qvq-max"), QVQ, stream=True)


@pytest.mark.parametrize(
    ("spec", "thinking", "message"),
    [
        (
            THINKER,
            ThinkingOptions(enable=False),
            "qwen3-vl-32b-thinking is a thinking-only model: enable_thinking=False is not allowed",
        ),
        (QVQ, ThinkingOptions(enable=False), "qvq-max is a thinking-only model"),
        (QVQ, ThinkingOptions(budget=100), "qvq-max has no thinking_budget"),
        (PLUS, ThinkingOptions(budget=100), "thinking_budget=100 was given but thinking is off for qwen3-vl-plus"),
        (
            PLUS,
            ThinkingOptions(enable=True, budget=81_921),
            "thinking_budget must be a positive integer no greater than 81920 for qwen3-vl-plus; got 81921.",
        ),
        (PLUS, ThinkingOptions(enable=True, budget=0), "thinking_budget must be a positive integer"),
    ],
)
def test_thinking_rules_raise_before_sending(spec, thinking, message) -> None:
    with pytest.raises(ValueError, match="^" + message.replace("(", r"\(").replace(")", r"\)").replace(".", r"\.")):
        build_compat_body(req(user("hi"), model=spec.name, thinking=thinking), spec, stream=True)


def test_budget_allowed_on_thinking_only_qwen3_vl() -> None:
    body = build_compat_body(
        req(user("hi"), model=THINKER.name, thinking=ThinkingOptions(budget=50)), THINKER, stream=True
    )
    assert body["thinking_budget"] == 50


@pytest.mark.parametrize("choice", ["required", FunctionChoice("get_weather")])
def test_forced_tool_choice_on_hybrid_switches_thinking_off(choice, caplog) -> None:
    request = req(user("hi"), tools=(TOOL,), tool_choice=choice, thinking=ThinkingOptions(enable=True))
    with caplog.at_level(logging.WARNING, logger="qwen_vl_core"):
        body = build_compat_body(request, PLUS, stream=False)
    assert body["enable_thinking"] is False
    expected = "required" if choice == "required" else {"type": "function", "function": {"name": "get_weather"}}
    assert body["tool_choice"] == expected
    assert caplog.messages == [
        "forced tool_choice is not allowed in thinking mode; this request to qwen3-vl-plus runs with "
        "thinking switched off."
    ]


def test_forced_tool_choice_on_thinking_only_is_an_error() -> None:
    request = req(user("hi"), model=THINKER.name, tools=(TOOL,), tool_choice="required")
    with pytest.raises(
        ValueError, match="qwen3-vl-32b-thinking always thinks, and the API rejects forced tool_choice in thinking mode"
    ):
        build_compat_body(request, THINKER, stream=True)


def test_json_mode_in_thinking_mode() -> None:
    rf = {"type": "json_object"}
    body = build_compat_body(
        req(user("json"), response_format=rf, thinking=ThinkingOptions(enable=True)), PLUS, stream=False
    )
    assert body["enable_thinking"] is False
    assert body["response_format"] == rf
    with pytest.raises(ValueError, match="rejects JSON mode in thinking mode"):
        build_compat_body(req(user("json"), model=THINKER.name, response_format=rf), THINKER, stream=True)


def test_auto_and_none_tool_choice_keep_thinking() -> None:
    request = req(
        user("hi"), tools=(TOOL,), tool_choice="auto", parallel_tool_calls=False, thinking=ThinkingOptions(enable=True)
    )
    body = build_compat_body(request, PLUS, stream=True)
    assert body["enable_thinking"] is True
    assert body["tool_choice"] == "auto"
    assert body["parallel_tool_calls"] is False
    assert body["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "Weather for a city.",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
            },
        }
    ]


def test_tools_on_qvq_are_rejected() -> None:
    with pytest.raises(ValueError, match="qvq-max does not support tool calling"):
        build_compat_body(req(user("hi"), model="qvq-max", tools=(TOOL,)), QVQ, stream=True)


def test_system_auto_folds_without_tools() -> None:
    request = req(system("Be brief."), system("Use metric."), user(ImagePart("https://x/a.png"), "What?"))
    body = build_compat_body(request, PLUS, stream=False)
    assert body["messages"] == [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Be brief.\n\nUse metric."},
                {"type": "image_url", "image_url": {"url": "https://x/a.png"}},
                {"type": "text", "text": "What?"},
            ],
        }
    ]


def test_system_auto_keeps_with_tools_and_keep_mode() -> None:
    with_tools = build_compat_body(req(system("S"), user("U"), tools=(TOOL,)), PLUS, stream=False)
    assert with_tools["messages"][:2] == [{"role": "system", "content": "S"}, {"role": "user", "content": "U"}]
    kept = build_compat_body(req(system("S"), user("U"), system_message_mode="keep"), PLUS, stream=False)
    assert kept["messages"] == [{"role": "system", "content": "S"}, {"role": "user", "content": "U"}]
    folded = build_compat_body(
        req(system("S"), user("U"), tools=(TOOL,), system_message_mode="fold"), PLUS, stream=False
    )
    assert folded["messages"] == [{"role": "user", "content": "S\n\nU"}]


def test_late_system_message_is_never_sent_as_system() -> None:
    history = (
        user("Q1"),
        Message("assistant", (TextPart("A1"),)),
        system("Stop now and answer."),
    )
    body = build_compat_body(req(*history), PLUS, stream=False)
    assert body["messages"] == [
        {"role": "user", "content": "Q1"},
        {"role": "assistant", "content": "A1"},
        {"role": "user", "content": "Stop now and answer."},
    ]


def test_no_user_message_is_an_error() -> None:
    with pytest.raises(ValueError, match="The request has no user message"):
        build_compat_body(req(system("only system")), PLUS, stream=False)


def test_history_tool_calls_and_no_reasoning() -> None:
    history = (
        user("Weather?"),
        Message(
            "assistant",
            (),
            tool_calls=(ToolCall("call_1", "get_weather", '{"city": "Paris"}'),),
            reasoning="I should call the tool.",
        ),
        Message("tool", (TextPart("18C"),), tool_call_id="call_1"),
        Message("assistant", (TextPart("It is 18C."),), reasoning="Done thinking."),
        user("Thanks"),
    )
    body = build_compat_body(req(*history, tools=(TOOL,)), PLUS, stream=False)
    assert body["messages"] == [
        {"role": "user", "content": "Weather?"},
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                }
            ],
        },
        {"role": "tool", "content": "18C", "tool_call_id": "call_1"},
        {"role": "assistant", "content": "It is 18C."},
        {"role": "user", "content": "Thanks"},
    ]


def test_builder_never_mutates_inputs() -> None:
    extra = {"top_k": 5, "nested": {"a": [1]}}
    request = req(
        system("S"),
        user("U"),
        tools=(TOOL,),
        extra_body=extra,
        thinking=ThinkingOptions(enable=True),
        tool_choice="required",
    )
    before = copy.deepcopy(request)
    body = build_compat_body(request, PLUS, stream=True)
    body["nested"]["a"].append(2)
    body["tools"][0]["function"]["parameters"]["properties"]["x"] = 1
    assert request == before
    assert extra == {"top_k": 5, "nested": {"a": [1]}}
    assert dict(TOOL.parameters) == {"type": "object", "properties": {"city": {"type": "string"}}}


def test_images_in_a_system_message_are_an_error() -> None:
    request = req(Message("system", (ImagePart("https://x/a.png"), TextPart("S"))), user("U"))
    with pytest.raises(ValueError, match="A system message can only hold text"):
        build_compat_body(request, PLUS, stream=False)


def test_json_instruction_added_after_leading_system_messages_only_when_missing() -> None:
    from qwen_vl_core.policies import JSON_INSTRUCTION, ensure_json_instruction

    lead = Message("system", (TextPart("Be brief."),))
    question = Message("user", (TextPart("Name a colour."),))
    assert ensure_json_instruction((lead, question)) == (
        lead,
        Message("system", (TextPart(JSON_INSTRUCTION),)),
        question,
    )
    with_word = (Message("user", (TextPart("Answer in JSON please"),)),)
    assert ensure_json_instruction(with_word) is with_word


def test_json_object_mode_gets_the_instruction_on_the_wire() -> None:
    rf = {"type": "json_object"}
    body = build_compat_body(req(system("Be brief."), user("Name a colour."), response_format=rf), PLUS, stream=False)
    assert body["messages"] == [
        {"role": "user", "content": "Be brief.\n\nRespond with a JSON object.\n\nName a colour."}
    ]
    schema = {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}}}
    body = build_compat_body(req(user("Name a colour."), response_format=schema), PLUS, stream=False)
    assert body["messages"] == [{"role": "user", "content": "Name a colour."}]
