"""`qwen-vl estimate`: the same checks as `ask`, each bad file reported in its row, non-zero exit."""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image

from qwen_vl_core.cli import main


def estimate(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    code = main(["estimate", *argv], out=out)
    return code, out.getvalue()


def test_bad_files_are_reported_in_their_row_and_the_rest_still_counts(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hello world, not an image")
    Image.new("RGB", (1, 1)).save(tmp_path / "dot.png")
    Image.new("RGB", (64, 48)).save(tmp_path / "ok.png")
    files = [str(tmp_path / name) for name in ("ok.png", "notes.txt", "dot.png", "missing.png")]
    code, text = estimate(*files)
    _, notes, dot, missing = files
    size = (tmp_path / "ok.png").stat().st_size
    width = len(missing)
    rows = [
        ("input", "format  pixels  bytes  tokens  tokens (high-res)  sent as"),
        ("ok.png", f"png     64x48   {size}     6       6                  as is"),
        ("notes.txt", "?       ?       ?      ?       ?                  rejected (see below)"),
        ("dot.png", "?       ?       ?      ?       ?                  rejected (see below)"),
        (missing, "?       ?       ?      ?       ?                  rejected (see below)"),
    ]
    assert code == 1
    assert text == "".join(f"{name.ljust(width)}  {rest}\n" for name, rest in rows) + (
        f"error: {notes} is not a supported image: it is unrecognised data. Send BMP, JPEG, PNG, TIFF, WEBP or HEIC.\n"
        f"error: {dot} is 1x1 px; both sides must be larger than 10 px. Use a larger image.\n"
        f"error: {missing}: The image file '{missing}' does not exist (or is not a file).\n"
        "total: 6 image tokens for qwen3-vl-plus (max input 258,048); 3 of 4 files rejected\n"
    )


def test_an_aspect_ratio_the_api_rejects_is_an_error_not_a_count(tmp_path: Path) -> None:
    Image.new("RGB", (4020, 20)).save(tmp_path / "strip.png")
    code, text = estimate(str(tmp_path / "strip.png"))
    assert code == 1
    assert text.splitlines()[-2:] == [
        f"error: {tmp_path / 'strip.png'} is 4020x20 px, an aspect ratio over 200:1, which the API rejects. Crop it "
        "or split it into several images.",
        "total: 0 image tokens for qwen3-vl-plus (max input 258,048); 1 of 1 files rejected",
    ]
