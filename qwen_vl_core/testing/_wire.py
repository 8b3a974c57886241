"""Rendering helpers every protocol module shares: compact JSON, ids, tool-call fragments, token counts,
the protocol-neutral scripts (`HtmlPage`) and faults (`EndlessLine`).

Shared so that one scripted `Reply` yields the same pieces, ids and token counts on every route,
which is what lets tests compare the protocols' results directly.
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from qwen_vl_core.testing._http import Response
from qwen_vl_core.testing._script import EndlessLine, HtmlPage, Reply

__all__ = [
    "Fragment",
    "call_id",
    "dumps",
    "encode",
    "endless_line",
    "fragment_json",
    "html_response",
    "new_request_id",
    "piece_counts",
    "retry_after_value",
    "tool_groups",
]


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
    omit_index: bool = False


def tool_groups(reply: Reply, call_ids: tuple[str, ...]) -> list[list[Fragment]]:
    """Fragments grouped per chunk: call i's last fragment shares a chunk with call i+1's head.

    One chunk carrying the tail of one call and the head of the next is what DashScope does with
    parallel calls (protocol doc §7).
    """
    groups: list[list[Fragment]] = []
    for index, (call, cid) in enumerate(zip(reply.tool_calls, call_ids, strict=True)):
        first, *rest = reply.argument_pieces(call)
        head = Fragment(index, cid, call.name, first, call.omit_index)
        if groups:
            groups[-1].append(head)
        else:
            groups.append([head])
        groups.extend([Fragment(index, "", None, piece, call.omit_index)] for piece in rest)
    return groups


def fragment_json(fragment: Fragment, *, native: bool = False) -> str:
    """A fragment as DashScope writes it, in both protocols (compat drops `index` when the call says so)."""
    function: dict[str, str] = {"arguments": fragment.arguments}
    if fragment.name is not None:
        function = {"name": fragment.name, **function}
    if fragment.omit_index and not native:
        return dumps({"id": fragment.id, "type": "function", "function": function})
    return dumps({"index": fragment.index, "id": fragment.id, "type": "function", "function": function})


def retry_after_value(value: float | str) -> str:
    """A string verbatim; a number as `2` for whole seconds, `1.5` otherwise."""
    if isinstance(value, str) or not math.isfinite(value):
        return str(value)
    return str(int(value)) if value == int(value) else str(value)


def html_response(page: HtmlPage) -> Response:
    """An `HtmlPage` script: the same bytes on every route, streaming or not."""
    return Response(page.status, [("content-type", "text/html; charset=utf-8")], page.body.encode())


def endless_line(prefix: bytes, fault: EndlessLine) -> Iterator[bytes]:
    """`prefix` then filler up to `fault.bytes_total` bytes in `fault.piece_size` pieces, never a line break."""
    remaining = fault.bytes_total
    first = prefix[:remaining]
    yield first
    remaining -= len(first)
    piece = b"x" * fault.piece_size
    while remaining > 0:
        yield piece[:remaining]
        remaining -= fault.piece_size
