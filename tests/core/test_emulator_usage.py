"""The emulator's automatic usage: images and videos counted with the service's documented rules.

Expected numbers are worked out by hand in the comments (smart_resize: sides rounded to the pixel
unit, scaled into the budget with floor; +2 tokens an image; video frames merged in pairs).
"""

from __future__ import annotations

import base64
import json
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from qwen_vl_core.testing import ASSUMED_IMAGE_SIZE, ASSUMED_VIDEO_SECONDS, DashScopeEmulator, ModelFacts, Reply

AUTH = {"Authorization": "Bearer test-key"}
MM = "/services/aigc/multimodal-generation/generation"
WIRE = Path(__file__).resolve().parents[2].parent / "shared" / "wire-samples"
TEXT = {"type": "text", "text": "Describe."}  # 9 characters: 9 // 4 + 1 = 3 tokens
needs_samples = pytest.mark.skipif(not WIRE.is_dir(), reason="shared wire samples not available")


@pytest.fixture
def emu() -> Iterator[DashScopeEmulator]:
    with DashScopeEmulator() as emulator:
        yield emulator


@pytest.fixture
def client(emu: DashScopeEmulator) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=emu.base_url, headers=AUTH, timeout=10) as http:
        yield http


def png(width: int, height: int) -> str:
    """A data URL holding only a PNG signature and IHDR: all the emulator reads."""
    header = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + struct.pack(">II", width, height) + b"\x08\x02\x00\x00\x00"
    return "data:image/png;base64," + base64.b64encode(header).decode()


def jpeg(width: int, height: int) -> str:
    sof = b"\xff\xc0" + struct.pack(">HBHH", 17, 8, height, width) + b"\x03" + b"\x00" * 9
    return "data:image/jpeg;base64," + base64.b64encode(b"\xff\xd8" + sof + b"\xff\xd9").decode()


def image(url: str, **extra: Any) -> dict[str, Any]:
    return {"type": "image_url", "image_url": {"url": url}, **extra}


def prompt_usage(client: httpx.Client, model: str, *parts: dict[str, Any], **params: Any) -> dict[str, Any]:
    """The automatic usage of a streamed request (streaming works for every model, QVQ included)."""
    body = {
        "model": model,
        "stream": True,
        "stream_options": {"include_usage": True},
        "messages": [{"role": "user", "content": [*parts, TEXT]}],
        **params,
    }
    lines = [line for line in client.post("/chat/completions", json=body).text.split("\n\n") if line]
    usage: dict[str, Any] = json.loads(lines[-2][6:])["usage"]
    return usage


def image_tokens(client: httpx.Client, model: str, *parts: dict[str, Any], **params: Any) -> int:
    usage = prompt_usage(client, model, *parts, **params)
    assert usage["prompt_tokens"] == 3 + usage["prompt_tokens_details"]["image_tokens"]
    tokens: int = usage["prompt_tokens_details"]["image_tokens"]
    return tokens


def test_assumptions():
    assert (ASSUMED_IMAGE_SIZE, ASSUMED_VIDEO_SECONDS) == ((1024, 1024), 10.0)


@pytest.mark.parametrize(
    ("model", "url", "tokens"),
    [
        # The seed page's 1024x406 picture. QVQ (28 px): round(406/28) = 14 (half to even), round(1024/28) = 37,
        # 392 x 1036 is under 1,003,520: 14 x 37 + 2 = 520 (the qvq-max capture's image_tokens).
        ("qvq-max", png(1024, 406), 520),
        # Qwen3-VL (32 px): 406 -> 416, 1024 stays: 13 x 32 + 2 = 418 (the vision guide's example).
        ("qwen3-vl-plus", png(1024, 406), 418),
        ("qwen3-vl-plus", jpeg(1024, 406), 418),
        # A remote URL is 1024x1024: 32 x 32 + 2; on QVQ 1036^2 > 1,003,520, scaled: floor(35.78) = 35, 35^2 + 2.
        ("qwen3-vl-plus", "https://example.com/cat.png", 1026),
        ("qvq-plus", "https://example.com/cat.png", 1227),
        # Undecodable or not base64: the assumed size.
        ("qwen3-vl-plus", "data:image/png;base64,!!!!", 1026),
        ("qwen3-vl-plus", "data:image/png,not-base64", 1026),
        # 4000x10 is over 200:1: the 4-token minimum.
        ("qwen3-vl-plus", png(4000, 10), 6),
        # 64x48 -> 64x64 = 4,096 px, exactly the 4-token minimum (Qwen3.5's pixel facts are unsourced:
        # counted with Qwen3-VL's).
        ("qwen3.5-plus", png(64, 48), 6),
    ],
)
def test_image_sizes_from_data_url_headers(client, model, url, tokens):
    assert image_tokens(client, model, image(url)) == tokens


@needs_samples
def test_the_seed_picture_costs_what_the_capture_says(client):
    lines = (WIRE / "aliyun-docs-mirror-qvq-max-compat-stream-abridged.sse").read_text("utf-8").splitlines()
    captured = json.loads(next(line for line in lines if '"usage":{' in line)[6:])["usage"]["prompt_tokens_details"]
    assert image_tokens(client, "qvq-max", image(png(1024, 406))) == captured["image_tokens"] == 520


@pytest.mark.parametrize(
    ("part", "params", "tokens"),
    [
        # 8000^2 into 2,621,440 px: beta = sqrt(64e6 / 2621440) = 4.941, floor(8000 / 4.941 / 32) = 50: 50^2 + 2.
        (image(png(8000, 8000)), {}, 2502),
        # max_pixels above the default wins: beta = 4, floor(62.5) = 62: 62^2 + 2.
        (image(png(8000, 8000), max_pixels=4_000_000), {}, 3846),
        # max_pixels below the default: the default (the larger) applies.
        (image(png(8000, 8000), max_pixels=1_000_000), {}, 2502),
        # max_pixels above the high-resolution cap is capped at 16,777,216 = 4096^2: 128^2 + 2.
        (image(png(8000, 8000), max_pixels=20_000_000), {}, 16386),
        # vl_high_resolution_images: the 16,384-token cap, max_pixels ignored.
        (image(png(8192, 8192), max_pixels=1_000_000), {"vl_high_resolution_images": True}, 16386),
        (image(png(8000, 8000), max_pixels="4000000"), {}, 2502),  # not an int: ignored
    ],
)
def test_budgets(client, part, params, tokens):
    assert image_tokens(client, "qwen3-vl-plus", part, **params) == tokens


def test_several_images_add_up(client):
    parts = [image(png(1024, 406)), image("https://example.com/a.png"), image(png(8192, 8192))]
    assert image_tokens(client, "qwen3-vl-plus", *parts) == 418 + 1026 + 2502


@pytest.mark.parametrize(
    ("part", "tokens"),
    [
        # 4 frames of 1024x406: each 1024x416 (within 128-768 tokens) = 32 x 13; 2 pairs: 2 x 416 + 2.
        ({"type": "video", "video": [png(1024, 406)] * 4}, 834),
        # 5 frames -> 4 (even): the same.
        ({"type": "video", "video": [png(1024, 406)] * 5}, 834),
        # A video file: 10 s at 2 fps = 20 frames of 1024x1024, each scaled into 768 tokens:
        # floor(1024 / 1.1547 / 32) = 27, 27^2 = 729; 10 pairs: 7,290 + 2.
        ({"type": "video_url", "video_url": {"url": "https://example.com/clip.mp4"}}, 7292),
        ({"type": "video_url", "video_url": {"url": "https://example.com/clip.mp4"}, "fps": 0.5}, 1460),  # 5 -> 4
        ({"type": "video_url", "video_url": {"url": "https://example.com/clip.mp4"}, "fps": 20}, 7292),  # out of range
    ],
)
def test_videos(client, part, tokens):
    usage = prompt_usage(client, "qwen3-vl-plus", part)
    assert usage["prompt_tokens_details"] == {"video_tokens": tokens}
    assert usage["prompt_tokens"] == 3 + tokens


def test_images_and_videos_in_the_compat_body(emu, client):
    content = [image(png(1024, 406)), {"type": "video", "video": [png(1024, 406)] * 4}, TEXT]
    r = client.post(
        "/chat/completions", json={"model": "qwen3-vl-plus", "messages": [{"role": "user", "content": content}]}
    )
    assert r.json()["usage"] == {
        "prompt_tokens": 3 + 418 + 834,
        "completion_tokens": 5,
        "total_tokens": 3 + 418 + 834 + 5,
        "prompt_tokens_details": {"image_tokens": 418, "video_tokens": 834},
    }


def test_native_items_and_usage_shape(emu):
    content = [
        {"image": png(8000, 8000), "max_pixels": 4_000_000},
        {"video": "https://example.com/clip.mp4", "fps": 0.5},
        {"text": "Describe."},
    ]
    body = {"model": "qwen3-vl-plus", "input": {"messages": [{"role": "user", "content": content}]}}
    emu.enqueue(Reply(text="ok"))
    r = httpx.post(emu.native_base_url + MM, json=body, headers=AUTH)
    assert r.json()["usage"] == {
        "total_tokens": 3 + 3846 + 1460 + 1,
        "input_tokens_details": {"image_tokens": 3846, "video_tokens": 1460, "text_tokens": 3},
        "output_tokens": 1,
        "input_tokens": 3 + 3846 + 1460,
        "image_tokens": 3846,
        "video_tokens": 1460,
    }
    assert list(r.json()["usage"]) == [
        "total_tokens",
        "input_tokens_details",
        "output_tokens",
        "input_tokens",
        "image_tokens",
        "video_tokens",
    ]


def test_pixel_facts_come_from_the_emulator_table(emu, client):
    emu.register_model("no-pixels")  # unknown pixel facts: counted as Qwen3-VL (an assumption, numbers only)
    coarse = ModelFacts(pixel_unit=64, default_max_pixels=64 * 64 * 99, high_res_max_pixels=64 * 64 * 400)
    emu.register_model("coarse", coarse)
    assert image_tokens(client, "no-pixels", image("https://example.com/a.png")) == 1026
    # 1024x1024 on a 64-px grid: 16 x 16 = 256 tokens, over the 99-token cap: floor(1024 / 1.608 / 64) = 9: 9^2 + 2.
    assert image_tokens(client, "coarse", image("https://example.com/a.png")) == 83


def test_vllm_counts_images_too():
    with DashScopeEmulator(flavour="vllm") as emu:
        body = {
            "model": "Qwen/Qwen3-VL-8B-Thinking",
            "messages": [{"role": "user", "content": [image(png(1024, 406)), TEXT]}],
        }
        usage = httpx.post(f"{emu.base_url}/chat/completions", headers=AUTH, json=body).json()["usage"]
    assert usage == {"prompt_tokens": 3 + 418, "total_tokens": 3 + 418 + 5, "completion_tokens": 5}
