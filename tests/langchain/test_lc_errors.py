"""Core errors surface as classes that are both the core error and LangChain's own; nothing is swallowed.

The emulator tests run on both wire protocols (the `protocol` fixture)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from langchain_core import exceptions as lc
from langchain_core.messages import AIMessageChunk
from lc_support import endpoint

import qwen_vl_core as core
from langchain_qwen_vl import ChatQwenVL
from langchain_qwen_vl._errors import to_langchain_error
from qwen_vl_core.testing import DashScopeEmulator, ErrorFrame, ErrorReply, Reply

ChatFactory = Callable[..., ChatQwenVL]


@pytest.mark.parametrize(
    ("reply", "core_cls", "lc_cls"),
    [
        (
            ErrorReply(429, "Requests rate limit exceeded.", code="limit_requests"),
            core.RateLimitError,
            lc.ModelRateLimitError,
        ),
        (
            ErrorReply(400, "<400> InternalError.Algo.InvalidParameter: Range of input length should be [1, 129024]"),
            core.ContextOverflowError,
            lc.ContextOverflowError,
        ),
        (ErrorReply(400, "bad", code="invalid_parameter_error"), core.InvalidRequestError, lc.ModelInvalidRequestError),
        (
            ErrorReply(403, "Access denied.", code="AccessDenied"),
            core.PermissionDeniedError,
            lc.ModelPermissionDeniedError,
        ),
        (ErrorReply(404, "Model not exist.", code="model_not_found"), core.NotFoundError, lc.ModelNotFoundError),
        (ErrorReply(500, "Internal error.", code="InternalError"), core.ServerError, lc.ModelAPIError),
    ],
)
@pytest.mark.parametrize("call", ["invoke", "stream"])
def test_http_errors(
    make_model: ChatFactory,
    emu: DashScopeEmulator,
    reply: ErrorReply,
    core_cls: type[Exception],
    lc_cls: type[Exception],
    call: str,
) -> None:
    emu.enqueue(reply)
    model = make_model()
    with pytest.raises(core_cls) as info:
        model.invoke("hi") if call == "invoke" else list(model.stream("hi"))
    assert isinstance(info.value, lc_cls)
    assert isinstance(info.value.__cause__, core_cls)
    assert info.value.message == info.value.__cause__.message  # type: ignore[attr-defined]


async def test_async_errors_are_mapped_too(make_model: ChatFactory, emu: DashScopeEmulator) -> None:
    emu.enqueue(
        ErrorReply(429, "slow down", code="limit_requests"), ErrorReply(429, "slow down", code="limit_requests")
    )
    model = make_model()
    with pytest.raises(lc.ModelRateLimitError):
        await model.ainvoke("hi")
    with pytest.raises(core.RateLimitError):
        [c async for c in model.astream("hi")]


def test_wrong_key_is_an_authentication_error(emu: DashScopeEmulator, protocol: str) -> None:
    model = ChatQwenVL(api_key="wrong", max_retries=0, **endpoint(emu, protocol))
    with pytest.raises(lc.ModelAuthenticationError) as info:
        model.invoke("hi")
    assert isinstance(info.value, core.AuthenticationError)
    model._get_client().close()


def test_mid_stream_error_raises_after_the_chunks_already_yielded(
    make_model: ChatFactory, emu: DashScopeEmulator, protocol: str
) -> None:
    # `after_chunks` counts data events: the compat stream opens with a role-only chunk, the native one does not.
    after_chunks = {"openai": 3, "dashscope": 2}[protocol]
    emu.enqueue(
        Reply(
            text="0123456789",
            chunk_size=2,
            fault=ErrorFrame(after_chunks=after_chunks, message="Input data may contain inappropriate content."),
        )
    )
    received: list[AIMessageChunk] = []

    def consume() -> None:
        received.extend(make_model().stream("hi"))

    with pytest.raises(core.StreamError) as info:
        consume()
    assert [c.content for c in received] == ["01", "23"]
    assert isinstance(info.value, lc.ModelError)
    assert not isinstance(info.value, lc.ModelAPIError)
    assert info.value.partial.text == "0123"  # type: ignore[attr-defined]


def test_policy_errors_are_value_errors_before_any_request(make_model: ChatFactory, emu: DashScopeEmulator) -> None:
    with pytest.raises(ValueError, match=r"^qvq-max is a thinking-only model: enable_thinking=False is not allowed"):
        make_model("qvq-max", enable_thinking=False).invoke("hi")
    with pytest.raises(ValueError, match=r"^qvq-max does not support tool calling"):
        make_model("qvq-max").bind_tools([{"type": "function", "function": {"name": "f"}}]).invoke("hi")
    with pytest.raises(ValueError, match=r"^thinking_budget=10 was given but thinking is off for qwen3-vl-plus"):
        make_model(thinking_budget=10).invoke("hi")
    assert emu.requests == []


@pytest.mark.parametrize(
    ("error", "dual"),
    [
        (core.MissingAPIKeyError("no key"), (core.MissingAPIKeyError, lc.ModelAuthenticationError)),
        (core.APITimeoutError("slow"), (core.APITimeoutError, lc.ModelTimeoutError)),
        (core.APIConnectionError("down"), (core.APIConnectionError, lc.ModelConnectionError)),
        (core.IncompleteStreamError("cut"), (core.IncompleteStreamError, lc.ModelConnectionError)),
        (core.QwenVLError("odd"), (core.QwenVLError, lc.ModelError)),
    ],
)
def test_every_core_error_has_a_twin(error: core.QwenVLError, dual: tuple[type, type]) -> None:
    error.request_id = "rid"
    twin = to_langchain_error(error)
    assert isinstance(twin, dual[0])
    assert isinstance(twin, dual[1])
    assert (twin.message, twin.request_id, twin.retryable) == (error.message, "rid", error.retryable)
    assert twin.is_retryable == dual[1].is_retryable  # type: ignore[attr-defined]
    assert to_langchain_error(twin) is twin
