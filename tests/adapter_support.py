"""Both frameworks driven the same way, for the tests that run one scenario through both adapters
(`test_parity.py`, `test_families.py`): each `Adapter` method is that framework's spelling of a call.
The fixtures (`adapter`, `protocol`, `emu`, `make`) are in `tests/conftest.py`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from langchain_core.messages import HumanMessage, SystemMessage
from llama_index.core.base.llms.types import ChatMessage, ChatResponse
from llama_index.core.tools import FunctionTool
from pydantic import BaseModel

from langchain_qwen_vl import ChatQwenVL
from llama_index_qwen_vl import QwenVL
from qwen_vl_core.testing import ToolCallReply

QUESTION = "How many dots?"


class Count(BaseModel):
    """How many dots there are."""

    dots: int


def count_dots(dots: int) -> str:
    """Report the number of dots."""
    return str(dots)


COUNT_CALL = ToolCallReply(name="Count", arguments='{"dots": 2}')


@dataclass
class Adapter:
    """One framework, driven the same way: each method is that framework's spelling of the call."""

    name: str
    make: Callable[..., Any]
    invoke: Callable[..., Any]
    stream: Callable[..., Any]
    tools_required: Callable[..., Any]
    tools_required_stream: Callable[..., Any]
    tools_demanded: Callable[..., Any]
    structured: Callable[..., Any]


def _lc_invoke(chat: ChatQwenVL, system: str | None = None, **kwargs: Any) -> str:
    messages: list[Any] = [SystemMessage(system)] if system else []
    return str(chat.invoke([*messages, HumanMessage(QUESTION)], **kwargs).content)


def _li_invoke(llm: QwenVL, system: str | None = None, **kwargs: Any) -> str:
    messages = [ChatMessage(role="system", content=system)] if system else []
    return str(llm.chat([*messages, ChatMessage(role="user", content=QUESTION)], **kwargs).message.content)


def _lc_stream(chat: ChatQwenVL, **kwargs: Any) -> str:
    return "".join(str(chunk.content) for chunk in chat.stream([HumanMessage(QUESTION)], **kwargs))


def _li_stream(llm: QwenVL, **kwargs: Any) -> str:
    responses: list[ChatResponse] = list(llm.stream_chat([ChatMessage(role="user", content=QUESTION)], **kwargs))
    return "".join(r.delta or "" for r in responses)


ADAPTERS = {
    "langchain": Adapter(
        name="langchain",
        make=ChatQwenVL,
        invoke=_lc_invoke,
        stream=_lc_stream,
        tools_required=lambda m: m.bind_tools([count_dots], tool_choice="required").invoke(QUESTION),
        tools_required_stream=lambda m: list(m.bind_tools([count_dots], tool_choice="required").stream(QUESTION)),
        tools_demanded=lambda m: m.bind_tools([count_dots], tool_choice="count_dots").invoke(QUESTION),
        structured=lambda m: m.with_structured_output(Count).invoke(QUESTION),
    ),
    "llama_index": Adapter(
        name="llama_index",
        make=QwenVL,
        invoke=_li_invoke,
        stream=_li_stream,
        tools_required=lambda m: m.chat_with_tools(
            [FunctionTool.from_defaults(count_dots)], QUESTION, tool_required=True
        ),
        tools_required_stream=lambda m: list(
            m.stream_chat_with_tools([FunctionTool.from_defaults(count_dots)], QUESTION, tool_required=True)
        ),
        tools_demanded=lambda m: m.chat_with_tools(
            [FunctionTool.from_defaults(count_dots)], QUESTION, tool_choice="count_dots"
        ),
        structured=lambda m: m.structured_predict(Count, _prompt()),
    ),
}


def _prompt() -> Any:
    from llama_index.core.prompts import PromptTemplate

    return PromptTemplate(QUESTION)
