"""`QwenVL`: Qwen3-VL and QVQ on Alibaba Cloud Model Studio as a LlamaIndex `FunctionCallingLLM`.

The class only translates: messages and options go to the core as a `ChatRequest`, the core's
events come back as `ChatResponse`s (`_messages`, `_tools`, `_responses`). Thinking rules,
streaming-only models, system messages, retries and errors are the core's job.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, Generator, Sequence
from typing import TYPE_CHECKING, Any, Literal

from llama_index.core.base.llms.generic_utils import (
    achat_to_completion_decorator,
    astream_chat_to_completion_decorator,
    chat_to_completion_decorator,
    stream_chat_to_completion_decorator,
)
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
    ToolCallBlock,
)
from llama_index.core.bridge.pydantic import Field, PrivateAttr, SecretStr, field_validator
from llama_index.core.llms.callbacks import llm_chat_callback, llm_completion_callback
from llama_index.core.llms.function_calling import FunctionCallingLLM
from llama_index.core.llms.llm import ToolSelection

from qwen_vl_core import ChatRequest, ModelSpec, QwenVLClient, SamplingOptions, ThinkingOptions, get_spec
from qwen_vl_core.client import DEFAULT_CONNECT_TIMEOUT, DEFAULT_TIMEOUT
from qwen_vl_core.regions import resolve_endpoint

from ._messages import to_core_messages
from ._responses import StreamResponses, final_response, tool_selections
from ._tools import is_forced, resolve_tool_choice, to_tool_specs

if TYPE_CHECKING:
    from llama_index.core.tools.types import BaseTool

__all__ = ["QwenVL"]

logger = logging.getLogger(__name__)

_SAMPLING = ("temperature", "top_p", "top_k", "max_tokens", "seed", "stop", "presence_penalty", "repetition_penalty")
_CALL_OPTIONS = frozenset(
    {
        *_SAMPLING,
        "tools",
        "tool_choice",
        "parallel_tool_calls",
        "enable_thinking",
        "thinking_budget",
        "response_format",
        "vl_high_resolution_images",
        "system_message_mode",
        "extra_body",
    }
)


class QwenVL(FunctionCallingLLM):
    """Qwen3-VL / QVQ visual reasoning models (DashScope), for query engines and agents.

    Example:
        llm = QwenVL(model="qwen3-vl-plus", enable_thinking=True)  # key from DASHSCOPE_API_KEY
        msg = ChatMessage(role="user", blocks=[ImageBlock(path="cat.png"), TextBlock(text="What is it?")])
        for chunk in llm.stream_chat([msg]):
            print(chunk.additional_kwargs.get("thinking_delta", ""), chunk.delta, sep="", end="")
    """

    model: str = Field(default="qwen3-vl-plus", description="Model name, e.g. qwen3-vl-plus or qvq-max.")
    api_key: SecretStr | str | None = Field(
        default=None,
        exclude=True,
        repr=False,
        description="DashScope API key; defaults to DASHSCOPE_API_KEY (only ever sent to DashScope hosts).",
    )
    region: str | None = Field(default=None, description="Model Studio region, e.g. 'intl' or 'cn'.")
    base_url: str | None = Field(default=None, description="Override the endpoint (emulator, proxy, vLLM).")
    protocol: Literal["openai", "dashscope"] = Field(
        default="openai", description="Wire protocol: OpenAI-compatible mode or DashScope's native API."
    )
    enable_thinking: bool | None = Field(
        default=None, description="Thinking on/off for hybrid models; None leaves the model's default."
    )
    thinking_budget: int | None = Field(default=None, description="Maximum reasoning tokens (Qwen3-VL).")
    system_message_mode: Literal["auto", "keep", "fold"] = Field(
        default="auto", description="How leading system messages are sent (see the core's policies)."
    )
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    max_tokens: int | None = Field(default=None, description="Answer token limit; None: the model's maximum.")
    seed: int | None = None
    stop: list[str] | None = None
    presence_penalty: float | None = None
    repetition_penalty: float | None = None
    vl_high_resolution_images: bool | None = None
    downscale_images: bool = Field(
        default=True, description="Resize inline images above the model's pixel budget before sending."
    )
    inline_remote_images: bool = Field(
        default=False, description="Download http(s) images and send them inline (Ollama takes no image URLs)."
    )
    parse_think_tags: bool | None = Field(
        default=None,
        description="Split <think>...</think> out of the answer; None: on for thinking models off DashScope.",
    )
    thinking_via_chat_template: bool | None = Field(
        default=None,
        description="Send enable_thinking as chat_template_kwargs; None: on for non-DashScope servers (vLLM, SGLang).",
    )
    timeout: float | None = Field(default=DEFAULT_TIMEOUT, description="Seconds allowed between two reads.")
    connect_timeout: float = Field(default=DEFAULT_CONNECT_TIMEOUT, description="Seconds allowed to connect.")
    max_retries: int = Field(default=2, ge=0)
    additional_kwargs: dict[str, Any] = Field(
        default_factory=dict, description="Extra request-body keys, sent as they are."
    )
    http_client: Any = Field(default=None, exclude=True, description="An httpx.Client (proxies, transports).")
    async_http_client: Any = Field(default=None, exclude=True, description="An httpx.AsyncClient.")

    @field_validator("api_key", mode="after")
    @classmethod
    def _secret_key(cls, value: SecretStr | str | None) -> SecretStr | None:
        """Accept a plain string (typed callers) but always hold a `SecretStr`."""
        return SecretStr(value) if isinstance(value, str) else value

    _client: QwenVLClient | None = PrivateAttr(default=None)
    _client_config: tuple[Any, ...] | None = PrivateAttr(default=None)

    def model_post_init(self, context: Any, /) -> None:
        super().model_post_init(context)
        resolve_endpoint(region=self.region, base_url=self.base_url, protocol=self.protocol)  # bad region: here
        get_spec(self.model)  # an unknown model warns now, not in the middle of a query

    @classmethod
    def class_name(cls) -> str:
        # "multi" keeps MultiModalVectorStoreIndex from warning that this is not a multimodal LLM.
        return "QwenVL_multi_modal_llm"

    @property
    def spec(self) -> ModelSpec:
        return get_spec(self.model)

    @property
    def metadata(self) -> LLMMetadata:
        spec = self.spec
        return LLMMetadata(
            context_window=spec.context_window,
            num_output=self.max_tokens or spec.max_output_tokens,
            is_chat_model=True,
            is_function_calling_model=spec.supports_tools,
            model_name=self.model,
            system_role=MessageRole.SYSTEM,
        )

    # -- the core request ------------------------------------------------------------------------

    @property
    def client(self) -> QwenVLClient:
        """The core client, built on first use and rebuilt when a connection field changes."""
        key = self.api_key.get_secret_value() if isinstance(self.api_key, SecretStr) else self.api_key
        config = (
            key,
            self.region,
            self.base_url,
            self.protocol,
            self.timeout,
            self.connect_timeout,
            self.max_retries,
            self.downscale_images,
            self.inline_remote_images,
            self.parse_think_tags,
            self.thinking_via_chat_template,
            id(self.http_client),
            id(self.async_http_client),
        )
        if self._client is None or config != self._client_config:
            self._client = QwenVLClient(
                api_key=self.api_key,
                region=self.region,
                base_url=self.base_url,
                protocol=self.protocol,
                timeout=self.timeout,
                connect_timeout=self.connect_timeout,
                max_retries=self.max_retries,
                downscale_images=self.downscale_images,
                inline_remote_images=self.inline_remote_images,
                parse_think_tags=self.parse_think_tags,
                thinking_via_chat_template=self.thinking_via_chat_template,
                http_client=self.http_client,
                async_http_client=self.async_http_client,
            )
            self._client_config = config
        return self._client

    def close(self) -> None:
        """Close the sync connection pool (the instance stays usable; a new pool opens on demand)."""
        if self._client is not None:
            self._client.close()

    async def aclose(self) -> None:
        """Close the async connection pool; call it before the event loop that used it ends.

        The pool is bound to the loop that opened it: to use one instance from several
        `asyncio.run` calls, `await llm.aclose()` at the end of each (a new pool opens on demand).
        """
        if self._client is not None:
            await self._client.aclose()

    def _request(self, messages: Sequence[ChatMessage], options: dict[str, Any]) -> ChatRequest:
        unknown = options.keys() - _CALL_OPTIONS
        if unknown:
            raise TypeError(
                f"QwenVL got unexpected keyword argument(s) {sorted(unknown)}; per-call options are "
                f"{sorted(_CALL_OPTIONS)} (put other request-body keys in extra_body)."
            )

        def get(name: str) -> Any:
            return options[name] if name in options else getattr(self, name)

        sampling = {name: get(name) for name in _SAMPLING}
        if sampling["stop"] is not None:
            sampling["stop"] = tuple(sampling["stop"])
        tools = to_tool_specs(options.get("tools"))
        extra = {**self.additional_kwargs, **(options.get("extra_body") or {})}
        return ChatRequest(
            model=self.model,
            messages=to_core_messages(messages),
            tools=tools,
            tool_choice=resolve_tool_choice(options.get("tool_choice")) if tools else None,
            parallel_tool_calls=options.get("parallel_tool_calls") if tools else None,
            thinking=ThinkingOptions(enable=get("enable_thinking"), budget=get("thinking_budget")),
            sampling=SamplingOptions(**sampling),
            response_format=options.get("response_format"),
            vl_high_resolution_images=get("vl_high_resolution_images"),
            system_message_mode=get("system_message_mode"),
            extra_body=extra or None,
        )

    # -- chat ------------------------------------------------------------------------------------

    def _chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        return final_response(self.client.chat(self._request(messages, kwargs)))

    def _stream_chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponseGen:
        request = self._request(messages, kwargs)  # bad input fails here, not on first iteration
        client = self.client

        def gen() -> Generator[ChatResponse, None, None]:
            to_response = StreamResponses()
            for event in client.stream(request):
                response = to_response(event)
                if response is not None:
                    yield response

        return gen()

    async def _achat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        return final_response(await self.client.achat(self._request(messages, kwargs)))

    async def _astream_chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponseAsyncGen:
        request = self._request(messages, kwargs)
        client = self.client

        async def gen() -> AsyncGenerator[ChatResponse, None]:
            to_response = StreamResponses()
            async for event in client.astream(request):
                response = to_response(event)
                if response is not None:
                    yield response

        return gen()

    @llm_chat_callback()
    def chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        """One complete answer; streams under the hood for QVQ and in thinking mode."""
        return self._chat(messages, **kwargs)

    @llm_chat_callback()
    def stream_chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponseGen:
        return self._stream_chat(messages, **kwargs)

    @llm_chat_callback()
    async def achat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        return await self._achat(messages, **kwargs)

    @llm_chat_callback()
    async def astream_chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponseAsyncGen:
        return await self._astream_chat(messages, **kwargs)

    # -- completion (a one-message chat) ---------------------------------------------------------

    @llm_completion_callback()
    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        return chat_to_completion_decorator(self._chat)(prompt, **kwargs)

    @llm_completion_callback()
    def stream_complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponseGen:
        return stream_chat_to_completion_decorator(self._stream_chat)(prompt, **kwargs)

    @llm_completion_callback()
    async def acomplete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        return await achat_to_completion_decorator(self._achat)(prompt, **kwargs)

    @llm_completion_callback()
    async def astream_complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponseAsyncGen:
        return await astream_chat_to_completion_decorator(self._astream_chat)(prompt, **kwargs)

    # -- tools -----------------------------------------------------------------------------------

    def _prepare_chat_with_tools(
        self,
        tools: Sequence[BaseTool],
        user_msg: str | ChatMessage | None = None,
        chat_history: list[ChatMessage] | None = None,
        verbose: bool = False,
        allow_parallel_tool_calls: bool = False,
        tool_required: bool = False,
        tool_choice: Any = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """The kwargs for `chat(**...)`; the caller's `chat_history` list is copied, never appended to."""
        messages = list(chat_history or [])
        if user_msg is not None:
            messages.append(
                ChatMessage(role=MessageRole.USER, content=user_msg) if isinstance(user_msg, str) else user_msg
            )
        specs = to_tool_specs(tools)
        if not specs:
            return {"messages": messages, **kwargs}
        choice = resolve_tool_choice(tool_choice, tool_required=tool_required)
        if is_forced(choice) and self.spec.thinking_only:
            # The API takes only auto/none in thinking mode and this model always thinks; a program
            # that needed the call gets the model's text in its "no tool call" error instead.
            logger.debug("%s always thinks: tool_choice %r sent as 'auto'.", self.model, choice)
            choice = "auto"
        return {
            "messages": messages,
            "tools": specs,
            "tool_choice": choice,
            "parallel_tool_calls": allow_parallel_tool_calls,
            **kwargs,
        }

    def _validate_chat_with_tools_response(
        self,
        response: ChatResponse,
        tools: Sequence[BaseTool],
        allow_parallel_tool_calls: bool = False,
        **kwargs: Any,
    ) -> ChatResponse:
        """Without parallel calls allowed, keep only the first call (as the OpenAI peer does)."""
        if allow_parallel_tool_calls:
            return response
        calls = [b for b in response.message.blocks if isinstance(b, ToolCallBlock)]
        if len(calls) <= 1:
            return response
        blocks = [b for b in response.message.blocks if not isinstance(b, ToolCallBlock) or b is calls[0]]
        message_kwargs = dict(response.message.additional_kwargs)
        message_kwargs["tool_calls"] = message_kwargs.get("tool_calls", [])[:1]
        message = response.message.model_copy(update={"blocks": blocks, "additional_kwargs": message_kwargs})
        return response.model_copy(update={"message": message})

    def get_tool_calls_from_response(
        self,
        response: ChatResponse,
        error_on_no_tool_call: bool = True,
        **kwargs: Any,
    ) -> list[ToolSelection]:
        """Tool calls as `ToolSelection`s; partial JSON in streamed chunks parses leniently."""
        return tool_selections(response, error_on_no_tool_call=error_on_no_tool_call)
