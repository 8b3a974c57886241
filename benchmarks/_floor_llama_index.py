"""The LlamaIndex framework floor: the smallest `LLM` whose `stream_chat` carries reasoning and usage.

It reads the wire exactly like the raw floor (`_wire.compat_deltas`) and yields one `ChatResponse`
per chunk the way the llama-index integrations do (`message` with the answer so far, `delta`,
`additional_kwargs["thinking_delta"]`, token counts on the last one), under `@llm_chat_callback`.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Generator, Sequence
from typing import Any

import httpx
from _harness import MODEL
from _wire import Delta, acompat_deltas, compat_deltas
from llama_index.core.base.llms.types import (
    ChatMessage,
    ChatResponse,
    ChatResponseAsyncGen,
    ChatResponseGen,
    CompletionResponse,
    CompletionResponseAsyncGen,
    CompletionResponseGen,
    LLMMetadata,
    MessageRole,
)
from llama_index.core.bridge.pydantic import PrivateAttr
from llama_index.core.llms.callbacks import llm_chat_callback
from llama_index.core.llms.llm import LLM

__all__ = ["RawHttpxLLM"]

_ASSISTANT = MessageRole.ASSISTANT


def _response(delta: Delta, content: str) -> ChatResponse:
    reasoning, text, usage = delta
    if usage:
        tokens = {
            "prompt_tokens": usage["input_tokens"],
            "completion_tokens": usage["output_tokens"],
            "total_tokens": usage["total_tokens"],
        }
        return ChatResponse(message=ChatMessage(role=_ASSISTANT, content=content), delta="", additional_kwargs=tokens)
    kwargs = {"thinking_delta": reasoning} if reasoning else {}
    return ChatResponse(
        message=ChatMessage(role=_ASSISTANT, content=content), delta=text or "", additional_kwargs=kwargs
    )


class RawHttpxLLM(LLM):
    """Compat-mode streaming chat over a bare httpx client; completion methods are not needed here."""

    base_url: str
    api_key: str
    model: str = MODEL

    _client: httpx.Client = PrivateAttr(default_factory=lambda: httpx.Client(timeout=600.0))
    _aclient: httpx.AsyncClient = PrivateAttr(
        default_factory=lambda: httpx.AsyncClient(timeout=600.0, limits=httpx.Limits(max_connections=None))
    )

    @property
    def metadata(self) -> LLMMetadata:
        return LLMMetadata(is_chat_model=True, model_name=self.model)

    def _request(self, messages: Sequence[ChatMessage]) -> tuple[str, dict[str, str], dict[str, Any]]:
        body = {
            "model": self.model,
            "messages": [{"role": m.role.value, "content": m.content} for m in messages],
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        return self.base_url + "/chat/completions", {"Authorization": f"Bearer {self.api_key}"}, body

    @llm_chat_callback()
    def stream_chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponseGen:
        url, headers, body = self._request(messages)

        def gen() -> Generator[ChatResponse, None, None]:
            content = ""
            with self._client.stream("POST", url, json=body, headers=headers) as response:
                response.raise_for_status()
                for delta in compat_deltas(response.iter_lines()):
                    if delta[1]:
                        content += delta[1]
                    yield _response(delta, content)

        return gen()

    @llm_chat_callback()
    async def astream_chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponseAsyncGen:
        url, headers, body = self._request(messages)

        async def gen() -> AsyncGenerator[ChatResponse, None]:
            content = ""
            async with self._aclient.stream("POST", url, json=body, headers=headers) as response:
                response.raise_for_status()
                async for delta in acompat_deltas(response.aiter_lines()):
                    if delta[1]:
                        content += delta[1]
                    yield _response(delta, content)

        return gen()

    @llm_chat_callback()
    def chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        last = None
        for last in self.stream_chat(messages, **kwargs):  # noqa: B007 - keep the final response
            pass
        if last is None:
            raise RuntimeError("empty stream")
        return last

    @llm_chat_callback()
    async def achat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        last = None
        async for last in await self.astream_chat(messages, **kwargs):  # noqa: B007
            pass
        if last is None:
            raise RuntimeError("empty stream")
        return last

    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        raise NotImplementedError

    def stream_complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponseGen:
        raise NotImplementedError

    async def acomplete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        raise NotImplementedError

    async def astream_complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponseAsyncGen:
        raise NotImplementedError
