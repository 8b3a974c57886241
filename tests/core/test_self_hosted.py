"""Pieces for self-hosted OpenAI-compatible servers: `<think>` splitting, thinking switch, model ids."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from qwen_vl_core import ReasoningDelta, TextDelta, get_spec
from qwen_vl_core.parse_compat import CompatStreamParser, events_from_compat_response
from qwen_vl_core.policies import ServerTraits, apply_policies
from qwen_vl_core.regions import resolve_endpoint
from qwen_vl_core.request_compat import serialize_compat
from qwen_vl_core.think_tags import ThinkTagSplitter
from qwen_vl_core.types import ChatRequest, Message, TextPart, ThinkingOptions


def split(pieces: list[str]) -> tuple[str, str]:
    splitter = ThinkTagSplitter()
    events = [e for p in pieces for e in splitter.feed(p)] + splitter.flush()
    reasoning = "".join(e.text for e in events if isinstance(e, ReasoningDelta))
    return reasoning, "".join(e.text for e in events if isinstance(e, TextDelta))


def test_closing_tag_only() -> None:
    assert split(["The user asks", " for the area.</thi", "nk>\n\nThe area is 6."]) == (
        "The user asks for the area.",
        "The area is 6.",
    )


def test_both_tags_and_no_tags() -> None:
    assert split(["<think>", "plan</think>", "\n", "answer"]) == ("plan", "answer")
    assert split(["never closed"]) == ("never closed", "")
    assert split(["</think>just the answer"]) == ("", "just the answer")


@settings(max_examples=200, deadline=None)
@given(
    reasoning=st.text(alphabet="ab<>/thinkx \n", max_size=20).filter(lambda t: "</think>" not in t),
    answer=st.text(alphabet="ab<>/thinkx \n", max_size=20),
    opening=st.booleans(),
    cuts=st.lists(st.integers(0, 60), max_size=8),
)
def test_any_chunking_splits_the_same(reasoning, answer, opening, cuts) -> None:
    raw = ("<think>" if opening else "") + reasoning + "</think>" + answer
    points = sorted({c % (len(raw) + 1) for c in cuts})
    pieces = [raw[a:b] for a, b in zip([0, *points], [*points, len(raw)], strict=True)]
    assert split(pieces) == split([raw])


def test_reasoning_field_named_reasoning() -> None:
    parser = CompatStreamParser()
    assert parser.feed({"choices": [{"delta": {"reasoning": "hm", "reasoning_content": None}}]}) == [
        ReasoningDelta("hm")
    ]
    events = events_from_compat_response(
        {"choices": [{"message": {"reasoning": "r", "content": "c"}, "finish_reason": "stop"}]}
    )
    assert events[:2] == [ReasoningDelta("r"), TextDelta("c")]


def _self_hosted_body(request: ChatRequest, **traits: bool) -> dict[str, object]:
    spec = get_spec(request.model)
    return serialize_compat(apply_policies(request, spec, stream=False, server=ServerTraits(**traits)))


def test_thinking_switch_goes_through_chat_template() -> None:
    request = ChatRequest(
        model="qwen3-vl-plus",
        messages=(Message("user", (TextPart("hi"),)),),
        thinking=ThinkingOptions(enable=True, budget=10),
        extra_body={"chat_template_kwargs": {"custom": 1}},
    )
    body = _self_hosted_body(request, speaks_dashscope=False)
    assert body["chat_template_kwargs"] == {"custom": 1, "enable_thinking": True}
    assert body["thinking_token_budget"] == 10
    assert "enable_thinking" not in body
    assert "thinking_budget" not in body
    # A DashScope-speaking server gets the top-level keys; the caller can force either way.
    assert _self_hosted_body(request, speaks_dashscope=True)["enable_thinking"] is True
    forced = _self_hosted_body(request, speaks_dashscope=True, thinking_via_chat_template=True)
    assert forced["chat_template_kwargs"] == {"custom": 1, "enable_thinking": True}
    plain = replace(request, thinking=ThinkingOptions(), extra_body=None)
    assert "chat_template_kwargs" not in _self_hosted_body(plain, speaks_dashscope=False)


def test_endpoint_dialects() -> None:
    assert resolve_endpoint(base_url="http://127.0.0.1:8000/v1").speaks_dashscope is False
    assert resolve_endpoint(base_url="http://127.0.0.1:9/compatible-mode/v1").speaks_dashscope is True
    assert resolve_endpoint(base_url="http://127.0.0.1:9/compatible-mode/v1").is_dashscope is False
    assert resolve_endpoint(region="cn").speaks_dashscope is True


def test_hugging_face_ids_resolve() -> None:
    spec = get_spec("Qwen/Qwen3-VL-8B-Thinking")
    assert (spec.family, spec.thinking, spec.known) == ("qwen3-vl-8b-thinking", "only", True)


def test_inline_remote_images_for_servers_that_take_no_urls(tmp_path, dashscope_emulator) -> None:
    import asyncio
    import functools
    import http.server
    import io
    import threading

    from PIL import Image

    from qwen_vl_core import ChatRequest, ImagePart, Message, QwenVLClient, TextPart
    from qwen_vl_core.testing import Reply

    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (1, 2, 3)).save(buffer, "PNG")
    (tmp_path / "cat.png").write_bytes(buffer.getvalue())
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    handler.log_message = lambda *a: None  # type: ignore[method-assign]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_address[1]}/cat.png"
    request = ChatRequest(model="qwen3-vl-plus", messages=(Message("user", (ImagePart(url), TextPart("?"))),))
    try:
        client = QwenVLClient(base_url=dashscope_emulator.base_url, api_key="test-key", inline_remote_images=True)
        dashscope_emulator.enqueue(Reply(text="a cat"), Reply(text="a cat"))
        assert client.chat(request).text == "a cat"
        sent = dashscope_emulator.last_request.body["messages"][0]["content"][0]["image_url"]["url"]
        assert sent == "data:image/png;base64," + __import__("base64").b64encode(buffer.getvalue()).decode()

        async def ask_and_close() -> str:
            try:
                return (await client.achat(request)).text
            finally:
                await client.aclose()

        assert asyncio.run(ask_and_close()) == "a cat"
        assert dashscope_emulator.last_request.body["messages"][0]["content"][0]["image_url"]["url"] == sent
        client.close()
        plain = QwenVLClient(base_url=dashscope_emulator.base_url, api_key="test-key")
        dashscope_emulator.enqueue(Reply(text="ok"))
        plain.chat(request)
        assert dashscope_emulator.last_request.body["messages"][0]["content"][0]["image_url"]["url"] == url
        plain.close()
    finally:
        server.shutdown()
        server.server_close()
