"""The LangChain framework floor: the smallest `BaseChatModel` that streams reasoning and usage.

It reads the wire exactly like the raw floor (`_wire.compat_deltas`) and wraps each chunk in a
`ChatGenerationChunk`, so what it costs on top of the raw floor is LangChain itself.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
from _harness import MODEL
from _wire import acompat_deltas, compat_deltas
from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.language_models.chat_models import generate_from_stream
from langchain_core.messages import AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGenerationChunk, ChatResult
from pydantic import PrivateAttr

__all__ = ["RawHttpxChatModel"]


def _chunk(reasoning: str | None, text: str | None, usage: dict[str, int] | None) -> ChatGenerationChunk:
    if usage:
        return ChatGenerationChunk(message=AIMessageChunk(content="", usage_metadata=usage))
    kwargs = {"reasoning_content": reasoning} if reasoning else {}
    return ChatGenerationChunk(message=AIMessageChunk(content=text or "", additional_kwargs=kwargs))


class RawHttpxChatModel(BaseChatModel):
    """Compat-mode streaming over a bare httpx client: no retries, no validation, no metadata."""

    base_url: str
    api_key: str
    model: str = MODEL

    _client: httpx.Client = PrivateAttr(default_factory=lambda: httpx.Client(timeout=600.0))
    _aclient: httpx.AsyncClient = PrivateAttr(
        default_factory=lambda: httpx.AsyncClient(timeout=600.0, limits=httpx.Limits(max_connections=None))
    )

    @property
    def _llm_type(self) -> str:
        return "raw-httpx-floor"

    def _request(self, messages: list[BaseMessage]) -> tuple[str, dict[str, str], dict[str, Any]]:
        body = {
            "model": self.model,
            "messages": [{"role": "user", "content": m.content} for m in messages],
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        return self.base_url + "/chat/completions", {"Authorization": f"Bearer {self.api_key}"}, body

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        return generate_from_stream(self._stream(messages, stop, run_manager, **kwargs))

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        url, headers, body = self._request(messages)
        with self._client.stream("POST", url, json=body, headers=headers) as response:
            response.raise_for_status()
            for reasoning, text, usage in compat_deltas(response.iter_lines()):
                yield _chunk(reasoning, text, usage)

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        url, headers, body = self._request(messages)
        async with self._aclient.stream("POST", url, json=body, headers=headers) as response:
            response.raise_for_status()
            async for reasoning, text, usage in acompat_deltas(response.aiter_lines()):
                yield _chunk(reasoning, text, usage)
