"""Batch API lines and shard files: thinking written out, the per-line limit, the per-file limits."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import random
import re
import warnings
from dataclasses import replace
from pathlib import Path

import pytest
from PIL import Image

from qwen_vl_core.batch import BatchItem, BatchSettings, BatchThinkingWarning, ShardLimits, build_batch_line
from qwen_vl_core.batch import thinking as thinking_module
from qwen_vl_core.batch.build import build_request
from qwen_vl_core.batch.shards import encode_line, write_shards
from qwen_vl_core.batch.thinking import line_thinking, warn_if_unknown
from qwen_vl_core.catalog import UnknownModelWarning, get_spec

SETTINGS = BatchSettings("qwen3-vl-plus", "Describe it.")


def noise_png(width: int, height: int, seed: int = 1) -> bytes:
    rng = random.Random(seed)
    image = Image.frombytes("RGB", (width, height), bytes(rng.getrandbits(8) for _ in range(width * height * 3)))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def body(model: str, **options: object) -> dict[str, object]:
    item = BatchItem("a", prompt="q", options=options)
    return build_batch_line("a", build_request(item, BatchSettings(model)))["body"]  # type: ignore[no-any-return]


def test_hybrid_lines_carry_enable_thinking_and_thinking_only_lines_do_not() -> None:
    assert body("qwen3-vl-plus")["enable_thinking"] is False  # the model's default, written out
    assert body("qwen3-vl-flash", thinking=True)["enable_thinking"] is True
    assert "enable_thinking" not in body("qwen3-vl-8b-thinking")  # always thinks; nothing to choose
    assert body("qwen3.7-plus")["enable_thinking"] is True  # thinks by default: written out
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnknownModelWarning)  # not in the catalog (yet)
        assert "enable_thinking" not in body("qwen3.8-flash")  # default unknown here: the server's applies
        assert body("qwen3.8-flash", thinking=False)["enable_thinking"] is False


def test_an_unknown_default_warns_once_per_run_and_is_unknown_in_the_fingerprint(monkeypatch) -> None:
    with pytest.warns(BatchThinkingWarning) as caught:
        warn_if_unknown("qwen3.8-flash", None)
    assert str(caught[0].message) == (
        "qwen3.8-flash: whether it thinks by default is not known here, so batch lines leave enable_thinking out "
        "and the server's default applies (thinking costs more). Choose with --thinking or --no-thinking "
        "(options={'thinking': ...})."
    )
    warn_if_unknown("qwen3-vl-plus", None)  # known default: silent (warnings are errors here)
    warn_if_unknown("qwen3.8-flash", True)  # chosen: silent
    # A catalog entry whose default is None (unknown) behaves like an unknown model.
    monkeypatch.setattr(thinking_module, "get_spec", lambda name, warn: replace(get_spec(name), thinking_default=None))
    assert line_thinking("qwen3-vl-plus", None) == thinking_module.LineThinking(None, None)
    assert line_thinking("qwen3-vl-plus", True) == thinking_module.LineThinking(True, True)


def test_a_line_over_the_limit_is_rebuilt_with_smaller_images(tmp_path: Path) -> None:
    (tmp_path / "big.png").write_bytes(noise_png(400, 400))
    item = BatchItem("big", (str(tmp_path / "big.png"),))
    full, shrunk = encode_line(item, SETTINGS)
    assert shrunk is False
    limit = len(full) // 3
    line, shrunk = encode_line(item, SETTINGS, limit)
    assert shrunk is True
    assert len(line) - 1 <= limit
    url = json.loads(line)["body"]["messages"][0]["content"][0]["image_url"]["url"]
    with Image.open(io.BytesIO(base64.b64decode(url.partition(",")[2]))) as sent:
        assert (sent.format, sent.size) == ("JPEG", (256, 256))  # half the pixels at most, on the 32-px grid


def test_an_item_that_cannot_fit_in_a_line_is_that_items_error(tmp_path: Path) -> None:
    (tmp_path / "big.png").write_bytes(noise_png(200, 200))
    with pytest.raises(ValueError, match="item 'big'") as info:
        encode_line(BatchItem("big", (str(tmp_path / "big.png"),)), SETTINGS, 2_000)
    size = len(encode_line(BatchItem("big", (str(tmp_path / "big.png"),)), SETTINGS)[0]) - 1
    assert str(info.value) == (
        f"item 'big': its Batch API line is {size:,} bytes, over the limit of 2,000 per line, even with its images "
        "downscaled to 1/16 of their pixels. Give its images as http(s) URLs (the service fetches them), or run it "
        "with --via realtime."
    )
    with pytest.raises(ValueError, match=re.escape("and it has no inline image to downscale.")):
        encode_line(BatchItem("long", prompt="x" * 3000), SETTINGS, 2_000)


def test_shards_respect_requests_and_bytes_per_file(tmp_path: Path) -> None:
    work = [BatchItem(f"item-{n}", prompt=f"question {n}") for n in range(7)]
    line = len(encode_line(work[0], SETTINGS)[0])
    shards, rejected = write_shards(work, SETTINGS, tmp_path, limits=ShardLimits(max_requests=3))
    assert ([s.requests for s in shards], rejected) == ([3, 3, 1], [])
    (tmp_path / "b").mkdir()
    by_bytes, _ = write_shards(work, SETTINGS, tmp_path / "b", limits=ShardLimits(max_bytes=2 * line + 1))
    assert [s.requests for s in by_bytes] == [2, 2, 2, 1]
    for shard in by_bytes:
        data = (tmp_path / "b" / f"shard-{shard.index:05d}.jsonl").read_bytes()
        assert (len(data), shard.bytes, hashlib.sha256(data).hexdigest()) == (shard.bytes, shard.bytes, shard.sha256)
        assert len(data) <= 2 * line + 1
    ids = (tmp_path / "b" / "shard-00003.ids").read_text().splitlines()
    assert ids == ['"item-6"']


def test_items_that_fail_to_build_become_records_and_skipped_ids_are_left_out(tmp_path: Path) -> None:
    work = [BatchItem("ok", prompt="q"), BatchItem("missing", ("/nope.png",)), BatchItem("done", prompt="q")]
    shards, rejected = write_shards(work, SETTINGS, tmp_path, skip={"done"}, include_reasoning=False)
    assert [s.requests for s in shards] == [1]
    assert rejected == [
        {
            "id": "missing",
            "answer": None,
            "tool_calls": [],
            "finish_reason": None,
            "model": None,
            "usage": None,
            "request_id": None,
            "error": {
                "type": "InvalidMediaError",
                "message": "The image file '/nope.png' does not exist (or is not a file).",
                "code": None,
                "status": None,
                "request_id": None,
            },
        }
    ]


@pytest.mark.parametrize(
    ("limits", "message"),
    [
        ({"max_requests": 0}, "max_requests must be at least 1, got 0"),
        ({"max_line_bytes": -5}, "max_line_bytes must be at least 1, got -5"),
    ],
)
def test_limits_are_checked(limits: dict[str, int], message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        ShardLimits(**limits)
