"""Boxes and points out of an answer's text, whatever shape the JSON came in.

Shapes seen in the Qwen cookbooks (QwenLM/Qwen3-VL cookbooks/2d_grounding.ipynb and
spatial_understanding.ipynb; QwenLM/Qwen2.5-VL cookbooks/spatial_understanding.ipynb): a ```json
fence around a list of `{"bbox_2d": [x1, y1, x2, y2], "label": ...}` or `{"point_2d": [x, y],
"label": ...}` objects, often with extra keys (`"type"`, `"color"`, `"role"`); a single object;
bare JSON with prose before or after it; an answer cut off inside its last item (the cookbooks'
own plotting code patches that case); Python-style single quotes. Wrappers such as
`{"detections": [...]}` are walked. Every item that cannot be read becomes a `GroundingProblem`;
nothing is dropped silently.
"""

from __future__ import annotations

import ast
import json
import math
import re
from typing import Any

from .types import Box, GroundingProblem, GroundingResult, Point

__all__ = ["MAX_ANSWER_CHARS", "parse_answer"]

MAX_ANSWER_CHARS = 1_000_000
"""Only this much of an answer is read (a 32,768-token answer is far shorter)."""

_BOX_KEYS = ("bbox_2d", "bbox")
_POINT_KEY = "point_2d"
_KEY = re.compile(r"""["'](?:bbox_2d|bbox|point_2d)["']""")
_KEY_WITH_COLON = re.compile(r"""["'](?:bbox_2d|bbox|point_2d)["']\s*:""")
_LANG = re.compile(r"[A-Za-z0-9_+.-]*")
_MAX_NESTING = 32
"""Deeper structures are reported, not walked: recursion stays far from Python's limit."""
_OPENER = re.compile(r"[\[{]")
_FENCE = "```"
_KEYS_TEXT = '"bbox_2d", "bbox" or "point_2d"'
_ALL_KEYS = (*_BOX_KEYS, _POINT_KEY)


def _excerpt(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= 80 else flat[:77] + "..."


def _fenced_blocks(text: str) -> list[str]:
    """Contents of ``` fences (any language tag); an unclosed last fence runs to the end."""
    blocks: list[str] = []
    pos = 0
    while (start := text.find(_FENCE, pos)) != -1:
        body = _LANG.match(text, start + len(_FENCE))
        begin = body.end() if body else start + len(_FENCE)
        end = text.find(_FENCE, begin)
        blocks.append(text[begin : end if end != -1 else len(text)])
        if end == -1:
            break
        pos = end + len(_FENCE)
    return blocks


class _Reader:
    """Walks one answer; `budget` bounds the work on text full of unbalanced brackets."""

    def __init__(self, budget: int) -> None:
        self.boxes: list[Box] = []
        self.points: list[Point] = []
        self.problems: list[GroundingProblem] = []
        self.count = 0
        self.budget = budget
        self.exhausted = False
        self.nesting = 0

    # -- structure -------------------------------------------------------------------------------

    def extent(self, s: str, start: int) -> int | None:
        """End (exclusive) of the bracketed structure at `start`, strings respected; None if unclosed."""
        depth = 0
        quote = ""
        i, n = start, len(s)
        while i < n:
            c = s[i]
            if quote:
                if c == "\\":
                    i += 1
                elif c == quote:
                    quote = ""
            elif c == '"' or c == "'":
                quote = c
            elif c == "[" or c == "{":
                depth += 1
            elif c == "]" or c == "}":
                depth -= 1
                if depth == 0:
                    self.budget -= i - start
                    return i + 1
            i += 1
        self.budget -= n - start
        return None

    def scan(self, s: str) -> None:
        """Find every top-level structure holding a coordinate key, in order."""
        i = 0
        while not self.exhausted:
            found = _OPENER.search(s, i)
            if found is None:
                return
            j = found.start()
            if self.budget <= 0:
                self.exhausted = True
                return
            end = self.extent(s, j)
            if end is None:
                if _KEY.search(s, j):
                    self.structure(s[j:], closed=False)
                    return
                i = j + 1
                continue
            if _KEY.search(s, j, end):
                self.structure(s[j:end], closed=True)
            i = end

    def structure(self, text: str, *, closed: bool) -> None:
        value = _decode(text) if closed else None
        if value is not None:
            self.walk(value[0], text)
        elif text.startswith("["):
            self.elements(text)
        else:
            self.broken_object(text, closed=closed)

    def elements(self, text: str) -> None:
        """A list that does not decode as a whole: read it element by element."""
        i = 1
        while i < len(text):
            c = text[i]
            if c == "]":
                return
            if c not in "[{":
                i += 1
                continue
            end = self.extent(text, i)
            if end is None:
                self.broken_object(text[i:], closed=False)
                return
            element = text[i:end]
            value = _decode(element)
            if value is None:
                self.broken_object(element, closed=True)
            else:
                self.walk([value[0]], element, in_items=True)
            i = end
        self.problems.append(
            GroundingProblem(
                None,
                f"the JSON list is not closed: the answer was cut off after item {self.count}, so more may be missing",
            )
        )

    def broken_object(self, text: str, *, closed: bool) -> None:
        """An object that does not decode: its inner items may still be readable (a wrapper)."""
        before = (len(self.boxes), len(self.points), len(self.problems))
        inner = _OPENER.search(text, 1)
        if inner is not None and self.nesting < _MAX_NESTING and not _top_level_key(text):
            self.nesting += 1
            self.scan(text[inner.start() : len(text) - 1 if closed else len(text)])
            self.nesting -= 1
        if (len(self.boxes), len(self.points), len(self.problems)) == before:
            self.count += 1
            if closed:
                self.problem("is not valid JSON", text)
            else:
                self.problem("is cut off: the answer ends inside it (did the output reach max_tokens?)", text)

    # -- values ----------------------------------------------------------------------------------

    def walk(self, value: Any, text: str, *, in_items: bool = False, depth: int = 0) -> None:
        """Every object with a coordinate key, in document order. In a list of such objects (or an
        element of a list being read piece by piece, `in_items`), any other element is reported."""
        if depth > _MAX_NESTING:
            self.count += 1
            self.problem(f"is nested more than {_MAX_NESTING} levels deep and was not read", text)
            return
        if isinstance(value, dict):
            if any(k in value for k in _ALL_KEYS):
                self.count += 1
                self.item(value, text)
                return
            for inner in value.values():
                if isinstance(inner, dict | list):
                    self.walk(inner, text, depth=depth + 1)
            return
        if not isinstance(value, list):
            return
        items = in_items or any(isinstance(v, dict) and any(k in v for k in _ALL_KEYS) for v in value)
        for inner in value:
            if items and not _holds_key(inner):
                self.count += 1
                what = "is not an object" if not isinstance(inner, dict) else "has no coordinates"
                self.problem(f"{what} (expected {_KEYS_TEXT})", json.dumps(inner, ensure_ascii=False))
            else:
                self.walk(inner, text, depth=depth + 1)

    def item(self, obj: dict[str, Any], text: str) -> None:
        label = obj.get("label")
        label_text = None if label is None else label if isinstance(label, str) else json.dumps(label)
        extra = {k: v for k, v in obj.items() if k not in _ALL_KEYS and k != "label"}
        snippet = json.dumps(obj, ensure_ascii=False)
        box_key = next((k for k in _BOX_KEYS if k in obj), None)
        if box_key is not None:
            numbers = _numbers(obj[box_key], 4)
            if numbers is None:
                self.problem(f'has a "{box_key}" that is not 4 numbers [x1, y1, x2, y2]', snippet)
            else:
                x1, y1, x2, y2 = numbers
                raw = (x1, y1, x2, y2)
                self.boxes.append(Box(x1, y1, x2, y2, label_text, extra, self.count, raw))
        if _POINT_KEY in obj:
            numbers = _numbers(obj[_POINT_KEY], 2)
            if numbers is None:
                self.problem(f'has a "{_POINT_KEY}" that is not 2 numbers [x, y]', snippet)
            else:
                x, y = numbers
                self.points.append(Point(x, y, label_text, extra, self.count, (x, y)))

    def problem(self, what: str, text: str) -> None:
        self.problems.append(GroundingProblem(self.count, f"item {self.count} {what}", _excerpt(text)))


def _holds_key(value: Any) -> bool:
    if isinstance(value, dict):
        return any(k in value for k in _ALL_KEYS) or any(_holds_key(v) for v in value.values())
    if isinstance(value, list):
        return any(_holds_key(v) for v in value)
    return False


def _top_level_key(text: str) -> str | None:
    """A coordinate key directly inside the object that starts `text` (depth 1), if any."""
    depth = 0
    quote = ""
    i = 0
    while i < len(text):
        c = text[i]
        if quote:
            if c == "\\":
                i += 1
            elif c == quote:
                quote = ""
        elif c in "\"'":
            if depth == 1:
                found = _KEY_WITH_COLON.match(text, i)
                if found:
                    return found.group(0)
            quote = c
        elif c in "[{":
            depth += 1
        elif c in "]}":
            depth -= 1
        i += 1
    return None


def _decode(text: str) -> tuple[Any] | None:
    """JSON, else a Python literal (single quotes, trailing commas); None when neither reads."""
    try:
        return (json.loads(text),)
    except (ValueError, RecursionError):
        pass
    try:
        return (ast.literal_eval(text),)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return None


def _numbers(value: Any, count: int) -> tuple[float, ...] | None:
    if not isinstance(value, list | tuple) or len(value) != count:
        return None
    out: list[float] = []
    for v in value:
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
            return None
        out.append(float(v))
    return tuple(out)


def parse_answer(text: str) -> GroundingResult:
    """Boxes and points as the model answered them (its own numbers: nothing is mapped or clamped)."""
    problems: list[GroundingProblem] = []
    if len(text) > MAX_ANSWER_CHARS:
        text = text[:MAX_ANSWER_CHARS]
        problems.append(
            GroundingProblem(None, f"only the first {MAX_ANSWER_CHARS:,} characters of the answer were read")
        )
    reader = _Reader(budget=8 * len(text) + 1024)
    blocks = _fenced_blocks(text)
    for block in blocks:
        reader.scan(block)
    if not blocks or (not reader.boxes and not reader.points and not reader.problems):
        reader = _Reader(budget=8 * len(text) + 1024)
        reader.scan(text)
    if reader.exhausted:
        problems.append(
            GroundingProblem(None, "the answer has too many unbalanced or nested brackets; the rest was not read")
        )
    return GroundingResult(tuple(reader.boxes), tuple(reader.points), (*reader.problems, *problems))
