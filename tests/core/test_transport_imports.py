"""Cheap import: `import qwen_vl_core` and the CLI load no HTTP stack and no openai SDK; the SDK is
imported when an OpenAI-compatible transport is first built, and never for the native protocol."""

from __future__ import annotations

import ast
import subprocess
import sys

from qwen_vl_core.testing import DashScopeEmulator


def loaded_after(code: str) -> list[str]:
    probe = (
        code + "\nimport sys\nprint(sorted(m for m in ('openai', 'httpx', 'qwen_vl_core.client') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120)
    return ast.literal_eval(done.stdout.strip().splitlines()[-1])


def test_importing_the_core_and_the_cli_loads_neither_httpx_nor_openai() -> None:
    assert loaded_after("import qwen_vl_core") == []
    assert loaded_after("import qwen_vl_core.cli") == ["qwen_vl_core.client"]
    assert loaded_after("from qwen_vl_core import QwenVLClient, ChatRequest") == ["qwen_vl_core.client"]


def test_the_sdk_is_imported_with_the_first_compat_transport_only() -> None:
    with DashScopeEmulator() as emu:
        call = (
            "from qwen_vl_core import ChatRequest, Message, QwenVLClient, TextPart\n"
            f"client = QwenVLClient(base_url={{url!r}}, api_key={emu.api_key!r}, protocol={{protocol!r}})\n"
            "request = ChatRequest(model='qwen3-vl-plus', messages=(Message('user', (TextPart('hi'),)),))\n"
            "assert client.chat(request).text\n"
            "client.close()"
        )
        native = loaded_after(call.format(url=emu.native_base_url, protocol="dashscope"))
        compat = loaded_after(call.format(url=emu.base_url, protocol="openai"))
    assert native == ["httpx", "qwen_vl_core.client"]
    assert compat == ["httpx", "openai", "qwen_vl_core.client"]


def test_the_lazy_names_are_the_real_objects() -> None:
    import qwen_vl_core
    from qwen_vl_core.client import QwenVLClient
    from qwen_vl_core.errors import QwenVLError

    assert (qwen_vl_core.QwenVLClient, qwen_vl_core.QwenVLError) == (QwenVLClient, QwenVLError)
    assert set(qwen_vl_core.__all__) <= set(dir(qwen_vl_core))
