"""Bytes on the wire for one 12-megapixel JPEG from a local path, sent to qwen3-vl-plus at default settings.

Compares what `qwen_vl_core` sends (downscaled on the client to the model's pixel budget with the
service's own rounding) with the naive data URL that ChatOpenAI-style clients send, and with
LlamaIndex OpenAILike's handling of `ImageBlock(path=...)` (when llama-index-llms-openai is
installed). For each: bytes on the wire, client CPU time to produce them, and the token estimate
(the server downscales the naive upload to the same budget, so the tokens are the same).

    python benchmarks/media_bytes.py [--image PATH] [--repeat 5]

Without --image a synthetic 4000x3000 photo-like JPEG (quality 95, as phones save) is generated.
"""

from __future__ import annotations

import argparse
import base64
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from PIL import Image, ImageFilter

from qwen_vl_core import ChatRequest, Message, TextPart, get_spec
from qwen_vl_core.imaging import image_size
from qwen_vl_core.media import image, prepare_media
from qwen_vl_core.tokens import estimate_image_tokens

UPLOAD_BYTES_PER_SECOND = 10_000_000
MODEL = "qwen3-vl-plus"


def synthetic_photo(path: Path, width: int = 4000, height: int = 3000) -> None:
    """Smooth gradients plus fine texture: compresses like a real photo, unlike pure noise."""
    small = Image.merge("RGB", [Image.effect_noise((width // 40, height // 40), 90) for _ in range(3)])
    base = small.resize((width, height), Image.Resampling.BICUBIC).filter(ImageFilter.GaussianBlur(6))
    grain = Image.effect_noise((width, height), 12).convert("RGB")
    Image.blend(base, grain, 0.15).save(path, "JPEG", quality=95)


def ours(path: Path) -> int:
    request = ChatRequest(model=MODEL, messages=(Message("user", (image(path), TextPart("?"))),))
    url = prepare_media(request, get_spec(MODEL)).messages[0].content[0].url  # type: ignore[union-attr]
    return len(url)


def naive(path: Path) -> int:
    url = f"data:image/jpeg;base64,{base64.b64encode(path.read_bytes()).decode()}"
    return len(url)


def openai_like(path: Path) -> int:
    from llama_index.core.base.llms.types import ChatMessage, ImageBlock, TextBlock
    from llama_index.llms.openai.utils import to_openai_message_dicts

    message = ChatMessage(role="user", blocks=[ImageBlock(path=path), TextBlock(text="?")])
    content = to_openai_message_dicts([message])[0]["content"]
    return len(next(p for p in content if p["type"] == "image_url")["image_url"]["url"])


def measure(fn: Callable[[Path], int], path: Path, repeat: int) -> tuple[int, float]:
    fn(path)  # warm up (imports, file cache)
    times, size = [], 0
    for _ in range(repeat):
        start = time.process_time()
        size = fn(path)
        times.append(time.process_time() - start)
    return size, statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", type=Path, default=None)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        path = args.image or Path(tmp) / "photo-12mp.jpg"
        if args.image is None:
            synthetic_photo(path)
        size = image_size(path.read_bytes())
        assert size is not None
        tokens = estimate_image_tokens(*size, model=MODEL)
        rows = [("qwen_vl_core (downscaled to the budget)", ours), ("naive data URL (ChatOpenAI-style)", naive)]
        try:
            import llama_index.llms.openai.utils  # noqa: F401

            rows.append(("LlamaIndex OpenAILike ImageBlock(path=...)", openai_like))
        except ImportError:
            print("(llama-index-llms-openai not installed: OpenAILike row skipped)", file=sys.stderr)
        results = [(name, *measure(fn, path, args.repeat)) for name, fn in rows]
    naive_bytes = results[1][1]
    lines = [
        f"Image: {size[0]}x{size[1]} JPEG, {path.stat().st_size if args.image else 'synthetic'}; model {MODEL}; "
        f"estimated tokens {tokens:,} for every row (the server fits the upload into the same budget).",
        "",
        "| sender | bytes on the wire | × fewer than naive | CPU to encode (ms) | upload at 10 MB/s (ms) |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, sent, cpu in results:
        upload = sent / UPLOAD_BYTES_PER_SECOND * 1000
        lines.append(f"| {name} | {sent:,} | {naive_bytes / sent:.1f} | {cpu * 1000:.0f} | {upload:.0f} |")
    ours_bytes, ours_cpu = results[0][1], results[0][2]
    saved_ms = (naive_bytes - ours_bytes) / UPLOAD_BYTES_PER_SECOND * 1000
    lines += [
        "",
        f"Upload time saved at 10 MB/s: {saved_ms:.0f} ms, for {ours_cpu * 1000:.0f} ms of client CPU "
        f"({'less' if ours_cpu * 1000 < saved_ms else 'MORE'} than it saves).",
    ]
    report = "\n".join(lines)
    print(report)
    out = Path(__file__).parent / "results" / "media_bytes.md"
    out.parent.mkdir(exist_ok=True)
    out.write_text(f"Command: python benchmarks/media_bytes.py --repeat {args.repeat}\n\n{report}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
