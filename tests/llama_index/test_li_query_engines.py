"""`QwenVL` in LlamaIndex's multimodal query paths, against the emulator on both wire protocols (mock
embeddings, no network)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest
from li_support import PNG_B64, PNG_URL, sent_messages, was_streamed
from llama_index.core import Settings
from llama_index.core.base.base_retriever import BaseRetriever
from llama_index.core.embeddings.mock_embed_model import MockEmbedding, MockMultiModalEmbedding
from llama_index.core.indices.multi_modal import MultiModalVectorStoreIndex
from llama_index.core.prompts.chat_prompts import TEXT_QA_SYSTEM_PROMPT
from llama_index.core.query_engine import RetrieverQueryEngine, SimpleMultiModalQueryEngine
from llama_index.core.schema import ImageNode, NodeWithScore, QueryBundle, TextNode

from llama_index_qwen_vl import QwenVL
from qwen_vl_core.testing import DashScopeEmulator, Reply

MakeLLM = Callable[..., QwenVL]
DEPRECATED_ENGINE = "ignore:Call to deprecated class SimpleMultiModalQueryEngine:DeprecationWarning"
NODES = [
    NodeWithScore(node=ImageNode(image=PNG_B64, text="A photo.", id_="img-1"), score=0.9),
    NodeWithScore(node=TextNode(text="The dot is red.", id_="txt-1"), score=0.8),
]
QA_SYSTEM = TEXT_QA_SYSTEM_PROMPT.content
ANSWER = Reply(reasoning="The image shows one dot.", text="One red dot.")


class FixedRetriever(BaseRetriever):
    """Returns the same nodes for every query."""

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        return list(NODES)


def _user_content(emu: DashScopeEmulator) -> list[dict[str, Any]]:
    messages = sent_messages(emu.last_request)
    assert [m["role"] for m in messages] == ["user"]
    content = messages[0]["content"]
    assert isinstance(content, list)
    return content


def _text(protocol: str, text: str) -> dict[str, Any]:
    return {"type": "text", "text": text} if protocol == "openai" else {"text": text}


def _image(protocol: str, url: str) -> dict[str, Any]:
    return {"type": "image_url", "image_url": {"url": url}} if protocol == "openai" else {"image": url}


def _kinds(content: list[dict[str, Any]]) -> list[str]:
    """ "text" / "image" per content part, in either protocol's shape."""
    return [
        "text" if "text" in part else "image" if "image" in part or "image_url" in part else "?" for part in content
    ]


def test_retriever_query_engine_multimodal(make_llm: MakeLLM, emu: DashScopeEmulator, protocol: str) -> None:
    emu.enqueue(ANSWER)
    engine = RetrieverQueryEngine.from_args(retriever=FixedRetriever(), llm=make_llm("qvq-max"), multimodal=True)
    response = engine.query("How many dots?")
    assert str(response) == "One red dot."
    assert _user_content(emu) == [
        _text(protocol, QA_SYSTEM),  # the engine's system prompt, folded into the user turn
        _text(protocol, "Context information is below.\n---------------------"),
        _image(protocol, PNG_URL),
        _text(
            protocol,
            "The dot is red.\n\n---------------------\nGiven the context information and not "
            "prior knowledge, answer the query.\nQuery: How many dots?\nAnswer:",
        ),
    ]
    assert was_streamed(emu.last_request)


async def test_retriever_query_engine_multimodal_async_streaming(make_llm: MakeLLM, emu: DashScopeEmulator) -> None:
    emu.enqueue(ANSWER)
    engine = RetrieverQueryEngine.from_args(
        retriever=FixedRetriever(), llm=make_llm(enable_thinking=True), multimodal=True, streaming=True
    )
    response = await engine.aquery("How many dots?")
    text = "".join([token async for token in response.async_response_gen()])  # type: ignore[union-attr]
    assert text == "One red dot."
    assert _kinds(_user_content(emu)) == ["text", "text", "image", "text"]


@pytest.mark.filterwarnings(DEPRECATED_ENGINE)
def test_simple_multimodal_query_engine(make_llm: MakeLLM, emu: DashScopeEmulator, protocol: str) -> None:
    emu.enqueue(ANSWER)
    engine = SimpleMultiModalQueryEngine(retriever=FixedRetriever(), multi_modal_llm=make_llm())  # type: ignore[arg-type]
    response = engine.query("How many dots?")
    assert str(response) == "One red dot."
    content = _user_content(emu)
    assert content[0] == _image(protocol, PNG_URL)
    assert _kinds(content) == ["image", "text"]
    assert "The dot is red." in content[1]["text"]


@pytest.mark.filterwarnings(DEPRECATED_ENGINE)
def test_multimodal_vector_store_index(
    make_llm: MakeLLM, emu: DashScopeEmulator, protocol: str, caplog: pytest.LogCaptureFixture
) -> None:
    emu.enqueue(ANSWER)
    index = MultiModalVectorStoreIndex(
        nodes=[NODES[0].node, NODES[1].node],
        embed_model=MockEmbedding(embed_dim=8),
        image_embed_model=MockMultiModalEmbedding(embed_dim=8),
    )
    with caplog.at_level(logging.WARNING):
        engine = index.as_query_engine(llm=make_llm(), similarity_top_k=1, image_similarity_top_k=1)
    # llama-index logs this for every LLM whose class_name() lacks "multi" (its own OpenAI LLM included);
    # the serialization id stays "QwenVL" rather than a name chosen to silence a heuristic.
    assert [r.getMessage() for r in caplog.records if "multi-modal" in r.getMessage()] == [
        "Warning: QwenVL does not appear to be a multi-modal LLM. This may not work as expected."
    ]
    response = engine.query("How many dots?")
    assert str(response) == "One red dot."
    content = _user_content(emu)
    assert content[0] == _image(protocol, PNG_URL)


def test_settings_llm_is_used_by_the_default_engine(make_llm: MakeLLM, emu: DashScopeEmulator) -> None:
    emu.enqueue(ANSWER)
    previous = Settings._llm
    Settings.llm = make_llm("qvq-plus")
    try:
        engine = RetrieverQueryEngine.from_args(retriever=FixedRetriever(), multimodal=True)
        assert str(engine.query("How many dots?")) == "One red dot."
    finally:
        Settings._llm = previous
    assert emu.last_request.body["model"] == "qvq-plus"
