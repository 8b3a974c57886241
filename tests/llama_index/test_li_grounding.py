"""`grounding_from_response`: a `QwenVL` answer's boxes in the user's pixels, thinking blocks ignored."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from llama_index.core.base.llms.types import (
    ChatMessage,
    ChatResponse,
    CompletionResponse,
    ImageBlock,
    MessageRole,
    TextBlock,
    ThinkingBlock,
)
from PIL import Image

from llama_index_qwen_vl import QwenVL, grounding_from_response
from qwen_vl_core.grounding import GroundingError, GroundingProblem, GroundingResult, image_geometry
from qwen_vl_core.testing import DashScopeEmulator, Reply

MakeLLM = Callable[..., QwenVL]
ANSWER = (
    '```json\n[{"bbox_2d": [100, 200, 500, 900], "label": "cat"}, {"point_2d": [800, 800], "label": "nose"}, '
    '{"point_2d": [1]}]\n```'
)
DECOY = 'Maybe {"bbox_2d": [0, 0, 1000, 1000], "label": "everything"}.'


@pytest.fixture
def shot(tmp_path: Path) -> Path:
    path = tmp_path / "shot.png"
    Image.new("RGB", (1003, 701), (200, 200, 200)).save(path)
    return path


def question(image: Path) -> list[ChatMessage]:
    return [ChatMessage(role="user", blocks=[ImageBlock(path=image), TextBlock(text="Find the cat.")])]


def boxes(result: GroundingResult) -> list[tuple[str | None, float, float, float, float]]:
    return [(b.label, b.x1, b.y1, b.x2, b.y2) for b in result.boxes]


def test_chat_with_thinking_on(make_llm: MakeLLM, emu: DashScopeEmulator, shot: Path) -> None:
    emu.enqueue(Reply(reasoning=DECOY, text=ANSWER))
    response = make_llm("qwen3-vl-plus", enable_thinking=True).chat(question(shot))
    assert isinstance(response.message.blocks[0], ThinkingBlock)
    result = grounding_from_response(response, image=shot)
    assert boxes(result) == [("cat", 100.3, 140.2, 501.5, 630.9)]
    assert [(p.label, p.x, p.y) for p in result.points] == [("nose", 802.4, 560.8)]
    assert result.problems == (
        GroundingProblem(3, 'item 3 has a "point_2d" that is not 2 numbers [x, y]', '{"point_2d": [1]}'),
    )


async def test_async_chat_with_qvq(make_llm: MakeLLM, emu: DashScopeEmulator, shot: Path) -> None:
    emu.enqueue(Reply(reasoning="Look.", text='[{"bbox_2d": [504, 350, 1008, 700], "label": "corner"}]'))
    response = await make_llm("qvq-max").achat(question(shot))
    result = grounding_from_response(response, image=shot)  # the model name comes from response.raw
    assert boxes(result) == [("corner", 501.5, 350.5, 1003.0, 701.0)]
    assert result.geometry.coordinates == "absolute"


def test_thinking_blocks_are_never_parsed_and_raw_metadata_is_read() -> None:
    first = image_geometry(size=(1003, 701), model="qwen3-vl-plus")
    second = image_geometry(size=(2000, 1000), model="qwen3-vl-plus")
    response = ChatResponse(
        message=ChatMessage(
            role=MessageRole.ASSISTANT,
            blocks=[ThinkingBlock(content=DECOY), TextBlock(text='[{"point_2d": [500, '), TextBlock(text="500]}]")],
        ),
        raw={"model": "qwen3-vl-plus", "qwen_vl_images": [first.to_dict(), second.to_dict()]},
    )
    assert [(p.x, p.y) for p in grounding_from_response(response).points] == [(501.5, 350.5)]
    assert [(p.x, p.y) for p in grounding_from_response(response, index=1).points] == [(1000.0, 500.0)]
    assert grounding_from_response(response, geometry=second.to_dict()).geometry == second
    assert grounding_from_response(response).boxes == ()


def test_completion_response_and_explicit_size() -> None:
    response = CompletionResponse(text='{"bbox_2d": [0, 0, 500, 500], "label": "q"}')
    result = grounding_from_response(response, size=(1000, 800), model="qwen3-vl-flash")
    assert boxes(result) == [("q", 0.0, 0.0, 500.0, 400.0)]


def test_errors() -> None:
    response = ChatResponse(message=ChatMessage(role=MessageRole.ASSISTANT, content='[{"point_2d": [1, 1]}]'))
    with pytest.raises(
        GroundingError, match=r"^No image size to map the boxes to: the response carries no 'qwen_vl_images'"
    ):
        grounding_from_response(response)
    with pytest.raises(GroundingError, match=r"^No model name in the response to compute the image's resize from"):
        grounding_from_response(response, size=(10, 10))
    with pytest.raises(GroundingError, match=r"^This model's coordinate convention is unknown"):
        grounding_from_response(response, size=(100, 100), model="my-finetune")
    result = grounding_from_response(response, size=(100, 100), model="my-finetune", coordinates="relative")
    assert [(p.x, p.y) for p in result.points] == [(0.1, 0.1)]
    with pytest.raises(
        TypeError, match=r"^grounding_from_response takes a ChatResponse or CompletionResponse, got str$"
    ):
        grounding_from_response("[]")  # type: ignore[arg-type]


def test_the_response_carries_the_geometry_of_the_image_it_was_asked_about(
    make_llm: MakeLLM, emu: DashScopeEmulator, shot: Path
) -> None:
    emu.enqueue(Reply(reasoning=DECOY, text=ANSWER), Reply(reasoning=DECOY, text=ANSWER))
    llm = make_llm("qwen3-vl-plus", enable_thinking=True)
    result = grounding_from_response(llm.chat(question(shot)))  # no image given: the response knows it
    assert boxes(result) == [("cat", 100.3, 140.2, 501.5, 630.9)]
    assert result.geometry == image_geometry(shot, model="qwen3-vl-plus")
    last = list(llm.stream_chat(question(shot)))[-1]
    assert boxes(grounding_from_response(last)) == [("cat", 100.3, 140.2, 501.5, 630.9)]
