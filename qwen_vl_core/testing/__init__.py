"""A scriptable DashScope emulator for tests: a real HTTP server on loopback.

    from qwen_vl_core.testing import DashScopeEmulator, Reply

    with DashScopeEmulator() as emu:
        emu.enqueue(Reply(reasoning="Let me look.", text="A cat."))
        client = openai.OpenAI(base_url=emu.base_url, api_key=emu.api_key)
        ...
        assert emu.last_request.body["model"] == "qwen3-vl-plus"

It speaks both DashScope protocols byte for byte as captured from Model Studio: the
OpenAI-compatible one at `base_url` and the native one at `native_base_url` (streaming switched
on by the `X-DashScope-SSE: enable` or `Accept: text/event-stream` header), with the same scripts,
the same faults and the same parameter rules, reported with the real messages. Model names and
their rules come from the emulator's own sourced fact table (`MODEL_FACTS`, `ModelFacts`), not
from the library's catalog; unknown names get model-not-found. With `flavour="vllm"` it is a
vLLM-like self-hosted server at `/v1` instead (`reasoning` field, or no reasoning parser at all),
without DashScope's rules. The `dashscope_emulator` pytest fixture lives in
`qwen_vl_core.testing.pytest_plugin` (opt-in: see that module).
"""

from __future__ import annotations

from qwen_vl_core.testing._facts import MODEL_FACTS, ModelFacts
from qwen_vl_core.testing._script import (
    Disconnect,
    EchoAuthorization,
    EndlessLine,
    ErrorFrame,
    ErrorReply,
    Fault,
    HtmlPage,
    IgnoreStream,
    MalformedLine,
    NoDone,
    NoFinish,
    NoHeaders,
    Reply,
    ResetBeforeHeaders,
    Script,
    Stall,
    ToolCallReply,
)
from qwen_vl_core.testing._server import DashScopeEmulator, RecordedRequest
from qwen_vl_core.testing._usage import ASSUMED_IMAGE_SIZE, ASSUMED_VIDEO_SECONDS

__all__ = [
    "ASSUMED_IMAGE_SIZE",
    "ASSUMED_VIDEO_SECONDS",
    "MODEL_FACTS",
    "DashScopeEmulator",
    "Disconnect",
    "EchoAuthorization",
    "EndlessLine",
    "ErrorFrame",
    "ErrorReply",
    "Fault",
    "HtmlPage",
    "IgnoreStream",
    "MalformedLine",
    "ModelFacts",
    "NoDone",
    "NoFinish",
    "NoHeaders",
    "RecordedRequest",
    "Reply",
    "ResetBeforeHeaders",
    "Script",
    "Stall",
    "ToolCallReply",
]
