"""Rendering helpers every protocol module shares: compact JSON, ids, tool-call fragments, token counts.

Shared so that one scripted `Reply` yields the same pieces, ids and token counts on every route,
which is what lets tests compare the protocols' results directly.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

from qwen_vl_core.testing._rules import RequestView
from qwen_vl_core.testing._script import Reply

__all__ = [
    "IMAGE_TOKENS",
    "Fragment",
    "call_id",
    "dumps",
    "encode",
    "fragment_json",
    "new_request_id",
    "piece_counts",
    "prompt_tokens",
    "tool_groups",
]

IMAGE_TOKENS = 260
"""Tokens counted per image by the automatic usage."""


def dumps(value: Any) -> str:
    """Compact JSON with raw non-ASCII, as DashScope writes it."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def encode(value: Any) -> bytes:
    return dumps(value).encode()


def new_request_id() -> str:
    return str(uuid.uuid4())


def call_id() -> str:
    """A DashScope-style tool-call id."""
    return f"call_{uuid.uuid4().hex[:24]}"


def prompt_tokens(view: RequestView) -> int:
    """Deterministic prompt size: ~4 characters per token, plus a fixed count per image."""
    return sum(len(text) for text in view.texts) // 4 + 1 + IMAGE_TOKENS * view.images


def piece_counts(reply: Reply) -> tuple[int, int]:
    """(reasoning pieces, all output pieces): the automatic usage counts one token per piece."""
    reasoning = len(reply.pieces(reply.reasoning))
    calls = sum(len(reply.argument_pieces(call)) for call in reply.tool_calls)
    return reasoning, reasoning + len(reply.pieces(reply.text)) + calls


@dataclass(frozen=True)
class Fragment:
    """One tool-call fragment; `name` is None on continuations (which DashScope sends with `id: ""`)."""

    index: int
    id: str
    name: str | None
    arguments: str


def tool_groups(reply: Reply, call_ids: tuple[str, ...]) -> list[list[Fragment]]:
    """Fragments grouped per chunk: call i's last fragment shares a chunk with call i+1's head.

    One chunk carrying the tail of one call and the head of the next is what DashScope does with
    parallel calls (protocol doc §7).
    """
    groups: list[list[Fragment]] = []
    for index, (call, cid) in enumerate(zip(reply.tool_calls, call_ids, strict=True)):
        first, *rest = reply.argument_pieces(call)
        head = Fragment(index, cid, call.name, first)
        if groups:
            groups[-1].append(head)
        else:
            groups.append([head])
        groups.extend([Fragment(index, "", None, piece)] for piece in rest)
    return groups


def fragment_json(fragment: Fragment) -> str:
    """A fragment as DashScope writes it, in both protocols."""
    function: dict[str, str] = {"arguments": fragment.arguments}
    if fragment.name is not None:
        function = {"name": fragment.name, **function}
    return dumps({"index": fragment.index, "id": fragment.id, "type": "function", "function": function})
