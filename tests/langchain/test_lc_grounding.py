"""`ChatQwenVL | QwenGroundingParser`: boxes in the user's pixels, end to end on both wire protocols."""

from __future__ import annotations

import base64
import io
from collections.abc import Callable
from pathlib import Path

import pytest
from langchain_core.messages import AIMessage, HumanMessage
from langchain_core.output_parsers import StrOutputParser
from lc_support import sent_messages
from PIL import Image

from langchain_qwen_vl import ChatQwenVL, QwenGroundingParser
from qwen_vl_core.grounding import GroundingError, GroundingProblem, GroundingResult, image_geometry
from qwen_vl_core.testing import DashScopeEmulator, Reply

ChatFactory = Callable[..., ChatQwenVL]

ANSWER = (
    "Found them.\n```json\n"
    '[{"bbox_2d": [100, 200, 500, 900], "label": "cat"}, {"point_2d": [800, 800], "label": "nose"}, '
    '{"bbox_2d": [1, 2]}]'
    "\n```"
)
DECOY = 'First guess {"bbox_2d": [0, 0, 1000, 1000], "label": "everything"}; no, look again.'


@pytest.fixture
def shot(tmp_path: Path) -> Path:
    path = tmp_path / "shot.png"
    Image.new("RGB", (1003, 701), (200, 200, 200)).save(path)
    return path


def ask(image: Path, text: str = "Find the cat.") -> list[HumanMessage]:
    return [HumanMessage(content=[{"type": "image", "url": image.resolve().as_uri()}, {"type": "text", "text": text}])]


def boxes(result: GroundingResult) -> list[tuple[str | None, float, float, float, float]]:
    return [(b.label, b.x1, b.y1, b.x2, b.y2) for b in result.boxes]


def sent_image_size(emu: DashScopeEmulator) -> tuple[int, int]:
    content = sent_messages(emu.last_request)[0]["content"]
    url = next(
        p["image_url"]["url"] if "image_url" in p else p["image"] for p in content if "image_url" in p or "image" in p
    )
    with Image.open(io.BytesIO(base64.b64decode(url.partition(",")[2]))) as img:
        return img.size


def test_chain_with_thinking_on(make_model: ChatFactory, emu: DashScopeEmulator, shot: Path) -> None:
    emu.enqueue(Reply(reasoning=DECOY, text=ANSWER))
    chain = make_model("qwen3-vl-plus", enable_thinking=True) | QwenGroundingParser(image=shot)
    result = chain.invoke(ask(shot))
    assert boxes(result) == [("cat", 100.3, 140.2, 501.5, 630.9)]  # v / 1000 x 1003 and x 701
    assert [(p.label, p.x, p.y) for p in result.points] == [("nose", 802.4, 560.8)]
    assert result.problems == (
        GroundingProblem(3, 'item 3 has a "bbox_2d" that is not 4 numbers [x1, y1, x2, y2]', '{"bbox_2d": [1, 2]}'),
    )
    assert result.geometry == image_geometry(shot, model="qwen3-vl-plus")


async def test_async_chain(make_model: ChatFactory, emu: DashScopeEmulator, shot: Path) -> None:
    emu.enqueue(Reply(text=ANSWER))
    chain = make_model("qwen3-vl-plus") | QwenGroundingParser(image=shot)
    result = await chain.ainvoke(ask(shot))
    assert boxes(result) == [("cat", 100.3, 140.2, 501.5, 630.9)]


def test_qvq_absolute_pixels_on_a_client_downscaled_image(
    make_model: ChatFactory, emu: DashScopeEmulator, tmp_path: Path
) -> None:
    big = tmp_path / "big.png"
    Image.new("RGB", (3001, 2003), (10, 10, 10)).save(big)
    # QVQ sees the image as the client sent it, 1204x812, and answers in those pixels.
    emu.enqueue(
        Reply(reasoning="The right half.", text='```json\n[{"bbox_2d": [602, 406, 1204, 812], "label": "half"}]\n```')
    )
    chain = make_model("qvq-max") | QwenGroundingParser(image=big)
    result = chain.invoke(ask(big))
    assert sent_image_size(emu) == (1204, 812)
    assert boxes(result) == [("half", 1500.5, 1001.5, 3001.0, 2003.0)]
    assert result.geometry.coordinates == "absolute"


def test_output_version_v1_reasoning_blocks_are_not_parsed(
    make_model: ChatFactory, emu: DashScopeEmulator, shot: Path
) -> None:
    emu.enqueue(Reply(reasoning=DECOY, text='[{"point_2d": [504, 350]}]'))
    message = make_model("qvq-max", output_version="v1").invoke(ask(shot))
    assert isinstance(message.content, list)
    assert message.content[0]["type"] == "reasoning"
    result = QwenGroundingParser(image=shot).invoke(message)
    assert result.boxes == ()
    assert [(p.x, p.y) for p in result.points] == [(501.5, 350.5)]  # QVQ: pixels of its 1008x700 frame


def test_geometry_from_the_message_metadata() -> None:
    first = image_geometry(size=(1003, 701), model="qwen3-vl-plus")
    second = image_geometry(size=(3001, 2003), model="qvq-max")
    message = AIMessage(
        content='[{"bbox_2d": [0, 0, 602, 406]}]',
        additional_kwargs={"reasoning_content": DECOY},
        response_metadata={"model_name": "qvq-max", "qwen_vl_images": [first.to_dict(), second.to_dict()]},
    )
    assert boxes(QwenGroundingParser(index=1).invoke(message)) == [(None, 0.0, 0.0, 1500.5, 1001.5)]
    assert boxes(QwenGroundingParser().invoke(message)) == [(None, 0.0, 0.0, 603.806, 284.606)]  # relative on 1003x701
    # Forced absolute on the first image: pixels of its 992x704 model frame.
    assert boxes(QwenGroundingParser(coordinates="absolute").invoke(message)) == [
        (None, 0.0, 0.0, 608.6754032258065, 404.2698863636364)
    ]
    # An explicit image wins over the metadata; the model name comes from the metadata.
    assert QwenGroundingParser(size=(3001, 2003)).invoke(message).geometry == second


def test_text_blocks_only_and_the_geometry_as_a_dict() -> None:
    geometry = image_geometry(size=(1000, 500), model="qwen3-vl-plus")
    message = AIMessage(
        content=[
            {"type": "reasoning", "reasoning": DECOY},
            {"type": "text", "text": '[{"bbox_2d": [100, 100, '},
            "200, 200]}]",
        ]
    )
    result = QwenGroundingParser(geometry=geometry.to_dict()).invoke(message)
    assert boxes(result) == [(None, 100.0, 50.0, 200.0, 100.0)]


def test_plain_text_after_a_string_parser(make_model: ChatFactory, emu: DashScopeEmulator, shot: Path) -> None:
    emu.enqueue(Reply(text=ANSWER))
    chain = make_model("qwen3-vl-plus") | StrOutputParser() | QwenGroundingParser(image=shot, model="qwen3-vl-plus")
    assert boxes(chain.invoke(ask(shot))) == [("cat", 100.3, 140.2, 501.5, 630.9)]
    with pytest.raises(
        GroundingError, match=r"^No model name in plain text to compute the image's resize from; pass model="
    ):
        QwenGroundingParser(image=shot).invoke(ANSWER)


def test_no_geometry_is_a_clear_error(make_model: ChatFactory, emu: DashScopeEmulator) -> None:
    emu.enqueue(Reply(text=ANSWER))
    chain = make_model("qwen3-vl-plus") | QwenGroundingParser()
    with pytest.raises(GroundingError) as info:
        chain.invoke(
            [
                HumanMessage(
                    content=[{"type": "image", "url": "https://example.com/cat.png"}, {"type": "text", "text": "?"}]
                )
            ]
        )
    assert str(info.value) == (
        "No image size to map the boxes to: the message carries no 'qwen_vl_images' metadata (remote URL images "
        "are never downloaded, so their size is unknown). Pass the image you sent (image=path, bytes or PIL "
        "image), its size (size=(width, height)), or geometry=image_geometry(...)."
    )


def test_unknown_model_needs_coordinates() -> None:
    message = AIMessage(content='[{"point_2d": [10, 10]}]', response_metadata={"model_name": "my-finetune"})
    with pytest.raises(GroundingError, match=r"^This model's coordinate convention is unknown"):
        QwenGroundingParser(size=(100, 100)).invoke(message)
    result = QwenGroundingParser(size=(100, 100), coordinates="relative").invoke(message)
    assert [(p.x, p.y) for p in result.points] == [(1.0, 1.0)]


def test_parser_fields_are_validated() -> None:
    with pytest.raises(ValueError, match=r"image geometry is missing model_width, model_height"):
        QwenGroundingParser(geometry={"width": 1, "height": 1})
    assert QwenGroundingParser().OutputType is GroundingResult


def test_streaming_through_the_chain_yields_one_result(
    make_model: ChatFactory, emu: DashScopeEmulator, shot: Path
) -> None:
    emu.enqueue(Reply(reasoning=DECOY, text=ANSWER, chunk_size=5))
    chain = make_model("qvq-max") | QwenGroundingParser(image=shot, coordinates="relative")
    results = list(chain.stream(ask(shot)))
    assert len(results) == 1
    assert boxes(results[0]) == [("cat", 100.3, 140.2, 501.5, 630.9)]


def test_the_chain_needs_no_image_the_message_carries_its_geometry(
    make_model: ChatFactory, emu: DashScopeEmulator, shot: Path, tmp_path: Path
) -> None:
    emu.enqueue(Reply(reasoning=DECOY, text=ANSWER))
    result = (make_model("qwen3-vl-plus", enable_thinking=True) | QwenGroundingParser()).invoke(ask(shot))
    assert boxes(result) == [("cat", 100.3, 140.2, 501.5, 630.9)]
    assert result.geometry == image_geometry(shot, model="qwen3-vl-plus")
    big = tmp_path / "big.png"
    Image.new("RGB", (3001, 2003), (10, 10, 10)).save(big)
    emu.enqueue(Reply(reasoning="Hm.", text='```json\n[{"bbox_2d": [602, 406, 1204, 812], "label": "half"}]\n```'))
    streamed = list((make_model("qvq-max") | QwenGroundingParser()).stream(ask(big)))  # QVQ: absolute pixels
    assert boxes(streamed[-1]) == [("half", 1500.5, 1001.5, 3001.0, 2003.0)]
