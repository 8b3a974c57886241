"""Shared constants and helpers for the LlamaIndex adapter tests: tiny real media (no files in the
repo), and the protocol helpers (they live in `tests/protocol_support.py`, shared with LangChain).

The PNG is 16x16 red: the API (and the core's checks) reject images with a side of 10 px or less.
"""

from __future__ import annotations

import base64

from protocol_support import (  # shared with the LangChain tests
    COMPAT_WIRE,
    NATIVE_WIRE,
    PROTOCOLS,
    assistant_calls,
    endpoint,
    is_native,
    response_id,
    sent_messages,
    sent_params,
    text_message,
    tool_result,
    usage_wire,
    was_streamed,
)

PNG_B64 = "iVBORw0KGgoAAAANSUhEUgAAABAAAAAQCAIAAACQkWg2AAAAFklEQVR42mP4z8BAEmIY1TCqYfhqAACQ+f8B8u7oVwAAAABJRU5ErkJggg=="
PNG = base64.b64decode(PNG_B64)
PNG_URL = f"data:image/png;base64,{PNG_B64}"
MP4 = b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 16

__all__ = [
    "COMPAT_WIRE",
    "MP4",
    "NATIVE_WIRE",
    "PNG",
    "PNG_B64",
    "PNG_URL",
    "PROTOCOLS",
    "assistant_calls",
    "endpoint",
    "is_native",
    "response_id",
    "sent_messages",
    "sent_params",
    "text_message",
    "tool_result",
    "usage_wire",
    "was_streamed",
]
