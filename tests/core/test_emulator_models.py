"""The emulator's own model table: names, model-not-found, registered names, and the rules its facts drive.

The table must stay independent of the library's catalog, so a wrong catalog fact fails a test
instead of passing on both sides.
"""

from __future__ import annotations

import ast
import base64
import json
import re
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from qwen_vl_core.testing import MODEL_FACTS, DashScopeEmulator, ModelFacts, Reply

AUTH = {"Authorization": "Bearer test-key"}
SSE = {"X-DashScope-SSE": "enable"}
SSE_TYPE = "text/event-stream;charset=UTF-8"
P = "<400> InternalError.Algo.InvalidParameter: "
MM = "/services/aigc/multimodal-generation/generation"
USER = [{"role": "user", "content": "Describe the picture."}]
NATIVE_USER = [{"role": "user", "content": [{"text": "Describe."}]}]
TOOLS = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
NOT_FOUND = "The model does not exist or you do not have access to it."
DEFAULT_TEXT = "Hello from the DashScope emulator."
TESTING = Path(__file__).resolve().parents[2] / "qwen_vl_core" / "testing"


@pytest.fixture
def emu() -> Iterator[DashScopeEmulator]:
    with DashScopeEmulator() as emulator:
        yield emulator


@pytest.fixture
def client(emu: DashScopeEmulator) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=emu.base_url, headers=AUTH, timeout=30) as http:
        yield http


@pytest.fixture
def native(emu: DashScopeEmulator) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=emu.native_base_url, headers=AUTH, timeout=30) as http:
        yield http


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def post(client: httpx.Client, body: dict[str, Any]) -> httpx.Response:
    return client.post("/chat/completions", json={"messages": USER, **body})


def native_post(client: httpx.Client, model: str, stream: bool = False, **parameters: Any) -> httpx.Response:
    body = {"model": model, "input": {"messages": NATIVE_USER}, "parameters": parameters}
    return client.post(MM, json=body, headers=SSE if stream else None)


def compat_error(r: httpx.Response, message: str, code: str = "invalid_parameter_error") -> str:
    rid = r.headers["x-request-id"]
    assert UUID.fullmatch(rid)
    error = {"code": code, "param": None, "message": message, "type": "invalid_request_error"}
    return dumps({"error": error, "id": f"chatcmpl-{rid}", "request_id": rid})


def native_error(r: httpx.Response, message: str, code: str = "InvalidParameter") -> str:
    return dumps({"code": code, "message": message, "request_id": r.headers["x-request-id"]})


def native_event(r: httpx.Response, message: str, status: int = 400) -> str:
    return f"id:1\nevent:error\n:HTTP_STATUS/{status}\ndata:{native_error(r, message)}\n\n"


# -- the table ---------------------------------------------------------------------------------


def test_the_table_lists_the_documented_names():
    assert set(MODEL_FACTS) == {
        *("qwen3-vl-plus", "qwen3-vl-plus-2025-09-23", "qwen3-vl-plus-2025-12-19"),
        *("qwen3-vl-flash", "qwen3-vl-flash-2025-10-15", "qwen3-vl-flash-us", "qwen3-vl-flash-2025-10-15-us"),
        *("qwen3-vl-235b-a22b-thinking", "qwen3-vl-32b-thinking", "qwen3-vl-30b-a3b-thinking", "qwen3-vl-8b-thinking"),
        *("qwen3-vl-235b-a22b-instruct", "qwen3-vl-32b-instruct", "qwen3-vl-30b-a3b-instruct", "qwen3-vl-8b-instruct"),
        *("qvq-max", "qvq-max-latest", "qvq-max-2025-03-25", "qvq-max-2025-05-15"),
        *("qvq-plus", "qvq-plus-latest", "qvq-plus-2025-05-15"),
        *("qwen3.5-plus", "qwen3.5-plus-2026-02-15", "qwen3.5-flash", "qwen3.5-flash-2026-02-23"),
        *("qwen3.5-397b-a17b", "qwen3.5-122b-a10b", "qwen3.5-27b", "qwen3.5-35b-a3b"),
        *("qwen3.6-plus", "qwen3.6-plus-2026-04-02", "qwen3.6-flash", "qwen3.6-flash-2026-04-16", "qwen3.6-35b-a3b"),
        *("qwen3.7-plus", "qwen3.7-plus-2026-05-26", "qwen3.7-plus-us", "qwen3.7-flash", "qwen3.7-flash-2026-07-15"),
    }
    with pytest.raises(TypeError):
        MODEL_FACTS["x"] = ModelFacts()  # type: ignore[index]


VL_PIXELS = {"pixel_unit": 32, "default_max_pixels": 2_621_440, "high_res_max_pixels": 16_777_216}
NEW_HYBRID = {"thinking": "hybrid", "thinking_default": True, "tools": True, "json_mode": True}


@pytest.mark.parametrize(
    ("name", "facts"),
    [
        (
            "qwen3-vl-flash-2025-10-15-us",
            ModelFacts(
                thinking="hybrid",
                thinking_default=False,
                stream_only=False,
                non_stream_thinking_refused=False,
                max_thinking_budget=81_920,
                tools=True,
                json_mode=True,
                context_window=262_144,
                max_input_tokens=258_048,
                max_input_tokens_non_thinking=260_096,
                **VL_PIXELS,
            ),
        ),
        (
            "qwen3-vl-32b-thinking",
            ModelFacts(
                thinking="only",
                stream_only=False,
                non_stream_thinking_refused=False,
                max_thinking_budget=81_920,
                tools=True,
                context_window=131_072,
                max_input_tokens=126_976,
                **VL_PIXELS,
            ),
        ),
        (
            "qwen3-vl-8b-thinking",
            ModelFacts(thinking="only", stream_only=False, non_stream_thinking_refused=False, **VL_PIXELS),
        ),
        ("qwen3-vl-8b-instruct", ModelFacts(thinking="none", **VL_PIXELS)),
        (
            "qvq-max-latest",
            ModelFacts(
                thinking="only",
                stream_only=True,
                max_thinking_budget=16_384,
                context_window=131_072,
                max_input_tokens=106_496,
                pixel_unit=28,
                default_max_pixels=1_003_520,
                high_res_max_pixels=12_845_056,
            ),
        ),
        (
            "qvq-plus",
            ModelFacts(
                thinking="only",
                stream_only=True,
                context_window=131_072,
                pixel_unit=28,
                default_max_pixels=1_003_520,
                high_res_max_pixels=12_845_056,
            ),
        ),
        (
            "qwen3.5-flash-2026-02-23",
            ModelFacts(**NEW_HYBRID, stream_only=False, non_stream_thinking_refused=False, context_window=1_000_000),
        ),
        ("qwen3.5-27b", ModelFacts(**NEW_HYBRID, stream_only=False, non_stream_thinking_refused=False)),
        (
            "qwen3.6-plus",
            ModelFacts(**NEW_HYBRID, stream_only=False, non_stream_thinking_refused=False, context_window=1_000_000),
        ),
        ("qwen3.6-flash", ModelFacts(**NEW_HYBRID, context_window=1_000_000)),
        ("qwen3.6-35b-a3b", ModelFacts(**NEW_HYBRID)),
        ("qwen3.7-plus-2026-05-26", ModelFacts(thinking="hybrid", tools=True)),
    ],
)
def test_facts_per_family(name, facts):
    assert MODEL_FACTS[name] == facts


def test_thinking_mode_and_input_limit_helpers():
    hybrid = MODEL_FACTS["qwen3-vl-plus"]
    assert [hybrid.thinking_mode(v) for v in (None, True, False, "yes")] == [False, True, False, False]
    assert [MODEL_FACTS["qwen3.5-plus"].thinking_mode(v) for v in (None, False)] == [True, False]
    assert [MODEL_FACTS["qwen3.7-plus"].thinking_mode(v) for v in (None, True)] == [None, True]
    assert [MODEL_FACTS["qvq-max"].thinking_mode(False), MODEL_FACTS["qwen3-vl-8b-instruct"].thinking_mode(True)] == [
        True,
        False,
    ]
    assert ModelFacts().thinking_mode(True) is None
    assert [hybrid.input_limit(m) for m in (True, False, None)] == [258_048, 260_096, 260_096]
    assert [MODEL_FACTS["qvq-max"].input_limit(m) for m in (True, None)] == [106_496, 106_496]


def test_no_emulator_module_reads_the_library_catalog():
    imported: set[str] = set()
    for path in TESTING.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module:
                imported.add(node.module)
                imported.update(f"{node.module}.{alias.name}" for alias in node.names)
            elif isinstance(node, ast.Import):
                imported.update(alias.name for alias in node.names)
    assert not {name for name in imported if "catalog" in name}


# -- model-not-found ---------------------------------------------------------------------------


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize(
    "model",
    ["no-such-model", "qwen3-vl-plus-latest", "QWEN3-VL-PLUS", "Qwen/Qwen3-VL-8B-Thinking", "qvq-plus-2025-03-25"],
)
def test_unknown_names_get_model_not_found(emu, client, native, model, stream):
    emu.enqueue(Reply(text="must not be consumed"))
    r = post(client, {"model": model, "stream": stream})
    # A plain 404 JSON body even for a stream ([I]: the gateway answers before any SSE starts).
    assert (r.status_code, r.headers["content-type"]) == (404, "application/json")
    assert r.text == compat_error(r, NOT_FOUND, code="model_not_found")
    r = native_post(native, model, stream=stream, incremental_output=True)
    assert (r.status_code, r.headers["content-type"]) == (404, "application/json")
    assert r.text == native_error(r, NOT_FOUND, code="ModelNotFound")
    assert emu.pending == 1


def test_openai_sdk_sees_a_not_found_error(emu):
    sdk = openai.OpenAI(base_url=emu.base_url, api_key="test-key", max_retries=0)
    with pytest.raises(openai.NotFoundError) as info:
        sdk.chat.completions.create(model="gpt-4o", messages=USER)  # type: ignore[arg-type]
    assert (info.value.status_code, info.value.code) == (404, "model_not_found")
    assert info.value.body == {
        "code": "model_not_found",
        "param": None,
        "message": NOT_FOUND,
        "type": "invalid_request_error",
    }
    sdk.close()


@pytest.mark.parametrize("model", [None, 123])
def test_compat_without_a_model(client, model):
    body: dict[str, Any] = {"messages": USER} if model is None else {"model": model, "messages": USER}
    r = client.post("/chat/completions", json=body)
    assert r.status_code == 400
    assert r.text == compat_error(r, "you must provide a model parameter.", code="invalid_request_error")


def test_every_listed_name_is_served(client):
    for name in MODEL_FACTS:
        r = post(client, {"model": name, "stream": True})
        assert (name, r.status_code) == (name, 200)


def test_vllm_flavour_serves_any_name():
    with DashScopeEmulator(flavour="vllm") as emu:
        r = httpx.post(
            f"{emu.base_url}/chat/completions", headers=AUTH, json={"model": "my/any-model", "messages": USER}
        )
        assert r.json()["model"] == "my/any-model"


# -- registered names --------------------------------------------------------------------------


def test_registered_names_are_known_per_emulator():
    extra = ModelFacts(stream_only=True)
    with DashScopeEmulator(models={"lab-model": ModelFacts(), "qwen3-vl-plus": extra}) as emu:
        with httpx.Client(base_url=emu.base_url, headers=AUTH, timeout=10) as http:
            assert post(http, {"model": "lab-model"}).json()["choices"][0]["message"]["content"] == DEFAULT_TEXT
            r = post(http, {"model": "qwen3-vl-plus"})  # the override: now stream-only
            assert r.text == compat_error(
                r, "This model only support stream mode, please enable the stream parameter to access the model. "
            )
            assert post(http, {"model": "later"}).status_code == 404
            emu.register_model("later")
            assert post(http, {"model": "later"}).status_code == 200
            emu.register_model("later", ModelFacts(thinking="only"))
            r = post(http, {"model": "later", "enable_thinking": False})
            assert r.text == compat_error(r, P + "The value of the enable_thinking parameter is restricted to True.")
        assert (emu.models["lab-model"], emu.models["later"], emu.models["qwen3-vl-plus"]) == (
            ModelFacts(),
            ModelFacts(thinking="only"),
            extra,
        )
    assert "lab-model" not in MODEL_FACTS
    assert MODEL_FACTS["qwen3-vl-plus"].stream_only is False


def test_register_validation():
    with pytest.raises(TypeError, match="the facts for 'x' must be a ModelFacts, got dict"):
        DashScopeEmulator(models={"x": {}})  # type: ignore[dict-item]
    with pytest.raises(TypeError, match="a model name must be a non-empty str, got ''"):
        DashScopeEmulator().register_model("")
    with pytest.raises(ValueError, match="new_connection_delay must be >= 0"):
        DashScopeEmulator(new_connection_delay=-1)


def test_a_name_without_facts_gets_the_generic_rules_only(client, emu):
    emu.register_model("lab-model")
    body = {"model": "lab-model", "enable_thinking": True, "thinking_budget": 10**9, "tool_choice": "required"}
    assert post(client, {**body, "tools": TOOLS}).status_code == 200  # no model rule: thinking unknown
    r = post(client, {"model": "lab-model", "response_format": {"type": "json_object"}})
    assert r.text == compat_error(
        r, P + "'messages' must contain the word 'json' in some form, to use 'response_format' of type 'json_object'."
    )


def test_batch_lines_see_registered_names(emu):
    emu.register_model("lab-model")
    sdk = openai.OpenAI(base_url=emu.base_url, api_key="test-key", max_retries=0)
    results = {}
    for model in ("lab-model", "nobody"):
        line = {
            "custom_id": "a",
            "method": "POST",
            "url": "/v1/chat/completions",
            "body": {"model": model, "messages": USER},
        }
        file = sdk.files.create(file=("in.jsonl", (json.dumps(line) + "\n").encode()), purpose="batch")
        batch_id = sdk.batches.create(
            input_file_id=file.id, endpoint="/v1/chat/completions", completion_window="24h"
        ).id
        while (batch := sdk.batches.retrieve(batch_id)).status != "completed":
            pass
        file_id = (
            batch.output_file_id if batch.request_counts and batch.request_counts.completed else batch.error_file_id
        )
        assert file_id is not None
        results[model] = json.loads(sdk.files.content(file_id).text)
    sdk.close()
    assert results["lab-model"]["response"]["body"]["choices"][0]["message"]["content"] == DEFAULT_TEXT
    assert results["nobody"]["error"]["message"] == NOT_FOUND


# -- rules of the new families -------------------------------------------------------------------

FORCED = "The tool_choice parameter does not support being set to required or object in thinking mode"
JSON_MODE = "Json mode response is not supported when enable_thinking is true"


@pytest.mark.parametrize("model", ["qwen3.5-plus", "qwen3.5-397b-a17b", "qwen3.6-plus", "qwen3.6-flash-2026-04-16"])
def test_thinking_on_by_default_refuses_forced_tools_and_json_mode(client, model):
    forced = {"model": model, "tools": TOOLS, "tool_choice": {"type": "function", "function": {"name": "get_weather"}}}
    r = post(client, forced)
    assert r.text == compat_error(r, P + FORCED)
    assert post(client, {**forced, "enable_thinking": False}).status_code == 200
    json_body = {
        "model": model,
        "response_format": {"type": "json_object"},
        "messages": [{"role": "user", "content": "json"}],
    }
    r = post(client, json_body)
    assert r.text == compat_error(r, P + JSON_MODE)
    assert post(client, {**json_body, "enable_thinking": False}).status_code == 200


def test_qwen37_default_is_unknown_so_only_explicit_thinking_is_checked(client):
    forced = {"model": "qwen3.7-plus", "tools": TOOLS, "tool_choice": "required"}
    assert post(client, forced).status_code == 200
    r = post(client, {**forced, "enable_thinking": True})
    assert r.text == compat_error(r, P + FORCED)


def test_qwen36_plus_answers_non_streaming_in_thinking_shape(emu, client):
    emu.enqueue(Reply(reasoning="Think.", text="Done."))
    r = post(client, {"model": "qwen3.6-plus"})
    assert r.json()["choices"][0]["message"] == {"content": "Done.", "reasoning_content": "Think.", "role": "assistant"}
    r = post(client, {"model": "qwen3.6-plus", "enable_thinking": True, "thinking_budget": 10**9})
    assert r.status_code == 200  # no sourced maximum: the budget is not checked


def test_native_default_thinking_needs_incremental_output(native):
    r = native_post(native, "qwen3.5-plus", stream=True)
    assert (r.status_code, r.text) == (
        200,
        native_event(r, 'The incremental_output parameter must be "true" when enable_thinking is true'),
    )
    assert native_post(native, "qwen3.5-plus", stream=True, incremental_output=True).status_code == 200
    assert native_post(native, "qwen3-vl-plus", stream=True).status_code == 200  # thinking off by default


def test_instruct_models_refuse_enable_thinking(client, native):
    message = "The model qwen3-vl-8b-instruct does not support enable_thinking."
    r = post(client, {"model": "qwen3-vl-8b-instruct", "enable_thinking": True})
    assert (r.status_code, r.text) == (400, compat_error(r, P + message))
    assert post(client, {"model": "qwen3-vl-8b-instruct", "enable_thinking": False}).status_code == 200
    r = native_post(native, "qwen3-vl-8b-instruct", enable_thinking=True)
    assert (r.status_code, r.text) == (400, native_error(r, message, code="InvalidParameter.NotSupportEnableThinking"))


def test_non_stream_thinking_refused_where_the_facts_say(emu, client, native):
    emu.register_model("stream-thinker", ModelFacts(thinking="hybrid", non_stream_thinking_refused=True))
    message = "parameter.enable_thinking must be set to false for non-streaming calls"
    r = post(client, {"model": "stream-thinker", "enable_thinking": True})
    assert (r.status_code, r.text) == (400, compat_error(r, message))  # no internal prefix
    assert post(client, {"model": "stream-thinker", "enable_thinking": True, "stream": True}).status_code == 200
    assert post(client, {"model": "stream-thinker"}).status_code == 200  # thinking default unknown
    r = native_post(native, "stream-thinker", enable_thinking=True)
    assert (r.status_code, r.text) == (400, native_error(r, message))


def test_tools_refused_where_the_facts_say(emu, client, native):
    emu.register_model("no-tools", ModelFacts(tools=False))
    r = post(client, {"model": "no-tools", "tools": TOOLS, "stream": True})
    assert (r.status_code, r.text) == (400, f"data: {compat_error(r, P + 'The tool call is not supported.')}\n\n")
    r = native_post(native, "no-tools", tools=TOOLS)
    assert r.text == native_error(r, "The tool call is not supported.")
    assert post(client, {"model": "qvq-max", "tools": TOOLS, "stream": True}).status_code == 200  # QVQ: unsourced


# -- input length --------------------------------------------------------------------------------


def png(width: int, height: int) -> str:
    header = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + struct.pack(">II", width, height) + b"\x08\x02\x00\x00\x00"
    return "data:image/png;base64," + base64.b64encode(header).decode()


def test_input_length_for_qvq_max(client, native):
    def body(images: int) -> dict[str, Any]:
        parts = [{"type": "image_url", "image_url": {"url": png(7168, 7168)}}] * images
        content = [*parts, {"type": "text", "text": "Compare."}]
        return {
            "model": "qvq-max",
            "stream": True,
            "vl_high_resolution_images": True,
            "messages": [{"role": "user", "content": content}],
        }

    assert post(client, body(6)).status_code == 200  # 6 x 16,386 + 3 = 98,319
    r = post(client, body(7))  # 7 x 16,386 + 3 = 114,705 > 106,496
    assert (r.status_code, r.text) == (
        400,
        f"data: {compat_error(r, P + 'Range of input length should be [1, 106496]')}\n\n",
    )


def test_input_length_depends_on_the_thinking_mode(client, native):
    text = "abcd" * 259_000  # 259,001 tokens: over 258,048 (thinking), under 260,096 (non-thinking)
    assert post(client, {"model": "qwen3-vl-plus", "messages": [{"role": "user", "content": text}]}).status_code == 200
    r = post(
        client, {"model": "qwen3-vl-plus", "enable_thinking": True, "messages": [{"role": "user", "content": text}]}
    )
    assert r.text == compat_error(r, P + "Range of input length should be [1, 258048]")
    body = {
        "model": "qwen3-vl-plus",
        "input": {"messages": [{"role": "user", "content": [{"text": text + "x" * 8_000}]}]},
    }
    r = native.post(MM, json=body)
    assert (r.status_code, r.text) == (400, native_error(r, "Range of input length should be [1, 260096]"))
