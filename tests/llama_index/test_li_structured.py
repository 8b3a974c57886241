"""Structured output: `structured_predict` (+ async / streaming) and `as_structured_llm`, in every
thinking case: hybrid off, hybrid on (the core turns thinking off), thinking-only, QVQ (no tools),
on both wire protocols."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable

import pytest
from li_support import sent_messages, sent_params, text_message, was_streamed
from llama_index.core.base.llms.types import ChatMessage
from llama_index.core.prompts import PromptTemplate
from pydantic import BaseModel

from llama_index_qwen_vl import QwenVL
from qwen_vl_core.testing import DashScopeEmulator, Reply, ToolCallReply

MakeLLM = Callable[..., QwenVL]
PROMPT = PromptTemplate("Describe the {thing}.")


class Scene(BaseModel):
    """A scene description."""

    objects: list[str]
    count: int


ARGS = '{"objects": ["dot", "line"], "count": 2}'
SCENE = Scene(objects=["dot", "line"], count=2)
TOOL_REPLY = Reply(tool_calls=[ToolCallReply(name="Scene", arguments=ARGS, id="c1")])


def test_hybrid_thinking_off_forces_the_tool(make_llm: MakeLLM, emu: DashScopeEmulator, protocol: str) -> None:
    emu.enqueue(TOOL_REPLY)
    assert make_llm().structured_predict(Scene, PROMPT, thing="image") == SCENE
    params = sent_params(emu.last_request)
    assert params["tool_choice"] == "required"
    assert [t["function"]["name"] for t in params["tools"]] == ["Scene"]
    assert sent_messages(emu.last_request) == [text_message(protocol, "user", "Describe the image.")]
    assert "enable_thinking" not in params


def test_hybrid_thinking_on_runs_this_call_without_thinking(
    make_llm: MakeLLM, emu: DashScopeEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    emu.enqueue(TOOL_REPLY)
    with caplog.at_level(logging.WARNING, logger="qwen_vl_core"):
        assert make_llm(enable_thinking=True).structured_predict(Scene, PROMPT, thing="image") == SCENE
    assert sent_params(emu.last_request)["enable_thinking"] is False
    assert sent_params(emu.last_request)["tool_choice"] == "required"
    assert [r.getMessage() for r in caplog.records] == [
        "forced tool_choice is not allowed in thinking mode; this request to qwen3-vl-plus runs with thinking "
        "switched off."
    ]


def test_thinking_only_model_uses_auto_and_keeps_thinking(make_llm: MakeLLM, emu: DashScopeEmulator) -> None:
    emu.enqueue(Reply(reasoning="Two things.", tool_calls=[ToolCallReply(name="Scene", arguments=ARGS)]))
    assert make_llm("qwen3-vl-8b-thinking").structured_predict(Scene, PROMPT, thing="image") == SCENE
    assert sent_params(emu.last_request)["tool_choice"] == "auto"
    assert was_streamed(emu.last_request)


def test_thinking_only_model_answering_in_text_is_a_clear_error(make_llm: MakeLLM, emu: DashScopeEmulator) -> None:
    emu.enqueue(Reply(reasoning="Hmm.", text="I see a dot and a line."))
    with pytest.raises(
        ValueError,
        match=r"^Expected at least one tool call, but the model answered without one\. "
        r"Its reply: 'I see a dot and a line\.'$",
    ):
        make_llm("qwen3-vl-8b-thinking").structured_predict(Scene, PROMPT, thing="image")


def test_qvq_has_no_tools_and_parses_json_from_text(make_llm: MakeLLM, emu: DashScopeEmulator) -> None:
    emu.enqueue(Reply(reasoning="Let me list them.", text=f"```json\n{ARGS}\n```"))
    assert make_llm("qvq-max").structured_predict(Scene, PROMPT, thing="image") == SCENE
    assert "tools" not in sent_params(emu.last_request)


async def test_astructured_predict(make_llm: MakeLLM, emu: DashScopeEmulator) -> None:
    emu.enqueue(TOOL_REPLY)
    assert await make_llm().astructured_predict(Scene, PROMPT, thing="image") == SCENE


def test_stream_structured_predict_yields_growing_objects(make_llm: MakeLLM, emu: DashScopeEmulator) -> None:
    pieces = ['{"objects": ["dot"', ', "line"], ', '"count": 2}']
    emu.enqueue(Reply(tool_calls=[ToolCallReply(name="Scene", arguments=pieces)]))
    partials = list(make_llm().stream_structured_predict(Scene, PROMPT, thing="image"))
    assert [p.model_dump() for p in partials] == [  # type: ignore[union-attr]
        {"objects": ["dot"], "count": None},
        {"objects": ["dot", "line"], "count": None},
        {"objects": ["dot", "line"], "count": 2},
        {"objects": ["dot", "line"], "count": 2},  # the final message, parsed exactly
    ]
    assert partials[-1] == SCENE


async def test_astream_structured_predict(make_llm: MakeLLM, emu: DashScopeEmulator) -> None:
    emu.enqueue(Reply(tool_calls=[ToolCallReply(name="Scene", arguments=ARGS, id="c1")], chunk_size=5))
    partials = [p async for p in await make_llm().astream_structured_predict(Scene, PROMPT, thing="image")]
    assert partials[-1] == SCENE


def test_as_structured_llm_chat(make_llm: MakeLLM, emu: DashScopeEmulator) -> None:
    emu.enqueue(TOOL_REPLY)
    structured = make_llm().as_structured_llm(Scene)
    response = structured.chat([ChatMessage(role="user", content="Describe the image.")])
    assert response.raw == SCENE
    assert json.loads(response.message.content or "") == SCENE.model_dump()
    assert sent_params(emu.last_request)["tool_choice"] == "required"
