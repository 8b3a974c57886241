"""`QwenVL` against the emulator: settings, metadata, chat / stream / async / complete, errors, on
both wire protocols (the `protocol` fixture)."""

from __future__ import annotations

import asyncio
import base64
import copy
import io
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from li_support import (
    PNG,
    PNG_B64,
    PNG_URL,
    endpoint,
    response_id,
    sent_messages,
    sent_params,
    text_message,
    usage_wire,
    was_streamed,
)
from llama_index.core.base.llms.types import (
    ChatMessage,
    ChatResponse,
    CompletionResponse,
    ImageBlock,
    LLMMetadata,
    MessageRole,
    TextBlock,
    ThinkingBlock,
    VideoBlock,
)
from llama_index.core.instrumentation import get_dispatcher
from llama_index.core.instrumentation.event_handlers import BaseEventHandler
from llama_index.core.instrumentation.events import BaseEvent
from llama_index.core.instrumentation.events.llm import LLMChatEndEvent, LLMCompletionEndEvent
from pydantic import SecretStr

from llama_index_qwen_vl import QwenVL
from qwen_vl_core import AuthenticationError, InvalidRequestError, MissingAPIKeyError, UnknownModelWarning
from qwen_vl_core.testing import DashScopeEmulator, ErrorReply, Reply

MakeLLM = Callable[..., QwenVL]
ONE_PIXEL_PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4z8AAAAMBAQDJ/pLvAAAAAElFTkSuQmCC"
)
HI = [ChatMessage(role="user", content="hi")]


def _usage(protocol: str) -> dict[str, Any]:
    return usage_wire(protocol, 12, 9, reasoning_tokens=5)


def _think(protocol: str) -> Reply:
    return Reply(reasoning=["Let me ", "look."], text=["A red ", "dot."], usage=_usage(protocol), request_id="r1")


FINAL_KWARGS = {
    "reasoning_content": "Let me look.",
    "prompt_tokens": 12,
    "completion_tokens": 9,
    "total_tokens": 21,
    "reasoning_tokens": 5,
    "finish_reason": "stop",
}


def _assistant(*blocks: Any, **kwargs: Any) -> ChatMessage:
    return ChatMessage(role=MessageRole.ASSISTANT, blocks=list(blocks), additional_kwargs=kwargs)


def _raw(protocol: str, model: str) -> dict[str, Any]:
    return {
        "id": response_id(protocol, "r1"),
        "model": model,
        "request_id": "r1",
        "finish_reason": "stop",
        "usage": _usage(protocol),
    }


FINAL = _assistant(ThinkingBlock(content="Let me look.", num_tokens=5), TextBlock(text="A red dot."))


# -- settings ----------------------------------------------------------------------------------


def test_construction_needs_no_key_and_no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DASHSCOPE_API_KEY", raising=False)
    llm = QwenVL(model="qvq-max", region="intl")
    with pytest.raises(MissingAPIKeyError, match="set the DASHSCOPE_API_KEY environment variable"):
        llm.chat(HI)


def test_api_key_never_serialized() -> None:
    llm = QwenVL(api_key="sk-very-secret")
    assert "api_key" not in llm.model_dump()
    assert "api_key" not in llm.to_dict()
    assert "sk-very-secret" not in llm.to_json()
    assert "sk-very-secret" not in repr(llm)
    assert "sk-very-secret" not in str(llm.to_payload())
    assert isinstance(llm.api_key, SecretStr)
    assert llm.api_key.get_secret_value() == "sk-very-secret"


def test_to_dict_round_trip() -> None:
    llm = QwenVL(
        model="qwen3-vl-flash",
        enable_thinking=True,
        thinking_budget=100,
        temperature=0.5,
        stop=["END"],
        additional_kwargs={"x": 1},
    )
    data = llm.to_dict()
    assert data["class_name"] == "QwenVL"
    again = QwenVL.from_dict(data)
    assert again.model_dump() == llm.model_dump()


def test_pickles_without_the_client(make_llm: MakeLLM, emu: DashScopeEmulator) -> None:
    llm = make_llm()
    llm.chat(HI)
    again = pickle.loads(pickle.dumps(llm))
    assert again.chat(HI).message.content == "Hello from the DashScope emulator."
    again.close()


def test_env_key_is_not_sent_to_a_non_dashscope_host(
    monkeypatch: pytest.MonkeyPatch, emu: DashScopeEmulator, protocol: str
) -> None:
    monkeypatch.setenv("DASHSCOPE_API_KEY", "test-key")
    llm = QwenVL(**endpoint(emu, protocol))
    with pytest.raises(AuthenticationError):
        llm.chat(HI)
    llm.close()
    assert emu.last_request.headers["authorization"] == "Bearer EMPTY"


def test_bad_region_fails_at_construction() -> None:
    with pytest.raises(ValueError, match=r"^Unknown region 'mars': use 'intl'"):
        QwenVL(region="mars")


def test_unknown_model_warns_once_at_construction() -> None:
    with pytest.warns(UnknownModelWarning, match="'qwen-vl-next' is not in the qwen-vl catalog"):
        llm = QwenVL(model="qwen-vl-next")
    assert llm.metadata.is_function_calling_model is True


def test_client_is_rebuilt_when_a_connection_field_changes(make_llm: MakeLLM) -> None:
    llm = make_llm()
    first = llm.client
    assert llm.client is first
    llm.timeout = 5.0
    assert llm.client is not first


@pytest.mark.parametrize(
    ("model", "fields", "expected"),
    [
        (
            "qwen3-vl-plus",
            {},
            LLMMetadata(
                context_window=262_144,
                num_output=32_768,
                is_chat_model=True,
                is_function_calling_model=True,
                model_name="qwen3-vl-plus",
            ),
        ),
        (
            "qwen3-vl-8b-thinking",
            {"max_tokens": 1000},
            LLMMetadata(
                context_window=131_072,
                num_output=1000,
                is_chat_model=True,
                is_function_calling_model=True,
                model_name="qwen3-vl-8b-thinking",
            ),
        ),
        (
            "qvq-max-latest",
            {},
            LLMMetadata(
                context_window=131_072,
                num_output=8_192,
                is_chat_model=True,
                is_function_calling_model=False,
                model_name="qvq-max-latest",
            ),
        ),
    ],
)
def test_metadata(model: str, fields: dict[str, Any], expected: LLMMetadata) -> None:
    assert QwenVL(model=model, **fields).metadata == expected


# -- chat --------------------------------------------------------------------------------------


def test_chat_sends_blocks_and_options(make_llm: MakeLLM, emu: DashScopeEmulator, protocol: str) -> None:
    llm = make_llm(
        temperature=0.2,
        top_k=5,
        max_tokens=300,
        seed=7,
        stop=["END"],
        vl_high_resolution_images=True,
        additional_kwargs={"x_custom": True},
    )
    emu.enqueue(Reply(text="A dot.", usage=usage_wire(protocol, 3, 2), request_id="r2"))
    messages = [ChatMessage(role="user", blocks=[ImageBlock(image=PNG), TextBlock(text="What is it?")])]
    before = copy.deepcopy(messages)
    response = llm.chat(messages, top_p=0.9, temperature=0.1)
    assert messages == before
    params = {
        "temperature": 0.1,
        "top_p": 0.9,
        "top_k": 5,
        "max_tokens": 300,
        "seed": 7,
        "stop": ["END"],
        "vl_high_resolution_images": True,
        "x_custom": True,
    }
    if protocol == "openai":
        content = [{"type": "image_url", "image_url": {"url": PNG_URL}}, {"type": "text", "text": "What is it?"}]
        expected_body = {"model": "qwen3-vl-plus", "messages": [{"role": "user", "content": content}], **params}
    else:
        content = [{"image": PNG_URL}, {"text": "What is it?"}]
        expected_body = {
            "model": "qwen3-vl-plus",
            "input": {"messages": [{"role": "user", "content": content}]},
            "parameters": {"result_format": "message", **params},
        }
    assert emu.last_request.body == expected_body
    assert response == ChatResponse(
        message=_assistant(TextBlock(text="A dot.")),
        raw={
            "id": response_id(protocol, "r2"),
            "model": "qwen3-vl-plus",
            "request_id": "r2",
            "finish_reason": "stop",
            "usage": usage_wire(protocol, 3, 2),
            # The 16x16 image as sent, and as the model saw it (scaled up to the 4-token minimum, 64x64).
            "qwen_vl_images": [
                {
                    "width": 16,
                    "height": 16,
                    "sent_width": 16,
                    "sent_height": 16,
                    "model_width": 64,
                    "model_height": 64,
                    "coordinates": "relative",
                    "sent_orientation": 1,
                }
            ],
        },
        additional_kwargs={"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5, "finish_reason": "stop"},
    )


def _first_image_url(emu: DashScopeEmulator) -> str:
    item = sent_messages(emu.last_request)[0]["content"][0]
    url = item["image_url"]["url"] if "image_url" in item else item["image"]
    assert isinstance(url, str)
    return url


def test_images_and_videos_on_the_wire(
    make_llm: MakeLLM, emu: DashScopeEmulator, protocol: str, png_file: Path
) -> None:
    blocks = [
        ImageBlock(url="https://example.com/a.png"),
        ImageBlock(url=PNG_URL),
        ImageBlock(path=png_file),
        ImageBlock(url=png_file.as_uri()),
        ImageBlock(image=PNG_B64.encode()),
        VideoBlock(url="https://example.com/v.mp4", fps=2),
        TextBlock(text="Same dot?"),
    ]
    make_llm("qvq-max").chat([ChatMessage(role="user", blocks=blocks)])
    if protocol == "openai":
        image = [{"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}]
        image += [{"type": "image_url", "image_url": {"url": PNG_URL}}] * 4
        content = [
            *image,
            {"type": "video_url", "video_url": {"url": "https://example.com/v.mp4"}, "fps": 2.0},
            {"type": "text", "text": "Same dot?"},
        ]
        assert emu.last_request.body == {
            "model": "qvq-max",
            "messages": [{"role": "user", "content": content}],
            "stream": True,
            "stream_options": {"include_usage": True},
        }
    else:
        content = [
            {"image": "https://example.com/a.png"},
            *[{"image": PNG_URL}] * 4,
            {"video": "https://example.com/v.mp4", "fps": 2.0},
            {"text": "Same dot?"},
        ]
        assert emu.last_request.body == {
            "model": "qvq-max",
            "input": {"messages": [{"role": "user", "content": content}]},
            "parameters": {"result_format": "message", "incremental_output": True},
        }


def test_inline_image_without_a_mime_type_is_sent_typed(
    make_llm: MakeLLM, emu: DashScopeEmulator, protocol: str
) -> None:
    # RichPromptTemplate emits `block.inline_url()`, which says `data:None` when the type is unknown.
    untyped = ImageBlock(url=f"data:None;base64,{PNG_B64}")
    make_llm().chat([ChatMessage(role="user", blocks=[untyped, TextBlock(text="?")])])
    assert sent_messages(emu.last_request)[0]["content"][0] == (
        {"type": "image_url", "image_url": {"url": PNG_URL}} if protocol == "openai" else {"image": PNG_URL}
    )


def test_bad_inline_images_fail_before_any_request(make_llm: MakeLLM, emu: DashScopeEmulator) -> None:
    llm = make_llm()
    not_an_image = ChatMessage(role="user", blocks=[TextBlock(text="?"), ImageBlock(image=b"\x00\x01\x02\x03" * 4)])
    with pytest.raises(ValueError, match=r"^Image 2 of message 1 \(bytes\) is not a supported image"):
        llm.chat([not_an_image])
    one_pixel = ChatMessage(role="user", blocks=[ImageBlock(image=ONE_PIXEL_PNG)])
    with pytest.raises(ValueError, match=r"^Image 1 of message 1 \(bytes\) is 1x1 px; both sides must be larger"):
        llm.chat([one_pixel])
    assert emu.requests == []


@pytest.mark.parametrize(("downscale", "expected_size"), [(True, (1600, 1600)), (False, (2000, 2000))])
def test_downscale_images_field(
    make_llm: MakeLLM, emu: DashScopeEmulator, downscale: bool, expected_size: tuple[int, int]
) -> None:
    image_module = pytest.importorskip("PIL.Image")
    buffer = io.BytesIO()
    image_module.new("RGB", (2000, 2000), "red").save(buffer, "PNG")
    message = ChatMessage(role="user", blocks=[ImageBlock(image=buffer.getvalue()), TextBlock(text="?")])
    make_llm(downscale_images=downscale).chat([message])
    url = _first_image_url(emu)
    sent = image_module.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1])))
    assert sent.size == expected_size


def test_chat_on_qvq_streams_once_and_aggregates(make_llm: MakeLLM, emu: DashScopeEmulator, protocol: str) -> None:
    emu.enqueue(_think(protocol))
    response = make_llm("qvq-max").chat(HI)
    assert len(emu.requests) == 1
    assert was_streamed(emu.last_request)
    assert response == ChatResponse(message=FINAL, raw=_raw(protocol, "qvq-max"), additional_kwargs=FINAL_KWARGS)


def test_stream_chat_reasoning_goes_to_thinking_delta(make_llm: MakeLLM, emu: DashScopeEmulator, protocol: str) -> None:
    emu.enqueue(_think(protocol))
    chunks = list(make_llm(enable_thinking=True, thinking_budget=500).stream_chat(HI))
    assert emu.last_request.body == (
        {
            "model": "qwen3-vl-plus",
            "messages": [{"role": "user", "content": "hi"}],
            "stream": True,
            "stream_options": {"include_usage": True},
            "enable_thinking": True,
            "thinking_budget": 500,
        }
        if protocol == "openai"
        else {
            "model": "qwen3-vl-plus",
            "input": {"messages": [{"role": "user", "content": [{"text": "hi"}]}]},
            "parameters": {
                "result_format": "message",
                "incremental_output": True,
                "enable_thinking": True,
                "thinking_budget": 500,
            },
        }
    )
    assert chunks == [
        ChatResponse(message=_assistant(TextBlock(text="")), delta="", additional_kwargs={"thinking_delta": "Let me "}),
        ChatResponse(message=_assistant(TextBlock(text="")), delta="", additional_kwargs={"thinking_delta": "look."}),
        ChatResponse(message=_assistant(TextBlock(text="A red ")), delta="A red "),
        ChatResponse(message=_assistant(TextBlock(text="A red dot.")), delta="dot."),
        ChatResponse(message=FINAL, delta="", raw=_raw(protocol, "qwen3-vl-plus"), additional_kwargs=FINAL_KWARGS),
    ]


async def test_achat_and_astream_chat(make_llm: MakeLLM, emu: DashScopeEmulator, protocol: str) -> None:
    llm = make_llm("qvq-plus")
    emu.enqueue(_think(protocol), _think(protocol))
    response = await llm.achat(HI)
    assert response == ChatResponse(message=FINAL, raw=_raw(protocol, "qvq-plus"), additional_kwargs=FINAL_KWARGS)
    chunks = [c async for c in await llm.astream_chat(HI)]
    assert [c.delta for c in chunks] == ["", "", "A red ", "dot.", ""]
    assert [c.additional_kwargs.get("thinking_delta") for c in chunks] == ["Let me ", "look.", None, None, None]
    assert chunks[-1] == ChatResponse(
        message=FINAL, delta="", raw=_raw(protocol, "qvq-plus"), additional_kwargs=FINAL_KWARGS
    )


def test_complete_and_stream_complete_carry_reasoning(make_llm: MakeLLM, emu: DashScopeEmulator, protocol: str) -> None:
    llm = make_llm("qvq-max")
    emu.enqueue(_think(protocol), _think(protocol))
    assert llm.complete("hi") == CompletionResponse(
        text="A red dot.", additional_kwargs=FINAL_KWARGS, raw=_raw(protocol, "qvq-max")
    )
    chunks = list(llm.stream_complete("hi"))
    assert [(c.text, c.delta, c.additional_kwargs.get("thinking_delta")) for c in chunks] == [
        ("", "", "Let me "),
        ("", "", "look."),
        ("A red ", "A red ", None),
        ("A red dot.", "dot.", None),
        ("A red dot.", "", None),
    ]
    assert chunks[-1].additional_kwargs == FINAL_KWARGS


async def test_acomplete_and_astream_complete(make_llm: MakeLLM, emu: DashScopeEmulator, protocol: str) -> None:
    llm = make_llm("qvq-max")
    emu.enqueue(_think(protocol), _think(protocol))
    completion = await llm.acomplete("hi")
    assert (completion.text, completion.additional_kwargs) == ("A red dot.", FINAL_KWARGS)
    chunks = [c async for c in await llm.astream_complete("hi")]
    assert "".join(c.additional_kwargs.get("thinking_delta", "") for c in chunks) == "Let me look."
    assert (chunks[-1].text, chunks[-1].additional_kwargs) == ("A red dot.", FINAL_KWARGS)


def test_late_system_message_is_not_sent_as_system(make_llm: MakeLLM, emu: DashScopeEmulator, protocol: str) -> None:
    # What BaseWorkflowAgent._generate_early_stopping_response sends.
    messages = [
        ChatMessage(role="system", content="You are an agent."),
        ChatMessage(role="user", content="Find it."),
        ChatMessage(role="assistant", content="Searching."),
        ChatMessage(role="system", content="Stop and answer now."),
    ]
    make_llm().chat(messages)
    assert sent_messages(emu.last_request) == [
        text_message(protocol, "user", "You are an agent.\n\nFind it."),
        text_message(protocol, "assistant", "Searching."),
        text_message(protocol, "user", "Stop and answer now."),
    ]


def test_system_message_mode_keep(make_llm: MakeLLM, emu: DashScopeEmulator, protocol: str) -> None:
    make_llm(system_message_mode="keep").chat([ChatMessage(role="system", content="S"), *HI])
    assert sent_messages(emu.last_request) == [
        text_message(protocol, "system", "S"),
        text_message(protocol, "user", "hi"),
    ]
    assert sent_params(emu.last_request) == {}


def test_callbacks_fire_with_the_final_response(make_llm: MakeLLM, emu: DashScopeEmulator, protocol: str) -> None:
    seen: list[BaseEvent] = []

    class Collect(BaseEventHandler):
        def handle(self, event: BaseEvent, **kwargs: Any) -> None:
            if isinstance(event, LLMChatEndEvent | LLMCompletionEndEvent):
                seen.append(event)

    handler = Collect()
    dispatcher = get_dispatcher()
    dispatcher.add_event_handler(handler)
    try:
        emu.enqueue(_think(protocol), _think(protocol))
        llm = make_llm("qvq-max")
        list(llm.stream_chat(HI))
        llm.complete("hi")
    finally:
        dispatcher.event_handlers.remove(handler)
    assert [type(e) for e in seen] == [LLMChatEndEvent, LLMCompletionEndEvent]
    chat_end = seen[0]
    assert isinstance(chat_end, LLMChatEndEvent)
    assert chat_end.response is not None
    assert chat_end.response.message == FINAL


# -- errors ------------------------------------------------------------------------------------


def test_unknown_call_option_is_a_type_error(make_llm: MakeLLM) -> None:
    with pytest.raises(TypeError, match=r"^QwenVL got unexpected keyword argument\(s\) \['frequency_penalty'\]"):
        make_llm().chat(HI, frequency_penalty=1.0)


def test_policy_errors_propagate_before_any_request(make_llm: MakeLLM, emu: DashScopeEmulator) -> None:
    with pytest.raises(ValueError, match=r"^qvq-max is a thinking-only model: enable_thinking=False is not allowed"):
        make_llm("qvq-max", enable_thinking=False).chat(HI)
    with pytest.raises(ValueError, match=r"^qvq-max is a thinking-only model"):
        list(make_llm("qvq-max").stream_chat(HI, enable_thinking=False))
    with pytest.raises(ValueError, match=r"^thinking_budget=100 was given but thinking is off for qwen3-vl-plus"):
        make_llm(thinking_budget=100).chat(HI)
    assert emu.requests == []


def test_api_errors_propagate(make_llm: MakeLLM, emu: DashScopeEmulator) -> None:
    emu.enqueue(ErrorReply(status=400, message="<400> InternalError.Algo.InvalidParameter: bad"))
    with pytest.raises(InvalidRequestError, match="bad"):
        make_llm().chat(HI)


def test_bad_block_fails_when_the_stream_is_created(make_llm: MakeLLM, emu: DashScopeEmulator) -> None:
    messages = [ChatMessage(role="user", blocks=[ImageBlock(url="ftp://x/y.png")])]
    with pytest.raises(ValueError, match=r"^Image 1 of message 1: unsupported URL 'ftp://x/y.png'; use http"):
        make_llm().stream_chat(messages)
    assert emu.requests == []


def test_custom_http_client_is_used(make_llm: MakeLLM, emu: DashScopeEmulator) -> None:
    with httpx.Client(headers={"x-from-test": "yes"}) as http_client:
        llm = make_llm(http_client=http_client)
        llm.chat(HI)
    assert emu.last_request.headers["x-from-test"] == "yes"
    assert "http_client" not in llm.model_dump()


async def test_concurrent_astream_chat_streams_do_not_mix(make_llm: MakeLLM, emu: DashScopeEmulator) -> None:
    llm = make_llm("qvq-max")
    emu.enqueue(*[Reply(reasoning=f"r{i} " * 20, text=f"answer {i}", chunk_size=3) for i in range(16)])

    async def one() -> tuple[str, str]:
        chunks = [c async for c in await llm.astream_chat(HI)]
        thinking = "".join(c.additional_kwargs.get("thinking_delta", "") for c in chunks)
        return thinking, chunks[-1].message.content or ""

    results = await asyncio.gather(*(one() for _ in range(16)))
    for thinking, answer in results:
        i = answer.removeprefix("answer ")
        assert thinking == f"r{i} " * 20
    assert sorted(answer for _, answer in results) == sorted(f"answer {i}" for i in range(16))


def test_aclose_lets_one_instance_serve_several_event_loops(make_llm: MakeLLM, emu: DashScopeEmulator) -> None:
    llm = make_llm()

    async def ask() -> str | None:
        try:
            return (await llm.achat(HI)).message.content
        finally:
            await llm.aclose()

    assert [asyncio.run(ask()) for _ in range(2)] == ["Hello from the DashScope emulator."] * 2


def test_connect_timeout_reaches_the_client() -> None:
    from llama_index_qwen_vl import QwenVL

    client = QwenVL(api_key="k", connect_timeout=2.5, timeout=30.0).client
    assert (client.options.connect_timeout, client.options.timeout) == (2.5, 30.0)
