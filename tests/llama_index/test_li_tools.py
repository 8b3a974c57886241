"""Tools: specs, tool choice, `chat_with_tools` on the wire (both protocols), parallel calls, `predict_and_call`."""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable

import pytest
from li_support import assistant_calls, sent_messages, sent_params, text_message, tool_result, was_streamed
from llama_index.core.base.llms.types import ChatMessage, MessageRole, TextBlock, ToolCallBlock
from llama_index.core.llms.llm import ToolSelection
from llama_index.core.tools import FunctionTool

from llama_index_qwen_vl import QwenVL
from qwen_vl_core import FunctionChoice, ToolSpec
from qwen_vl_core.testing import DashScopeEmulator, Reply, ToolCallReply

MakeLLM = Callable[..., QwenVL]


def zoom(factor: int, note: str = "") -> str:
    """Zoom into the image."""
    return f"zoomed x{factor} {note}".strip()


def crop(x: int) -> str:
    """Crop the image at x."""
    return f"cropped at {x}"


ZOOM = FunctionTool.from_defaults(zoom)
CROP = FunctionTool.from_defaults(crop)
ZOOM_SPEC = ToolSpec(
    name="zoom",
    description=ZOOM.metadata.description,  # LlamaIndex's own rendering of the signature
    parameters={
        "properties": {
            "factor": {"title": "Factor", "type": "integer"},
            "note": {"default": "", "title": "Note", "type": "string"},
        },
        "required": ["factor"],
        "type": "object",
    },
)
ZOOM_WIRE = {
    "type": "function",
    "function": {"name": "zoom", "description": ZOOM_SPEC.description, "parameters": dict(ZOOM_SPEC.parameters)},
}


def test_tool_spec_from_a_function_tool_a_function_and_a_dict() -> None:
    llm = QwenVL()
    for tool in (ZOOM, zoom, ZOOM_WIRE, ZOOM_SPEC):
        assert llm._prepare_chat_with_tools([tool], user_msg="x")["tools"] == (ZOOM_SPEC,)


def test_prepare_chat_with_tools_copies_history_and_resolves_choice() -> None:
    llm = QwenVL()
    history = [ChatMessage(role="user", content="earlier")]
    before = copy.deepcopy(history)
    kwargs = llm._prepare_chat_with_tools(
        [ZOOM],
        user_msg="now",
        chat_history=history,
        allow_parallel_tool_calls=True,
        tool_required=True,
        temperature=0.3,
    )
    assert history == before
    assert kwargs == {
        "messages": [ChatMessage(role="user", content="earlier"), ChatMessage(role=MessageRole.USER, content="now")],
        "tools": (ZOOM_SPEC,),
        "tool_choice": "required",
        "parallel_tool_calls": True,
        "allow_tool_choice_fallback": True,
        "temperature": 0.3,
    }
    assert llm._prepare_chat_with_tools([ZOOM], user_msg="x", tool_choice="zoom")["tool_choice"] == FunctionChoice(
        "zoom"
    )
    assert llm._prepare_chat_with_tools([], user_msg="x", tool_required=True) == {
        "messages": [ChatMessage(role=MessageRole.USER, content="x")]
    }


def test_strict_is_accepted_and_set_on_the_tools() -> None:
    kwargs = QwenVL()._prepare_chat_with_tools([ZOOM], user_msg="x", strict=True)
    assert kwargs["tools"] == (ToolSpec(ZOOM_SPEC.name, ZOOM_SPEC.description, ZOOM_SPEC.parameters, strict=True),)


def test_thinking_only_model_gets_auto_for_a_required_call_and_an_error_for_a_demanded_one(
    make_llm: MakeLLM, emu: DashScopeEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    emu.enqueue(Reply(reasoning="Zoom.", tool_calls=[ToolCallReply(name="zoom", arguments='{"factor": 2}')]))
    llm = make_llm("qwen3-vl-32b-thinking")
    with caplog.at_level(logging.WARNING, logger="qwen_vl_core"):
        llm.chat_with_tools([ZOOM], user_msg="x", tool_required=True)
    assert sent_params(emu.last_request)["tool_choice"] == "auto"
    assert [r.getMessage() for r in caplog.records if r.name == "qwen_vl_core"] == [
        "qwen3-vl-32b-thinking always thinks and the API rejects forced tool_choice in thinking mode; this "
        "request is sent with tool_choice='auto', and the model may answer without calling the tool."
    ]
    with pytest.raises(
        ValueError, match=r"^qwen3-vl-32b-thinking always thinks, and the API rejects forced tool_choice"
    ):
        llm.chat_with_tools([ZOOM], user_msg="x", tool_choice="zoom")
    assert len(emu.requests) == 1


def test_chat_with_tools_on_the_wire_and_back(make_llm: MakeLLM, emu: DashScopeEmulator, protocol: str) -> None:
    llm = make_llm()
    emu.enqueue(Reply(tool_calls=[ToolCallReply(name="zoom", arguments='{"factor": 2}', id="call_1")]))
    response = llm.chat_with_tools([ZOOM], user_msg="zoom in", tool_choice="zoom")
    sent = emu.last_request
    assert (sent.body["model"], sent_messages(sent), sent_params(sent), was_streamed(sent)) == (
        "qwen3-vl-plus",
        [text_message(protocol, "user", "zoom in")],
        {
            "tools": [ZOOM_WIRE],
            "tool_choice": {"type": "function", "function": {"name": "zoom"}},
            "parallel_tool_calls": False,
        },
        False,
    )
    assert response.message.blocks == [
        TextBlock(text=""),
        ToolCallBlock(tool_call_id="call_1", tool_name="zoom", tool_kwargs={"factor": 2}),
    ]
    assert llm.get_tool_calls_from_response(response) == [
        ToolSelection(tool_id="call_1", tool_name="zoom", tool_kwargs={"factor": 2})
    ]


def test_tool_round_trip_history_on_the_wire(make_llm: MakeLLM, emu: DashScopeEmulator, protocol: str) -> None:
    llm = make_llm()
    emu.enqueue(Reply(tool_calls=[ToolCallReply(name="zoom", arguments='{"factor": 2}', id="call_1")]))
    first = llm.chat_with_tools([ZOOM], user_msg="zoom in")
    history = [
        ChatMessage(role="user", content="zoom in"),
        first.message,
        ChatMessage(role="tool", content="zoomed x2", additional_kwargs={"tool_call_id": "call_1"}),
    ]
    llm.chat_with_tools([ZOOM], chat_history=history)
    assert sent_messages(emu.last_request) == [
        text_message(protocol, "user", "zoom in"),
        assistant_calls(("call_1", "zoom", '{"factor": 2}')),
        tool_result(protocol, "zoomed x2", "call_1"),
    ]


def test_parallel_calls_kept_only_when_allowed(make_llm: MakeLLM, emu: DashScopeEmulator) -> None:
    llm = make_llm()
    two = Reply(
        tool_calls=[
            ToolCallReply(name="zoom", arguments='{"factor": 2}', id="c1"),
            ToolCallReply(name="crop", arguments='{"x": 5}', id="c2"),
        ]
    )
    emu.enqueue(two, two)
    both = llm.chat_with_tools([ZOOM, CROP], user_msg="go", allow_parallel_tool_calls=True)
    assert sent_params(emu.last_request)["parallel_tool_calls"] is True
    assert [s.tool_name for s in llm.get_tool_calls_from_response(both)] == ["zoom", "crop"]
    first = llm.chat_with_tools([ZOOM, CROP], user_msg="go")
    assert llm.get_tool_calls_from_response(first) == [
        ToolSelection(tool_id="c1", tool_name="zoom", tool_kwargs={"factor": 2})
    ]
    assert first.message.additional_kwargs["tool_calls"] == [
        {"id": "c1", "type": "function", "function": {"name": "zoom", "arguments": '{"factor": 2}'}}
    ]


async def test_stream_and_astream_chat_with_tools(make_llm: MakeLLM, emu: DashScopeEmulator) -> None:
    llm = make_llm()
    reply = Reply(tool_calls=[ToolCallReply(name="zoom", arguments=['{"fac', 'tor": 3, ', '"note": "a b"}'], id="c1")])
    emu.enqueue(reply, reply)
    chunks = list(llm.stream_chat_with_tools([ZOOM], user_msg="go"))
    seen = [llm.get_tool_calls_from_response(c, error_on_no_tool_call=False) for c in chunks]
    assert seen[-1] == [ToolSelection(tool_id="c1", tool_name="zoom", tool_kwargs={"factor": 3, "note": "a b"})]
    achunks = [c async for c in await llm.astream_chat_with_tools([ZOOM], user_msg="go")]
    assert achunks[-1].message == chunks[-1].message


def test_predict_and_call_runs_the_tool(make_llm: MakeLLM, emu: DashScopeEmulator) -> None:
    emu.enqueue(Reply(tool_calls=[ToolCallReply(name="crop", arguments='{"x": 4}')]))
    result = make_llm().predict_and_call([CROP], user_msg="crop at 4")
    assert result.response == "cropped at 4"


def test_forced_choice_in_hybrid_thinking_mode_turns_thinking_off(
    make_llm: MakeLLM, emu: DashScopeEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    emu.enqueue(Reply(tool_calls=[ToolCallReply(name="crop", arguments='{"x": 1}')]))
    with caplog.at_level(logging.WARNING, logger="qwen_vl_core"):
        make_llm(enable_thinking=True).chat_with_tools([CROP], user_msg="crop", tool_required=True)
    assert sent_params(emu.last_request)["enable_thinking"] is False
    assert sent_params(emu.last_request)["tool_choice"] == "required"
    assert [r.getMessage() for r in caplog.records if r.name == "qwen_vl_core"] == [
        "forced tool_choice is not allowed in thinking mode; this request to qwen3-vl-plus runs with thinking "
        "switched off."
    ]


def test_tools_on_qvq_are_a_clear_error(make_llm: MakeLLM, emu: DashScopeEmulator) -> None:
    with pytest.raises(ValueError, match=r"^qvq-max does not support tool calling"):
        make_llm("qvq-max").chat_with_tools([CROP], user_msg="crop")
    assert emu.requests == []
