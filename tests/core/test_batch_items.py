"""Batch inputs: folders, manifests, item → ChatRequest, token estimates."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from PIL import Image

from qwen_vl_core import ChatRequest, ImagePart, Message, SamplingOptions, TextPart, ThinkingOptions, VideoPart
from qwen_vl_core.batch import BatchItem, BatchSettings, build_request, estimate_tokens, load_items
from qwen_vl_core.batch.items import items_from_folder, items_from_manifest


def png(width: int = 64, height: int = 48) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (200, 30, 30)).save(buffer, "PNG")
    return buffer.getvalue()


def write_manifest(path: Path, *lines: object) -> Path:
    path.write_text("".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines))
    return path


def test_folder_items_are_sorted_by_relative_path_and_skip_hidden_and_other_files(tmp_path: Path) -> None:
    for name in ("b.png", "a.JPG", "sub/c.webp", "notes.txt", ".hidden/d.png", ".e.png"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    items = items_from_folder(tmp_path)
    assert items == [
        BatchItem("a.JPG", (str(tmp_path / "a.JPG"),)),
        BatchItem("b.png", (str(tmp_path / "b.png"),)),
        BatchItem("sub/c.webp", (str(tmp_path / "sub" / "c.webp"),)),
    ]


def test_empty_folder_and_missing_input_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"holds no images \(\.bmp, \.heic"):
        load_items(tmp_path)
    with pytest.raises(ValueError, match="is neither a folder of images nor a JSONL manifest"):
        load_items(tmp_path / "nope")


def test_manifest_resolves_relative_paths_against_its_folder(tmp_path: Path) -> None:
    manifest = write_manifest(
        tmp_path / "m.jsonl",
        {"id": "q1", "image": "scans/q1.png", "prompt": "Grade it.", "options": {"thinking": True}},
        "",
        {"id": 7, "images": ["a.png", "https://x.test/b.jpg", "/abs/c.png"], "video": ["f1.png", "f2.png"]},
        {"id": "m", "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "c.png"}}]}]},
    )
    assert items_from_manifest(manifest) == [
        BatchItem("q1", (str(tmp_path / "scans/q1.png"),), prompt="Grade it.", options={"thinking": True}),
        BatchItem(
            "7",
            (str(tmp_path / "a.png"), "https://x.test/b.jpg", "/abs/c.png"),
            video=(str(tmp_path / "f1.png"), str(tmp_path / "f2.png")),
        ),
        BatchItem(
            "m",
            messages=(
                {"role": "user", "content": [{"type": "image_url", "image_url": {"url": str(tmp_path / "c.png")}}]},
            ),
        ),
    ]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", "m.jsonl line 1: not valid JSON"),
        ("[1]", "m.jsonl line 1: each line must be a JSON object"),
        ({"prompt": "x"}, 'm.jsonl line 1: "id" is required'),
        ({"id": "a", "imgae": "x.png"}, 'm.jsonl line 1: unknown key\\(s\\) imgae; put options under "options"'),
        ({"id": "a", "options": {"temprature": 1}}, "m.jsonl line 1: item 'a': unknown option\\(s\\) temprature"),
        ({"id": "a", "prompt": "p", "messages": []}, "give either messages, or images/video with a prompt"),
        ({"id": "a", "images": "x.png"}, '"images" must be a list'),
    ],
)
def test_manifest_errors_name_the_line(tmp_path: Path, line: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        items_from_manifest(write_manifest(tmp_path / "m.jsonl", line))


def test_duplicate_ids_are_rejected_before_anything_runs(tmp_path: Path) -> None:
    manifest = write_manifest(tmp_path / "m.jsonl", {"id": "a", "prompt": "x"}, {"id": "a", "prompt": "y"})
    with pytest.raises(ValueError, match=r"m\.jsonl: duplicate id 'a'"):
        load_items(manifest)


def test_build_request_with_shared_prompt_and_options(tmp_path: Path) -> None:
    (tmp_path / "a.png").write_bytes(png())
    item = BatchItem("a", (str(tmp_path / "a.png"), "https://x.test/b.jpg"), options={"temperature": 0.2})
    settings = BatchSettings(
        "qwen3-vl-plus",
        "What is it?",
        {
            "thinking": True,
            "thinking_budget": 500,
            "temperature": 1.0,
            "stop": "END",
            "system": "Be brief.",
            "high_res": True,
        },
    )
    request = build_request(item, settings)
    assert request == ChatRequest(
        model="qwen3-vl-plus",
        messages=(
            Message("system", (TextPart("Be brief."),)),
            Message(
                "user",
                (
                    ImagePart(data=png(), mime="image/png", label="a.png"),
                    ImagePart("https://x.test/b.jpg"),
                    TextPart("What is it?"),
                ),
            ),
        ),
        thinking=ThinkingOptions(enable=True, budget=500),
        sampling=SamplingOptions(temperature=0.2, stop=("END",)),
        vl_high_resolution_images=True,
    )


def test_build_request_from_messages_and_video_frames(tmp_path: Path) -> None:
    (tmp_path / "f.png").write_bytes(png())
    frames = tuple(str(tmp_path / "f.png") for _ in range(4))
    video_item = BatchItem("v", video=frames, prompt="What happens?", options={"fps": 2})
    request = build_request(video_item, BatchSettings())
    frame = ImagePart(data=png(), mime="image/png", label="f.png")
    assert request.messages == (Message("user", (VideoPart(frames=(frame,) * 4, fps=2), TextPart("What happens?"))),)
    chat = BatchItem(
        "m",
        messages=(
            {"role": "system", "content": "Sys."},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "Hi"},
                    {"type": "image_url", "image_url": {"url": "https://x.test/i.png"}},
                ],
            },
        ),
    )
    assert build_request(chat, BatchSettings(prompt="ignored")).messages == (
        Message("system", (TextPart("Sys."),)),
        Message("user", (TextPart("Hi"), ImagePart("https://x.test/i.png"))),
    )


@pytest.mark.parametrize(
    ("item", "message"),
    [
        (BatchItem("a", ("x.png",)), "item 'a' has no prompt: give a shared prompt \\(--prompt\\) or one per item"),
        (BatchItem("a", ("/nope/x.png",), prompt="p"), "The image file '/nope/x.png' does not exist"),
        (BatchItem("a", messages=({"role": "tool", "content": "x"},)), "item 'a', message 1: role must be"),
        (BatchItem("a", messages=({"role": "user", "content": [{"type": "audio"}]},)), "unsupported content part"),
    ],
)
def test_build_request_errors_name_the_item(item: BatchItem, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build_request(item, BatchSettings())


def test_estimate_tokens_counts_text_images_and_expected_output(tmp_path: Path) -> None:
    (tmp_path / "a.png").write_bytes(png(64, 48))
    item = BatchItem("a", (str(tmp_path / "a.png"), "https://x.test/remote.png"), prompt="x" * 40)
    request = build_request(item, BatchSettings(options={"max_tokens": 100}))
    # 64x48 → 64x64 on Qwen3-VL: 4 + 2 tokens; a remote image is unknown: the whole 2,560-token budget (+2);
    # 40 ASCII characters: 10 tokens; max_tokens 100.
    assert estimate_tokens(request) == 6 + 2562 + 10 + 100
    assert estimate_tokens(build_request(BatchItem("b", prompt="hi"), BatchSettings())) == 0 + 1024


def test_settings_reject_unknown_options() -> None:
    with pytest.raises(ValueError, match="unknown option\\(s\\) thinkng"):
        BatchSettings(options={"thinkng": True})
