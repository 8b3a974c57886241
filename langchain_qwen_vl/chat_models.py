"""`ChatQwenVL`: LangChain chat model for Qwen3-VL and QVQ visual reasoning on Alibaba Cloud Model Studio."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from typing import Any, Literal

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LangSmithParams, LanguageModelInput, ModelProfile
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable
from langchain_core.tools import BaseTool
from langchain_core.utils import secret_from_env
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import ConfigDict, Field, PrivateAttr, SecretStr

from qwen_vl_core import ChatRequest, ModelSpec, QwenVLClient, QwenVLError
from qwen_vl_core.kit import ClientCache, check_settings
from qwen_vl_core.request_common import tool_choice_param
from qwen_vl_core.settings import (
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_HEADER_TIMEOUT,
    DEFAULT_MAX_SSE_LINE,
    DEFAULT_TIMEOUT,
    ClientOptions,
    RequestSettings,
)
from qwen_vl_core.tools import parse_tool_choice, tool_specs, wire_tool

from ._convert import convert_messages
from ._errors import to_langchain_error
from ._output import PROVIDER, ChunkConverter, result_to_message
from ._profile import model_profile
from ._structured import StructuredMethod, structured_output

__all__ = ["ChatQwenVL"]

_LANGCHAIN_CALL_KEYS = frozenset({"stream", "ls_structured_output_format", "structured_output_format"})
"""Keyword arguments langchain-core itself passes down; not request settings."""


class ChatQwenVL(BaseChatModel):
    """Qwen3-VL and QVQ visual reasoning models on Alibaba Cloud Model Studio (DashScope).

    Setup:
        Install `qwen-vl-reasoning[langchain]` and set `DASHSCOPE_API_KEY` (keys are region-specific;
        the default region is `intl`, Singapore).

    Key init args — model:
        model: catalog name, e.g. `qwen3-vl-plus` (hybrid), `qwen3-vl-32b-thinking` (always thinks),
            `qvq-max` (always thinks, streaming-only, no tools).
        enable_thinking: None keeps the model's default (off for hybrid models).
        thinking_budget: maximum reasoning tokens (Qwen3-VL only, thinking on).
        temperature, top_p, max_tokens, seed, stop: sampling.
        vl_high_resolution_images: raise the per-image pixel budget.
        system_message_mode: "auto" folds a leading system prompt into the first user turn unless
            tools are bound; "keep" / "fold" force it.
        parallel_tool_calls: default for calls with tools (the API's default is one call per turn).
        extra_body: any other API parameter (merged with a per-call `extra_body`, per-call wins).

    Key init args — client:
        api_key (alias `dashscope_api_key`), region (`intl` | `us` | `cn`), base_url, timeout
        (seconds between two reads of a stream), max_retries, http_client, async_http_client.
        Construction never needs the key or the network.

    Instantiate:
        ```python
        from langchain_qwen_vl import ChatQwenVL

        model = ChatQwenVL(model="qwen3-vl-plus", enable_thinking=True)
        ```

    Invoke:
        ```python
        message = model.invoke([HumanMessage(content=[
            {"type": "image", "url": "https://example.com/plot.png"},
            {"type": "text", "text": "What is the slope?"},
        ])])
        message.content                               # the answer
        message.additional_kwargs["reasoning_content"]  # the reasoning (only when there is some)
        message.content_blocks                        # [{"type": "reasoning", ...}, {"type": "text", ...}]
        ```
        `invoke` streams on the wire and aggregates whenever the model needs it (thinking on, QVQ).

    Stream:
        ```python
        for chunk in model.stream("Describe the image"):
            print(chunk.additional_kwargs.get("reasoning_content", ""), chunk.content, end="")
        ```
        The chunks add up (`+`) to the message `invoke` returns; usage and metadata come on the last.

    Async:
        `ainvoke`, `astream`, `abatch` use a native async HTTP client.

    Tool calling:
        ```python
        model.bind_tools([get_weather], tool_choice="auto", parallel_tool_calls=True)
        ```
        Forced tool choice (`required` / a name) is rejected in thinking mode: a hybrid model runs
        that call with thinking off (logged), a thinking-only model raises `ValueError`.

    Structured output:
        `with_structured_output(Schema)` (function calling by default; `json_mode` / `json_schema`
        on hybrid models). On a hybrid model with thinking on, the structured call runs with thinking
        off. On a thinking-only model the tool is offered with `tool_choice="auto"`, and an
        `OutputParserException` carrying the model's text is raised if it answers without it.

    Response metadata:
        `response_metadata`: `model_name`, `finish_reason`, `request_id`, `model_provider`
        ("dashscope"), `token_usage` (the raw usage, image / video tokens included).
        `usage_metadata`: input / output / total, `output_token_details["reasoning"]`,
        `input_token_details` `image` / `video` / `cache_read` when the API reports them.

    Errors:
        API failures raise classes that are both the `qwen_vl_core` error and LangChain's
        (`ModelRateLimitError`, `ContextOverflowError`, ...), so either `except` works.
    """

    model_config = ConfigDict(populate_by_name=True, extra="forbid")

    # The fields are the core's settings, one per name in `ClientOptions.FIELDS` and
    # `RequestSettings.FIELDS` (the LlamaIndex `QwenVL` declares the same; a test checks parity).
    model: str = Field(default="qwen3-vl-plus", alias="model_name")
    """Model name from the catalog (`qwen_vl_core.KNOWN_MODELS`)."""
    api_key: SecretStr | None = Field(
        default_factory=secret_from_env("DASHSCOPE_API_KEY", default=None), alias="dashscope_api_key"
    )
    """DashScope key; defaults to `DASHSCOPE_API_KEY`, which is only ever sent to DashScope hosts."""
    region: str | None = None
    """`intl` (Singapore, default), `us` (Virginia), `cn` (Beijing), `hk` (Hong Kong), `eu` (Frankfurt) or
    `jp` (Tokyo), or a region id such as `ap-southeast-1`; `DASHSCOPE_REGION` if unset."""
    workspace_id: str | None = None
    """A Model Studio workspace id: the region's workspace domain (needed for Frankfurt and Tokyo)."""
    base_url: str | None = None
    """An explicit base URL (workspace host, proxy, self-hosted server): the protocol's root."""
    protocol: Literal["openai", "dashscope"] = "openai"
    """Wire protocol: the OpenAI-compatible mode (`…/compatible-mode/v1`) or the native DashScope API
    (`…/api/v1`); the results are the same."""
    enable_thinking: bool | None = None
    """None keeps the model's default (off for hybrid Qwen3-VL models)."""
    thinking_budget: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    presence_penalty: float | None = None
    repetition_penalty: float | None = None
    max_tokens: int | None = None
    seed: int | None = None
    stop: list[str] | None = None
    vl_high_resolution_images: bool | None = None
    parallel_tool_calls: bool | None = None
    """Default for calls with tools (DashScope's own default is False: one call per turn); agents
    such as `create_agent` bind tools without it, so set it here to let them run calls in parallel."""
    system_message_mode: Literal["auto", "keep", "fold"] = "auto"
    preserve_thinking: bool = False
    """Send earlier turns' reasoning (`reasoning_content` / reasoning blocks) back with the history;
    for models that take `preserve_thinking` (qwen3.6-plus, qwen3.7-plus, ...)."""
    model_spec: ModelSpec | None = Field(default=None, exclude=True)
    """What to assume about `model` instead of the catalog's entry (a model the catalog does not know)."""
    extra_body: dict[str, Any] | None = None
    """Any other API parameter (merged with a per-call `extra_body`, per-call wins)."""
    model_kwargs: dict[str, Any] = Field(default_factory=dict)
    """LangChain's name for extra API parameters; merged under `extra_body`."""
    timeout: float | None = DEFAULT_TIMEOUT
    """The read timeout: seconds allowed between two reads of a response (not the whole stream);
    None: no limit."""
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    """Seconds allowed to open the connection."""
    header_timeout: float | None = DEFAULT_HEADER_TIMEOUT
    """Streamed calls: seconds allowed for the response headers (sent at once by DashScope); a request
    that timed out waiting for them is sent again at most once. None: the read timeout applies."""
    max_retries: int = 2
    default_headers: dict[str, str] | None = None
    """Headers added to every request."""
    downscale_images: bool = True
    """Resize inline images above the model's pixel budget before sending (same tokens, fewer bytes)."""
    inline_remote_images: bool = False
    """Download http(s) images and send them inline (Ollama's OpenAI endpoint takes no image URLs)."""
    local_files: bool | list[str] = True
    """Whether paths and `file://` URLs in content blocks may be read: True, False, or the allowed
    directories. Turn it off when the content blocks come from people you do not trust."""
    parse_think_tags: bool | None = None
    """Split `<think>…</think>` out of the answer; None: on for thinking models on non-DashScope servers."""
    thinking_via_chat_template: bool | None = None
    """Send `enable_thinking` as `chat_template_kwargs`; None: on for non-DashScope servers (vLLM, SGLang)."""
    coalesce_deltas: bool = True
    """Merge the reasoning / answer / tool-argument deltas that arrive in one network read into one
    chunk (fewer chunks under load, the same message); False: one chunk per server event."""
    max_sse_line: int = DEFAULT_MAX_SSE_LINE
    """The longest line (characters) a stream may send before the call fails."""
    http_client: Any = Field(default=None, exclude=True)
    """An `httpx.Client` for the sync calls (proxies, custom transports)."""
    async_http_client: Any = Field(default=None, exclude=True)
    streaming: bool = False
    """Route `invoke` through `stream` (callbacks get every token); the output is the same."""

    _clients: ClientCache = PrivateAttr(default_factory=ClientCache)

    def __init__(self, **data: Any) -> None:
        super().__init__(**data)
        # Outside pydantic validation, so a bad setting is the core's own ValueError, the same the
        # first call would raise (not wrapped in a ValidationError).
        self._client_options()
        check_settings(self._settings())

    # -- LangChain identity, serialization, tracing ------------------------------------------------

    @property
    def _llm_type(self) -> str:
        return "qwen-vl-chat"

    @classmethod
    def is_lc_serializable(cls) -> bool:
        return True

    @classmethod
    def get_lc_namespace(cls) -> list[str]:
        return ["langchain_qwen_vl", "chat_models"]

    @property
    def lc_secrets(self) -> dict[str, str]:
        return {"api_key": "DASHSCOPE_API_KEY"}

    @property
    def _identifying_params(self) -> dict[str, Any]:
        params = {name: getattr(self, name) for name in RequestSettings.FIELDS}
        params.update(region=self.region, base_url=self.base_url, protocol=self.protocol)
        params["model_kwargs"] = self.model_kwargs
        return params

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> LangSmithParams:
        params = super()._get_ls_params(stop=stop, **kwargs)
        params["ls_provider"] = PROVIDER
        model = kwargs.get("model")
        params["ls_model_name"] = model if isinstance(model, str) else self.model
        if not stop and self.stop:
            params["ls_stop"] = self.stop
        return params

    def _resolve_model_profile(self) -> ModelProfile | None:
        return model_profile(self._settings().spec())

    # -- the core settings and client -------------------------------------------------------------

    def _client_options(self) -> ClientOptions:
        # Only an explicit key is handed over: the core then applies its rule that the env key never
        # leaves for a non-DashScope host (an emulator, a proxy, a self-hosted server).
        explicit = self.api_key if "api_key" in self.model_fields_set else None
        return ClientOptions.from_fields(self, api_key=explicit)

    def _settings(self) -> RequestSettings:
        extra = {**self.model_kwargs, **(self.extra_body or {})}
        return RequestSettings.from_fields(self, extra_body=extra or None)

    def _get_client(self) -> QwenVLClient:
        """The client, built on first use; a copy whose connection fields differ gets its own."""
        client, self._clients = self._clients.client_for(self._client_options())
        return client

    def _request(self, messages: list[BaseMessage], stop: list[str] | None, kwargs: dict[str, Any]) -> ChatRequest:
        """One call: the fields, the call's keyword arguments (which win) and the messages."""
        options = {k: v for k, v in kwargs.items() if k not in _LANGCHAIN_CALL_KEYS}
        if stop:
            options["stop"] = tuple(stop)
        settings = self._settings().with_call_options(options, convert_tool=convert_to_openai_tool, caller="ChatQwenVL")
        return settings.request(convert_messages(messages))

    def close(self) -> None:
        """Close the sync connection pool (the model stays usable; a new pool opens on demand)."""
        self._clients.close()

    async def aclose(self) -> None:
        """Close the async connection pool; call it before the event loop that used it ends."""
        await self._clients.aclose()

    # -- calls -------------------------------------------------------------------------------------

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        request = self._request(messages, stop, kwargs)
        try:
            result = self._get_client().chat(request)
        except QwenVLError as exc:
            raise to_langchain_error(exc) from exc
        return ChatResult(generations=[ChatGeneration(message=result_to_message(result, request.model))])

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        request = self._request(messages, stop, kwargs)
        try:
            result = await self._get_client().achat(request)
        except QwenVLError as exc:
            raise to_langchain_error(exc) from exc
        return ChatResult(generations=[ChatGeneration(message=result_to_message(result, request.model))])

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        request = self._request(messages, stop, kwargs)
        try:
            stream = self._get_client().stream(request)
            convert = ChunkConverter(request.model, stream.images).convert
            for event in stream:
                chunk = convert(event)
                if chunk is not None:
                    yield chunk
        except QwenVLError as exc:
            raise to_langchain_error(exc) from exc

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        request = self._request(messages, stop, kwargs)
        try:
            stream = self._get_client().astream(request)
            convert = ChunkConverter(request.model, stream.images).convert
            async for event in stream:
                chunk = convert(event)
                if chunk is not None:
                    yield chunk
        except QwenVLError as exc:
            raise to_langchain_error(exc) from exc

    # -- tools and structured output ---------------------------------------------------------------

    def bind_tools(
        self,
        tools: Sequence[Mapping[str, Any] | type | Callable[..., Any] | BaseTool],
        *,
        tool_choice: str | bool | Mapping[str, Any] | None = None,
        parallel_tool_calls: bool | None = None,
        strict: bool | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        """Bind tools (LangChain tools, functions, pydantic models, OpenAI dicts).

        `tool_choice`: "auto", "none", "required" ("any" and True mean "required"), or a tool name.
        `parallel_tool_calls` is sent as given, False included (the API's default is False).
        The tools are kept in OpenAI form, as LangChain integrations do.
        """
        specs = tool_specs(tools, strict=strict, convert=convert_to_openai_tool)
        formatted = [wire_tool(spec) for spec in specs]
        choice = parse_tool_choice(tool_choice, specs)
        if choice is not None:
            kwargs["tool_choice"] = tool_choice_param(choice)
        if parallel_tool_calls is not None:
            kwargs["parallel_tool_calls"] = parallel_tool_calls
        return super().bind(tools=formatted, **kwargs)

    def with_structured_output(
        self,
        schema: Mapping[str, Any] | type,
        *,
        method: StructuredMethod = "function_calling",
        include_raw: bool = False,
        strict: bool | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, Any]:
        """Structured output; see the class docstring for how thinking mode is handled.

        On a hybrid model with thinking on, the returned runnable binds `enable_thinking=False`
        (this instance is not changed). On a thinking-only model, function calling uses
        `tool_choice="auto"` and raises `OutputParserException` (with the model's text) when no
        tool call comes back. `json_mode` / `json_schema` need a model with JSON mode.
        """
        if kwargs:
            raise ValueError(f"Received unsupported arguments {sorted(kwargs)}.")
        spec = self._settings().spec()
        return structured_output(self, spec, schema, method=method, include_raw=include_raw, strict=strict)
