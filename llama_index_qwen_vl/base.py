"""`QwenVL`: Qwen3-VL and QVQ on Alibaba Cloud Model Studio as a LlamaIndex `FunctionCallingLLM`.

The class only translates: messages and options go to the core as a `ChatRequest`, the core's
events come back as `ChatResponse`s (`_messages`, `_tools`, `_responses`). Thinking rules,
streaming-only models, system messages, retries and errors are the core's job.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import AsyncGenerator, Generator, Mapping, Sequence
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

from qwen_vl_core import ChatRequest, ModelSpec, QwenVLClient, get_spec
from qwen_vl_core.kit import ClientCache, check_settings
from qwen_vl_core.settings import (
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_HEADER_TIMEOUT,
    DEFAULT_MAX_SSE_LINE,
    DEFAULT_TIMEOUT,
    ClientOptions,
    RequestSettings,
)
from qwen_vl_core.tools import parse_tool_choice, tool_specs

from ._messages import to_core_messages
from ._responses import StreamResponses, final_response, tool_selections

if TYPE_CHECKING:
    from llama_index.core.tools.types import BaseTool

__all__ = ["QwenVL"]

logger = logging.getLogger(__name__)
_UNKNOWN_CONTEXT, _UNKNOWN_OUTPUT = 262_144, 32_768


def _convert_tool(tool: Any) -> Mapping[str, Any]:
    """LlamaIndex tools (and plain functions, as agents accept them) → OpenAI dicts, no `strict` added."""
    metadata = getattr(tool, "metadata", None)
    if metadata is None and callable(tool):
        from llama_index.core.tools import FunctionTool

        metadata = FunctionTool.from_defaults(tool).metadata
    if metadata is None or not hasattr(metadata, "to_openai_tool"):
        raise ValueError(f"Unsupported tool {tool!r}: pass a LlamaIndex tool, a function or an OpenAI tool dict.")
    return metadata.to_openai_tool(skip_length_check=True)  # type: ignore[no-any-return]


def _refuse_function_agent(spec: ModelSpec) -> None:
    """A `FunctionAgent` step reads `metadata` first; for a model without tool calling, say what works.

    Without this, the agent fails with a bare "LLM must be a FunctionCallingLLM". Only the agent's own
    step is refused: every other reader of `metadata` (query engines, `structured_predict`, which then
    uses a text-completion program) gets `is_function_calling_model=False` as usual.
    """
    from llama_index.core.agent.workflow import FunctionAgent

    if not isinstance(sys._getframe(2).f_locals.get("self"), FunctionAgent):
        return
    raise ValueError(
        f"{spec.name} has no tool calling, so FunctionAgent cannot drive it. Use ReActAgent (it calls tools "
        "through the prompt: ReActAgent(tools=..., llm=llm)), or a Qwen3-VL model for FunctionAgent."
    )


class QwenVL(FunctionCallingLLM):
    """Qwen3-VL / QVQ visual reasoning models (DashScope), for query engines and agents.

    Example:
        llm = QwenVL(model="qwen3-vl-plus", enable_thinking=True)  # key from DASHSCOPE_API_KEY
        msg = ChatMessage(role="user", blocks=[ImageBlock(path="cat.png"), TextBlock(text="What is it?")])
        for chunk in llm.stream_chat([msg]):
            print(chunk.additional_kwargs.get("thinking_delta", ""), chunk.delta, sep="", end="")
    """

    # The fields are the core's settings, one per name in `ClientOptions.FIELDS` and
    # `RequestSettings.FIELDS` (the LangChain `ChatQwenVL` declares the same; a test checks parity).
    model: str = Field(default="qwen3-vl-plus", description="Model name, e.g. qwen3-vl-plus or qvq-max.")
    api_key: SecretStr | str | None = Field(
        default=None,
        exclude=True,
        repr=False,
        description="DashScope API key; defaults to DASHSCOPE_API_KEY (only ever sent to DashScope hosts).",
    )
    region: str | None = Field(
        default=None, description="Model Studio region: intl, us, cn, hk, eu, jp (or a region id)."
    )
    workspace_id: str | None = Field(
        default=None, description="A Model Studio workspace id: the region's workspace domain (Frankfurt, Tokyo)."
    )
    base_url: str | None = Field(default=None, description="Override the endpoint (emulator, proxy, vLLM).")
    protocol: Literal["openai", "dashscope"] = Field(
        default="openai", description="Wire protocol: OpenAI-compatible mode or DashScope's native API."
    )
    enable_thinking: bool | None = Field(
        default=None, description="Thinking on/off for hybrid models; None leaves the model's default."
    )
    thinking_budget: int | None = Field(default=None, description="Maximum reasoning tokens (Qwen3-VL).")
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    presence_penalty: float | None = None
    repetition_penalty: float | None = None
    max_tokens: int | None = Field(default=None, description="Answer token limit; None: the model's maximum.")
    seed: int | None = None
    stop: list[str] | None = None
    vl_high_resolution_images: bool | None = None
    parallel_tool_calls: bool | None = Field(
        default=None,
        description="Default for calls with tools when the caller does not allow parallel calls itself.",
    )
    system_message_mode: Literal["auto", "keep", "fold"] = Field(
        default="auto", description="How leading system messages are sent (see the core's policies)."
    )
    preserve_thinking: bool = Field(
        default=False,
        description="Send earlier turns' reasoning (ThinkingBlocks) back with the history (qwen3.6-plus and later).",
    )
    model_spec: ModelSpec | None = Field(
        default=None, exclude=True, description="What to assume about the model instead of the catalog's entry."
    )
    extra_body: dict[str, Any] | None = Field(
        default=None, description="Any other API parameter (merged with a per-call extra_body, per-call wins)."
    )
    additional_kwargs: dict[str, Any] = Field(
        default_factory=dict, description="LlamaIndex's name for extra request-body keys; merged under extra_body."
    )
    timeout: float | None = Field(
        default=DEFAULT_TIMEOUT,
        description="The read timeout: seconds allowed between two reads of a response; None: no limit.",
    )
    connect_timeout: float = Field(default=DEFAULT_CONNECT_TIMEOUT, description="Seconds allowed to connect.")
    header_timeout: float | None = Field(
        default=DEFAULT_HEADER_TIMEOUT,
        description="Streamed calls: seconds allowed for the response headers (sent again at most once on "
        "timeout); None: the read timeout applies.",
    )
    max_retries: int = Field(default=2, description="Retries before the response starts (0 disables).")
    default_headers: dict[str, str] | None = Field(default=None, description="Headers added to every request.")
    downscale_images: bool = Field(
        default=True, description="Resize inline images above the model's pixel budget before sending."
    )
    inline_remote_images: bool = Field(
        default=False, description="Download http(s) images and send them inline (Ollama takes no image URLs)."
    )
    local_files: bool | list[str] = Field(
        default=True,
        description="Whether paths and file:// URLs in blocks may be read: True, False, or the allowed directories.",
    )
    parse_think_tags: bool | None = Field(
        default=None,
        description="Split <think>...</think> out of the answer; None: on for thinking models off DashScope.",
    )
    thinking_via_chat_template: bool | None = Field(
        default=None,
        description="Send enable_thinking as chat_template_kwargs; None: on for non-DashScope servers (vLLM, SGLang).",
    )
    coalesce_deltas: bool = Field(
        default=True,
        description="Merge the deltas of one kind that arrive in one network read into one chunk; False: one "
        "chunk per server event.",
    )
    max_sse_line: int = Field(
        default=DEFAULT_MAX_SSE_LINE,
        description="The longest line (characters) a stream may send before the call fails.",
    )
    http_client: Any = Field(default=None, exclude=True, description="An httpx.Client (proxies, transports).")
    async_http_client: Any = Field(default=None, exclude=True, description="An httpx.AsyncClient.")
    strict_tool_args: bool = Field(
        default=False,
        description="Raise on final tool arguments that are not a JSON object (default: {} and a warning).",
    )

    @field_validator("api_key", mode="after")
    @classmethod
    def _secret_key(cls, value: SecretStr | str | None) -> SecretStr | None:
        """Accept a plain string (typed callers) but always hold a `SecretStr`."""
        return SecretStr(value) if isinstance(value, str) else value

    _clients: ClientCache = PrivateAttr(default_factory=ClientCache)

    def __init__(self, **data: Any) -> None:
        super().__init__(**data)
        # Outside pydantic validation, so a bad setting is the core's own ValueError, the same the
        # first call would raise (not wrapped in a ValidationError).
        self._client_options()
        check_settings(self._settings())

    @classmethod
    def class_name(cls) -> str:
        return "QwenVL"

    @property
    def spec(self) -> ModelSpec:
        """What is assumed about `model`: `model_spec`, else the catalog's entry."""
        return self.model_spec or get_spec(self.model)

    @property
    def metadata(self) -> LLMMetadata:
        spec = self.spec
        if not spec.supports_tools:
            _refuse_function_agent(spec)
        return LLMMetadata(
            # LlamaIndex needs numbers: an unknown context is taken as Qwen3-VL's 262,144 and an
            # unknown output limit as 32,768 (for prompt packing only; the server judges the real ones).
            context_window=spec.context_window or _UNKNOWN_CONTEXT,
            num_output=self.max_tokens or spec.max_output_tokens or _UNKNOWN_OUTPUT,
            is_chat_model=True,
            is_function_calling_model=spec.supports_tools is not False,
            model_name=self.model,
            system_role=MessageRole.SYSTEM,
        )

    # -- the core settings and client ------------------------------------------------------------

    def _client_options(self) -> ClientOptions:
        return ClientOptions.from_fields(self)

    def _settings(self) -> RequestSettings:
        extra = {**self.additional_kwargs, **(self.extra_body or {})}
        return RequestSettings.from_fields(self, extra_body=extra or None)

    @property
    def client(self) -> QwenVLClient:
        """The core client, built on first use and rebuilt when a connection field changes."""
        client, self._clients = self._clients.client_for(self._client_options())
        return client

    def close(self) -> None:
        """Close the sync connection pool (the instance stays usable; a new pool opens on demand)."""
        self._clients.close()

    async def aclose(self) -> None:
        """Close the async connection pool; call it before the event loop that used it ends.

        The pool is bound to the loop that opened it: to use one instance from several
        `asyncio.run` calls, `await llm.aclose()` at the end of each (a new pool opens on demand).
        """
        await self._clients.aclose()

    def _request(self, messages: Sequence[ChatMessage], options: dict[str, Any]) -> ChatRequest:
        """One call: the fields, the call's keyword arguments (which win) and the messages."""
        settings = self._settings().with_call_options(options, convert_tool=_convert_tool, caller="QwenVL")
        return settings.request(to_core_messages(messages))

    # -- chat ------------------------------------------------------------------------------------

    def _chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        return final_response(self.client.chat(self._request(messages, kwargs)))

    def _stream_chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponseGen:
        stream = self.client.stream(self._request(messages, kwargs))  # bad input fails here, not on iteration

        def gen() -> Generator[ChatResponse, None, None]:
            to_response = StreamResponses(stream.accumulator, stream.images)
            for event in stream:
                response = to_response(event)
                if response is not None:
                    yield response

        return gen()

    async def _achat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        return final_response(await self.client.achat(self._request(messages, kwargs)))

    async def _astream_chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponseAsyncGen:
        stream = self.client.astream(self._request(messages, kwargs))

        async def gen() -> AsyncGenerator[ChatResponse, None]:
            to_response = StreamResponses(stream.accumulator, stream.images)
            async for event in stream:
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
        strict: bool | None = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """The kwargs for `chat(**...)`; the caller's `chat_history` list is copied, never appended to.

        `tool_required=True` (what `structured_predict` and function-calling programs pass) asks for a
        call the core may relax to `auto` on a model that always thinks (the program then reports a
        missing call); an explicit forced `tool_choice` is never relaxed. `strict` is set on the
        tools and sent where the protocol's tool schema has it.
        """
        messages = list(chat_history or [])
        if user_msg is not None:
            messages.append(
                ChatMessage(role=MessageRole.USER, content=user_msg) if isinstance(user_msg, str) else user_msg
            )
        specs = tool_specs(tools, strict=strict, convert=_convert_tool)
        if not specs:
            return {"messages": messages, **kwargs}
        fallback = tool_choice is None and tool_required
        if tool_choice is None:
            tool_choice = "required" if tool_required else None
        parallel = True if allow_parallel_tool_calls else self.parallel_tool_calls
        return {
            "messages": messages,
            "tools": specs,
            "tool_choice": parse_tool_choice(tool_choice, specs),
            "parallel_tool_calls": False if parallel is None else parallel,
            "allow_tool_choice_fallback": fallback,
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
        """Tool calls as `ToolSelection`s; partial JSON in streamed chunks parses leniently.

        Final arguments that are not a JSON object become `{}` with a warning (as the OpenAI LLM does,
        so an agent can go on and tell the model); `strict_tool_args=True` raises instead.
        """
        return tool_selections(response, error_on_no_tool_call=error_on_no_tool_call, strict=self.strict_tool_args)
