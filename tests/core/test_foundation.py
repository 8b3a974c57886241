"""Catalog, regions, errors, public surface, import isolation and the `qwen-vl` command."""

from __future__ import annotations

import base64
import inspect
import io
import subprocess
import sys
import warnings

import pytest
from pydantic import SecretStr

import qwen_vl_core
from qwen_vl_core import (
    KNOWN_MODELS,
    AuthenticationError,
    ContextOverflowError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
    UnknownModelWarning,
    get_spec,
)
from qwen_vl_core.cli import main
from qwen_vl_core.errors import error_from_body, parse_error_body
from qwen_vl_core.regions import is_dashscope_host, region_of, resolve_api_key, resolve_endpoint
from qwen_vl_core.testing import DashScopeEmulator, Reply


@pytest.mark.parametrize(
    ("name", "family"),
    [
        ("qwen3-vl-plus-2025-09-23", "qwen3-vl-plus"),
        ("qwen3-vl-plus-2025-12-19", "qwen3-vl-plus"),
        ("qwen3-vl-flash-2025-10-15-us", "qwen3-vl-flash"),
        ("qwen3-vl-flash-us", "qwen3-vl-flash"),
        ("qvq-max-latest", "qvq-max"),
        ("qvq-plus-2025-05-15", "qvq-plus"),
        ("QWEN3-VL-8B-THINKING", "qwen3-vl-8b-thinking"),
    ],
)
def test_suffixed_names_resolve_to_family(name: str, family: str) -> None:
    spec = get_spec(name)
    assert (spec.name, spec.family, spec.known) == (name, family, True)


def test_catalog_facts() -> None:
    plus, thinker, qvq = get_spec("qwen3-vl-plus"), get_spec("qwen3-vl-235b-a22b-thinking"), get_spec("qvq-plus")
    assert (plus.thinking, plus.thinking_default, plus.stream_only, plus.supports_json_mode) == (
        "hybrid",
        False,
        False,
        True,
    )
    assert (plus.pixel_unit, plus.default_max_pixels, plus.high_res_max_pixels) == (32, 2_621_440, 16_777_216)
    assert (plus.max_input_tokens, plus.max_output_tokens, plus.max_reasoning_tokens) == (258_048, 32_768, 81_920)
    assert (thinker.thinking, thinker.supports_tools, thinker.supports_json_mode) == ("only", True, False)
    assert (qvq.stream_only, qvq.supports_tools, qvq.supports_thinking_budget) == (True, False, False)
    assert (qvq.pixel_unit, qvq.default_max_pixels, qvq.high_res_max_pixels) == (28, 1_003_520, 12_845_056)
    assert len(KNOWN_MODELS) == 41
    assert all(get_spec(name).known for name in KNOWN_MODELS)


def test_unknown_model_warns_once_and_is_permissive() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        first = get_spec("qwen3-vl-unreleased-model")
        second = get_spec("qwen3-vl-unreleased-model")
    assert [type(w.message) for w in caught] == [UnknownModelWarning]
    assert first is second
    assert (first.known, first.stream_only, first.thinking, first.max_reasoning_tokens) == (
        False,
        False,
        "hybrid",
        None,
    )


def test_regions_and_precedence() -> None:
    assert resolve_endpoint(env={}).base_url == "https://dashscope-intl.aliyuncs.com/compatible-mode/v1"
    assert resolve_endpoint(region="us", env={}).base_url == "https://dashscope-us.aliyuncs.com/compatible-mode/v1"
    assert (
        resolve_endpoint(region="cn", protocol="dashscope", env={}).base_url == "https://dashscope.aliyuncs.com/api/v1"
    )
    env = {
        "DASHSCOPE_REGION": "cn",
        "DASHSCOPE_BASE_URL": "https://ws1.ap-southeast-1.maas.aliyuncs.com/compatible-mode/v1/",
    }
    assert resolve_endpoint(env=env).base_url == "https://ws1.ap-southeast-1.maas.aliyuncs.com/compatible-mode/v1"
    assert resolve_endpoint(region="us", env=env).region == "us"  # explicit region beats env base URL
    assert resolve_endpoint(env={"DASHSCOPE_REGION": "cn"}).region == "cn"
    assert resolve_endpoint(base_url="http://localhost:8000/v1", region="cn", env=env).base_url == (
        "http://localhost:8000/v1"
    )
    with pytest.raises(ValueError, match="Unknown region 'mars'"):
        resolve_endpoint(region="mars", env={})


@pytest.mark.parametrize(
    ("region", "protocol", "url"),
    [
        ("hk", "openai", "https://cn-hongkong.dashscope.aliyuncs.com/compatible-mode/v1"),
        ("cn-hongkong", "dashscope", "https://cn-hongkong.dashscope.aliyuncs.com/api/v1"),
        ("ap-southeast-1", "openai", "https://dashscope-intl.aliyuncs.com/compatible-mode/v1"),
    ],
)
def test_more_regions_by_name_or_id(region: str, protocol: str, url: str) -> None:
    endpoint = resolve_endpoint(region=region, protocol=protocol, env={})  # type: ignore[arg-type]
    assert endpoint.base_url == url
    assert region_of(url) == endpoint.region
    assert is_dashscope_host(url)


@pytest.mark.parametrize(
    ("region", "region_id"), [("eu", "eu-central-1"), ("jp", "ap-northeast-1"), ("cn", "cn-beijing")]
)
def test_workspace_domains(region: str, region_id: str) -> None:
    endpoint = resolve_endpoint(region=region, workspace_id="ws-Abc123", protocol="dashscope", env={})
    assert endpoint.base_url == f"https://ws-abc123.{region_id}.maas.aliyuncs.com/api/v1"
    assert (endpoint.region, region_of(endpoint.base_url), is_dashscope_host(endpoint.base_url)) == (
        region,
        region,
        True,
    )


def test_frankfurt_and_tokyo_need_a_workspace() -> None:
    with pytest.raises(ValueError, match=r"^Frankfurt") as info:
        resolve_endpoint(region="eu", env={})
    assert str(info.value) == (
        "Frankfurt (eu) has no shared endpoint: pass workspace_id= (your Model Studio workspace id), or "
        "base_url='https://{WorkspaceId}.eu-central-1.maas.aliyuncs.com/compatible-mode/v1'."
    )
    with pytest.raises(ValueError, match=r"^workspace_id must be a Model Studio workspace id"):
        resolve_endpoint(region="jp", workspace_id="a.b/c", env={})


def test_region_of_other_urls() -> None:
    assert region_of("https://dashscope.aliyuncs.com/compatible-mode/v1") == "cn"
    assert region_of("https://ws1.us-east-1.maas.aliyuncs.com/compatible-mode/v1") == "us"
    assert region_of("https://ws1.mars-1.maas.aliyuncs.com/v1") is None
    assert region_of("http://127.0.0.1:8000/v1") is None


def test_dashscope_hosts() -> None:
    assert is_dashscope_host("https://dashscope-intl.aliyuncs.com/compatible-mode/v1")
    assert is_dashscope_host("https://ws.cn-beijing.maas.aliyuncs.com/api/v1")
    assert not is_dashscope_host("http://127.0.0.1:8000/v1")
    assert not is_dashscope_host("https://dashscope.aliyuncs.com.evil.example/v1")


def test_api_key_resolution() -> None:
    assert resolve_api_key(None, env={}) is None
    assert resolve_api_key(None, env={"DASHSCOPE_API_KEY": "k"}) == SecretStr("k")
    assert resolve_api_key("explicit", env={"DASHSCOPE_API_KEY": "k"}) == SecretStr("explicit")
    assert resolve_api_key(SecretStr(""), env={}) is None


@pytest.mark.parametrize(
    ("status", "body", "cls", "code"),
    [
        (
            401,
            '{"error":{"message":"Incorrect API key provided. ","type":"invalid_request_error","param":null,'
            '"code":"invalid_api_key"},"request_id":"r1"}',
            AuthenticationError,
            "invalid_api_key",
        ),
        (
            400,
            '{"error":{"message":"Access denied, please make sure your account is in good standing.",'
            '"type":"Arrearage","param":null,"code":"Arrearage"},"request_id":"r1"}',
            PermissionDeniedError,
            "Arrearage",
        ),
        (
            429,
            '{"error":{"message":"You have exceeded your current request limit.","type":"limit_requests",'
            '"code":"limit_requests"}}',
            RateLimitError,
            "limit_requests",
        ),
        (
            404,
            '{"code":"ModelNotFound","message":"The model does not exist.","request_id":"r1"}',
            NotFoundError,
            "ModelNotFound",
        ),
        (
            503,
            '{"code":"ModelUnavailable","message":"Model is unavailable, please try again later."}',
            ServerError,
            "ModelUnavailable",
        ),
        (
            400,
            'data: {"error":{"code":"invalid_parameter_error","param":null,"message":"<400> InternalError.Algo.'
            'InvalidParameter: Range of input length should be [1, 129024]","type":"invalid_request_error"},'
            '"id":"chatcmpl-262914be"}\n\n',
            ContextOverflowError,
            "invalid_parameter_error",
        ),
    ],
)
def test_error_classification(status, body, cls, code) -> None:
    error = error_from_body(status, body)
    assert type(error) is cls
    assert (error.status, error.code) == (status, code)
    assert error.retryable is (cls in (RateLimitError, ServerError))


def test_error_request_id_from_chatcmpl_id_and_plain_text_bodies() -> None:
    error = error_from_body(400, '{"error":{"message":"bad","code":"invalid_parameter_error"},"id":"chatcmpl-abc"}')
    assert error.request_id == "abc"
    assert str(error) == "HTTP 400 invalid_parameter_error: bad (request id abc)"
    plain = error_from_body(502, "<html>Bad Gateway</html>")
    assert type(plain) is ServerError
    assert plain.message == "HTTP 502 with a body that is not a DashScope error: <html>Bad Gateway</html>"
    assert parse_error_body("nonsense") is None


def test_public_surface_is_pinned() -> None:
    assert qwen_vl_core.__all__ == sorted(qwen_vl_core.__all__, key=lambda n: (not n.isupper(), n))
    names = {name: getattr(qwen_vl_core, name) for name in dir(qwen_vl_core)}  # the lazy names too
    public = {
        name
        for name, value in names.items()
        if name[0].isalpha() and not inspect.ismodule(value) and name != "annotations"  # "@py_*": assert rewriting
    }
    assert set(qwen_vl_core.__all__) == public | {"__version__"}


def test_core_imports_no_framework() -> None:
    code = (
        "import sys, qwen_vl_core, qwen_vl_core.cli, qwen_vl_core.testing;"
        "bad = sorted(m for m in sys.modules if m.startswith(('langchain', 'llama_index')));"
        "print(bad); raise SystemExit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert (result.returncode, result.stdout.strip()) == (0, "[]")


def test_cli_models_lists_every_catalog_name() -> None:
    out = io.StringIO()
    assert main(["models"], out=out) == 0
    lines = out.getvalue().splitlines()
    assert lines[0].split()[:3] == ["model", "thinking", "stream-only"]
    assert [line.split()[0] for line in lines[1:]] == list(KNOWN_MODELS)
    assert lines[17].split() == ["qvq-max", "always", "yes", "no", "no", "131,072", "106,496", "8,192", "16,384", "28"]


def test_cli_ask_streams_thinking_then_answer(tmp_path) -> None:
    image = tmp_path / "shot.png"
    # a real 16x16 PNG: the media stage now refuses a PNG signature followed by zeros (no IHDR)
    image.write_bytes(
        base64.b64decode(
            "iVBORw0KGgoAAAANSUhEUgAAABAAAAAQCAIAAACQkWg2AAAAEElEQVR4nGNgGAWjYBTAAAADEAABPywr7AAAAABJRU5ErkJggg=="
        )
    )
    with DashScopeEmulator() as emu:
        emu.enqueue(
            Reply(
                reasoning="Count the sides.",
                text="A triangle.",
                chunk_size=5,
                usage={
                    "prompt_tokens": 300,
                    "completion_tokens": 9,
                    "total_tokens": 309,
                    "prompt_tokens_details": {"image_tokens": 290},
                    "completion_tokens_details": {"reasoning_tokens": 4},
                },
            )
        )
        out, err = io.StringIO(), io.StringIO()
        code = main(
            [
                "ask",
                str(image),
                "What shape?",
                "--model",
                "qvq-max",
                "--base-url",
                emu.base_url,
                "--api-key",
                emu.api_key or "",
            ],
            out=out,
            err=err,
        )
        body = emu.last_request.body
    assert (code, err.getvalue()) == (0, "")
    assert out.getvalue() == (
        "── thinking ──\nCount the sides.\n── answer ──\nA triangle.\n"
        "tokens: input 300 (image 290), output 9 (reasoning 4), total 309\n"
    )
    content = body["messages"][0]["content"]
    assert content[0]["image_url"]["url"].startswith("data:image/png;base64,iVBORw0KGgo")
    assert content[1] == {"type": "text", "text": "What shape?"}


def test_cli_without_key_says_what_to_set(monkeypatch) -> None:
    monkeypatch.delenv("DASHSCOPE_API_KEY", raising=False)
    monkeypatch.delenv("DASHSCOPE_BASE_URL", raising=False)
    monkeypatch.delenv("DASHSCOPE_REGION", raising=False)
    out, err = io.StringIO(), io.StringIO()
    assert main(["ask", "https://x/a.png", "q"], out=out, err=err) == 2
    text = err.getvalue()
    assert text.startswith("error: No DashScope API key: set the DASHSCOPE_API_KEY environment variable")
    assert "--base-url http://localhost:8000/v1" in text
    assert out.getvalue() == ""


def test_cli_policy_errors_exit_2(monkeypatch) -> None:
    err = io.StringIO()
    assert main(["ask", "q", "--model", "qvq-max", "--no-thinking", "--emulator"], out=io.StringIO(), err=err) == 2
    assert err.getvalue().startswith("error: qvq-max is a thinking-only model")


def test_console_script_help() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "qwen_vl_core.cli", "--help"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0
    assert "usage: qwen-vl" in result.stdout
