"""`ChatQwenVL` fields, serialization, tracing params, profile and request building (no network)."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable

import pytest
from langchain_core.exceptions import ModelAuthenticationError
from langchain_core.load import dumpd, dumps, load
from langchain_core.messages import HumanMessage

from langchain_qwen_vl import ChatQwenVL
from qwen_vl_core import (
    ChatRequest,
    FunctionChoice,
    Message,
    MissingAPIKeyError,
    SamplingOptions,
    TextPart,
    ThinkingOptions,
    ToolSpec,
)

SECRET = "sk-very-secret-123"


def test_construction_needs_no_key_and_builds_no_client() -> None:
    model = ChatQwenVL()
    assert (model.model, model.api_key, model._clients.client) == ("qwen3-vl-plus", None, None)


def test_aliases_and_env_key(monkeypatch: pytest.MonkeyPatch) -> None:
    model = ChatQwenVL(model_name="qvq-max", dashscope_api_key=SECRET)
    assert model.model == "qvq-max"
    assert model.api_key is not None
    assert model.api_key.get_secret_value() == SECRET
    monkeypatch.setenv("DASHSCOPE_API_KEY", "from-env")
    env_model = ChatQwenVL()
    assert env_model.api_key is not None
    assert env_model.api_key.get_secret_value() == "from-env"


def test_unknown_fields_are_rejected_not_ignored() -> None:
    with pytest.raises(ValueError, match=r"frequency_penalty\n  Extra inputs are not permitted"):
        ChatQwenVL(frequency_penalty=5)


def test_bad_region_fails_at_construction() -> None:
    with pytest.raises(ValueError, match=r"Unknown region 'mars'"):
        ChatQwenVL(region="mars")


def test_missing_key_is_raised_at_the_first_request_as_both_error_types() -> None:
    model = ChatQwenVL(region="intl")
    with pytest.raises(MissingAPIKeyError) as info:
        model.invoke("hi")
    assert isinstance(info.value, ModelAuthenticationError)
    assert "DASHSCOPE_API_KEY" in str(info.value)


def test_key_never_in_repr_dumps_or_tracing_params() -> None:
    model = ChatQwenVL(api_key=SECRET, temperature=0.2)
    assert SECRET not in repr(model)
    assert SECRET not in str(model)
    assert SECRET not in dumps(model)
    assert SECRET not in json.dumps(model._get_invocation_params(), default=str)
    assert SECRET not in json.dumps(model._get_ls_params(), default=str)
    assert SECRET not in json.dumps(model.asdict(), default=str)


@pytest.mark.filterwarnings(
    "ignore:The function `load` is in beta:langchain_core._api.beta_decorator.LangChainBetaWarning"
)
def test_dumpd_load_round_trip() -> None:
    model = ChatQwenVL(
        model="qwen3-vl-flash", api_key=SECRET, enable_thinking=True, thinking_budget=500, extra_body={"top_k": 5}
    )
    data = dumpd(model)
    assert data["kwargs"]["api_key"] == {"lc": 1, "type": "secret", "id": ["DASHSCOPE_API_KEY"]}
    loaded = load(
        data,
        secrets_map={"DASHSCOPE_API_KEY": SECRET},
        allowed_objects=[ChatQwenVL],
        valid_namespaces=["langchain_qwen_vl"],
    )
    assert isinstance(loaded, ChatQwenVL)
    assert loaded.asdict() == model.asdict()
    assert loaded.api_key is not None
    assert loaded.api_key.get_secret_value() == SECRET


def test_ls_params() -> None:
    model = ChatQwenVL(model="qwen3-vl-flash", temperature=0.5, max_tokens=10, stop=["END"])
    assert model._get_ls_params() == {
        "ls_provider": "dashscope",
        "ls_model_name": "qwen3-vl-flash",
        "ls_model_type": "chat",
        "ls_temperature": 0.5,
        "ls_max_tokens": 10,
        "ls_stop": ["END"],
    }
    assert model._get_ls_params(stop=["X"], model="qvq-max")["ls_model_name"] == "qvq-max"
    assert model._get_ls_params(stop=["X"])["ls_stop"] == ["X"]
    assert model._llm_type == "qwen-vl-chat"


def _profile_subset(model: str) -> dict[str, object]:
    profile = ChatQwenVL(model=model).profile
    assert profile is not None
    keys = (
        "max_input_tokens",
        "image_inputs",
        "video_inputs",
        "reasoning_output",
        "tool_calling",
        "tool_choice",
        "structured_output",
    )
    return {k: profile.get(k) for k in keys}


def test_profile_from_the_catalog() -> None:
    assert _profile_subset("qwen3-vl-plus") == {
        "max_input_tokens": 258_048,
        "image_inputs": True,
        "video_inputs": True,
        "reasoning_output": True,
        "tool_calling": True,
        "tool_choice": True,
        "structured_output": True,
    }
    assert _profile_subset("qwen3-vl-32b-thinking") == {
        "max_input_tokens": 126_976,
        "image_inputs": True,
        "video_inputs": True,
        "reasoning_output": True,
        "tool_calling": True,
        "tool_choice": False,
        "structured_output": False,
    }
    assert _profile_subset("qvq-max") == {
        "max_input_tokens": 106_496,
        "image_inputs": True,
        "video_inputs": True,
        "reasoning_output": True,
        "tool_calling": False,
        "tool_choice": False,
        "structured_output": False,
    }


HI = [HumanMessage("hi")]
HI_CORE = (Message("user", (TextPart("hi"),)),)


def test_request_from_fields() -> None:
    model = ChatQwenVL(
        model="qwen3-vl-flash",
        enable_thinking=True,
        thinking_budget=100,
        system_message_mode="keep",
        temperature=0.1,
        top_p=0.9,
        max_tokens=50,
        seed=7,
        stop=["END"],
        vl_high_resolution_images=True,
        parallel_tool_calls=True,
        extra_body={"top_k": 5, "repetition_penalty": 1.1},
    )
    assert model._request(HI, None, {}) == ChatRequest(
        model="qwen3-vl-flash",
        messages=HI_CORE,
        parallel_tool_calls=None,  # only sent with tools
        thinking=ThinkingOptions(True, 100),
        sampling=SamplingOptions(temperature=0.1, top_p=0.9, max_tokens=50, seed=7, stop=("END",)),
        vl_high_resolution_images=True,
        system_message_mode="keep",
        extra_body={"top_k": 5, "repetition_penalty": 1.1},
    )


def test_per_call_kwargs_win_and_nothing_is_mutated() -> None:
    extra = {"top_k": 5, "repetition_penalty": 1.1}
    model = ChatQwenVL(
        enable_thinking=True, thinking_budget=100, stop=["END"], extra_body=extra, parallel_tool_calls=True
    )
    call_extra = {"top_k": 9}
    tools = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
    request = model._request(
        HI,
        ["STOP"],
        {
            "model": "qwen3-vl-flash",
            "enable_thinking": False,
            "thinking_budget": None,
            "extra_body": call_extra,
            "tools": tools,
            "tool_choice": {"type": "function", "function": {"name": "f"}},
            "parallel_tool_calls": False,
            "temperature": 0.0,
        },
    )
    assert request == ChatRequest(
        model="qwen3-vl-flash",
        messages=HI_CORE,
        tools=(ToolSpec("f", "", {"type": "object"}),),
        tool_choice=FunctionChoice("f"),
        parallel_tool_calls=False,
        thinking=ThinkingOptions(False, None),
        sampling=SamplingOptions(temperature=0.0, stop=("STOP",)),
        extra_body={"top_k": 9, "repetition_penalty": 1.1},
    )
    assert extra == {"top_k": 5, "repetition_penalty": 1.1}
    assert call_extra == {"top_k": 9}
    assert (model.enable_thinking, model.thinking_budget, model.extra_body) == (True, 100, extra)


def test_empty_stop_sends_no_stop() -> None:
    assert ChatQwenVL(stop=[])._request(HI, [], {}).sampling.stop is None


def test_unknown_call_kwargs_are_an_error() -> None:
    with pytest.raises(TypeError) as info:
        ChatQwenVL()._request(HI, None, {"top_k": 3, "frequency_penalty": 1, "logprobs": True})
    assert str(info.value).startswith(
        "ChatQwenVL got unexpected keyword argument(s) ['frequency_penalty', 'logprobs']; accepted: "
    )
    assert str(info.value).endswith(". Put other API parameters in extra_body={...}.")


def test_client_is_built_once_and_rebuilt_when_a_connection_field_changes() -> None:
    model = ChatQwenVL(api_key="k", base_url="http://127.0.0.1:9/compatible-mode/v1")
    client = model._get_client()
    assert model._get_client() is client
    assert model.model_copy(update={"temperature": 0.3})._get_client() is client
    moved = model.model_copy(update={"base_url": "http://127.0.0.1:10/compatible-mode/v1"})
    assert moved._get_client().endpoint.base_url == "http://127.0.0.1:10/compatible-mode/v1"
    assert model._get_client() is client
    assert moved._get_client() is moved._get_client()


def test_a_used_model_can_be_deep_copied(make_model: Callable[..., ChatQwenVL]) -> None:
    model = make_model()
    model.invoke("hi")
    twin = copy.deepcopy(model)
    assert twin.invoke("hi").content == "Hello from the DashScope emulator."
    assert twin._clients.client is not model._clients.client
    twin._get_client().close()


def test_env_key_is_not_handed_to_the_client_explicitly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DASHSCOPE_API_KEY", SECRET)
    assert ChatQwenVL(base_url="http://127.0.0.1:9/v1")._client_options().api_key is None
    explicit = ChatQwenVL(base_url="http://127.0.0.1:9/v1", api_key="mine")._client_options().api_key
    assert explicit is not None
    assert explicit.get_secret_value() == "mine"


def test_connect_timeout_reaches_the_client() -> None:
    from langchain_qwen_vl import ChatQwenVL

    model = ChatQwenVL(api_key="k", connect_timeout=2.5, timeout=30.0)
    client = model._get_client()
    assert (client.options.connect_timeout, client.options.timeout) == (2.5, 30.0)


async def test_close_and_aclose_release_the_pools(dashscope_emulator) -> None:
    from langchain_qwen_vl import ChatQwenVL
    from qwen_vl_core.testing import Reply

    model = ChatQwenVL(base_url=dashscope_emulator.base_url, api_key=dashscope_emulator.api_key)
    dashscope_emulator.enqueue(Reply(text="a"), Reply(text="b"), Reply(text="c"))
    assert (await model.ainvoke("hi")).content == "a"
    await model.aclose()
    assert model.invoke("hi").content == "b"
    model.close()
    assert model.invoke("hi").content == "c"  # usable again: a new pool opens on demand
    model.close()
