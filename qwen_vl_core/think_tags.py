"""Split `<think>…</think>` reasoning out of answer text, across chunk boundaries.

Self-hosted servers without a reasoning parser (vLLM, SGLang or llama.cpp started without one) send
a thinking model's reasoning inline in `content`, usually as `…</think>answer` (the chat template
already put `<think>` in the prompt) or as `<think>…</think>answer`. Like vLLM's own Qwen3 parser,
text before a closing tag is reasoning, and a stream that never closes the tag is all reasoning.
Only used when switched on, so DashScope streams pay nothing for it.
"""

from __future__ import annotations

from .events import ReasoningDelta, TextDelta

__all__ = ["ThinkTagSplitter"]

_OPEN, _CLOSE = "<think>", "</think>"


def _partial_tag_len(text: str, tag: str) -> int:
    """Length of the longest suffix of `text` that is a proper prefix of `tag`."""
    for size in range(min(len(tag) - 1, len(text)), 0, -1):
        if text.endswith(tag[:size]):
            return size
    return 0


class ThinkTagSplitter:
    """Feed answer-text pieces; get reasoning and text deltas with the tags removed."""

    __slots__ = ("_after_close", "_held", "_in_think", "_started")

    def __init__(self) -> None:
        self._in_think = True  # reasoning until a closing tag, even without an opening one
        self._started = False
        self._after_close = False  # drop the newlines that separate `</think>` from the answer
        self._held = ""

    def feed(self, text: str) -> list[ReasoningDelta | TextDelta]:
        out: list[ReasoningDelta | TextDelta] = []
        text = self._held + text
        self._held = ""
        while text:
            if not self._started:
                stripped = text.lstrip()
                if _OPEN.startswith(stripped) and len(stripped) < len(_OPEN):
                    self._held = text  # could still become "<think>"
                    return out
                self._started = True
                if stripped.startswith(_OPEN):
                    text = stripped[len(_OPEN) :]
                    continue
            if self._in_think:
                end = text.find(_CLOSE)
                if end >= 0:
                    if end:
                        out.append(ReasoningDelta(text[:end]))
                    self._in_think = False
                    self._after_close = True
                    text = text[end + len(_CLOSE) :]
                    continue
                keep = _partial_tag_len(text, _CLOSE)
                body, self._held = text[: len(text) - keep], text[len(text) - keep :]
                if body:
                    out.append(ReasoningDelta(body))
                return out
            if self._after_close:
                text = text.lstrip("\n")
                if not text:
                    return out
                self._after_close = False
            out.append(TextDelta(text))
            return out
        return out

    def flush(self) -> list[ReasoningDelta | TextDelta]:
        """End of stream: text held back as a possible tag prefix is emitted as what it was."""
        held, self._held = self._held, ""
        if not held:
            return []
        return [ReasoningDelta(held) if self._in_think else TextDelta(held)]
