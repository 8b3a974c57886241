"""Ask a question about a folder of images with a LlamaIndex multimodal query engine and `QwenVL`.

    DASHSCOPE_API_KEY=... python examples/llama_index_multimodal_query.py photos/ "What do these show?"
    python examples/llama_index_multimodal_query.py --emulator          # offline, scripted replies

Every image in the folder becomes an `ImageNode`; `RetrieverQueryEngine.from_args(multimodal=True)`
sends them to the model as image blocks. The answer streams to stdout. The engine's `Response` has
no slot for the model's reasoning, so an instrumentation handler collects it from the final
message's `ThinkingBlock` and prints it after the answer.
"""

from __future__ import annotations

import argparse
import contextlib
import struct
import tempfile
import zlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from llama_index.core.base.base_retriever import BaseRetriever
from llama_index.core.base.llms.types import ThinkingBlock
from llama_index.core.instrumentation import get_dispatcher
from llama_index.core.instrumentation.event_handlers import BaseEventHandler
from llama_index.core.instrumentation.events import BaseEvent
from llama_index.core.instrumentation.events.llm import LLMChatEndEvent
from llama_index.core.query_engine import RetrieverQueryEngine
from llama_index.core.schema import ImageNode, NodeWithScore, QueryBundle

from llama_index_qwen_vl import QwenVL

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff", ".heic"}
# Colours of the demo images for the offline run.
DEMO_COLORS = {"red.png": (255, 0, 0), "blue.png": (0, 0, 255)}


def solid_png(rgb: tuple[int, int, int], side: int = 16) -> bytes:
    """A solid-colour PNG without Pillow (the API rejects images with a side of 10 px or less)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + bytes(rgb) * side for _ in range(side))
    header = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


class FolderRetriever(BaseRetriever):
    """Returns every image of a folder (up to `limit`); a real app would use a vector index."""

    def __init__(self, folder: Path, limit: int = 8) -> None:
        super().__init__()
        paths = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)[:limit]
        if not paths:
            raise SystemExit(f"No images in {folder} (looked for {', '.join(sorted(IMAGE_SUFFIXES))}).")
        self._nodes = [NodeWithScore(node=ImageNode(image_path=str(p), text=p.name), score=1.0) for p in paths]

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        return list(self._nodes)


class ReasoningCollector(BaseEventHandler):
    """Keeps the reasoning of every finished LLM call (query engines drop it from `Response`)."""

    reasoning: list[str] = []

    @classmethod
    def class_name(cls) -> str:
        return "ReasoningCollector"

    def handle(self, event: BaseEvent, **kwargs: Any) -> None:
        if isinstance(event, LLMChatEndEvent) and event.response is not None:
            for block in event.response.message.blocks:
                if isinstance(block, ThinkingBlock) and block.content:
                    self.reasoning.append(block.content)


@contextlib.contextmanager
def emulated(folder: Path | None) -> Iterator[tuple[dict[str, Any], Path]]:
    """An in-process DashScope emulator with a scripted answer, plus demo images if needed."""
    from qwen_vl_core.testing import DashScopeEmulator, Reply

    with DashScopeEmulator() as emu, tempfile.TemporaryDirectory() as tmp:
        if folder is None:
            folder = Path(tmp)
            for name, rgb in DEMO_COLORS.items():
                (folder / name).write_bytes(solid_png(rgb))
        emu.enqueue(
            Reply(
                reasoning="Two small squares: one red, one blue.",
                text="Two small squares, one red and one blue.",
            )
        )
        yield {"base_url": emu.base_url, "api_key": emu.api_key}, folder


def run(folder: Path, question: str, llm: QwenVL) -> None:
    collector = ReasoningCollector()
    dispatcher = get_dispatcher()
    dispatcher.add_event_handler(collector)
    try:
        engine = RetrieverQueryEngine.from_args(
            retriever=FolderRetriever(folder), llm=llm, multimodal=True, streaming=True
        )
        response = engine.query(question)
        for token in response.response_gen:  # type: ignore[union-attr]
            print(token, end="", flush=True)
        print()
    finally:
        dispatcher.event_handlers.remove(collector)
        llm.close()
    if collector.reasoning:
        print("\n[reasoning]\n" + "\n".join(collector.reasoning))


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?", type=Path, help="folder of images (optional with --emulator)")
    parser.add_argument("question", nargs="?", default="Describe what these images show.")
    parser.add_argument("--model", default="qwen3-vl-plus", help="e.g. qwen3-vl-plus, qvq-max")
    parser.add_argument("--thinking", action="store_true", help="enable thinking (hybrid Qwen3-VL models)")
    parser.add_argument("--emulator", action="store_true", help="run offline against an in-process emulator")
    args = parser.parse_args(argv)
    thinking = True if args.thinking or args.emulator else None
    if args.emulator:
        with emulated(args.folder) as (connection, folder):
            run(folder, args.question, QwenVL(model=args.model, enable_thinking=thinking, **connection))
        return
    if args.folder is None:
        parser.error("a folder of images is required (or use --emulator)")
    run(args.folder, args.question, QwenVL(model=args.model, enable_thinking=thinking))


if __name__ == "__main__":
    main()
