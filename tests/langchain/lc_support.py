"""The protocol helpers for the LangChain adapter tests (they live in `tests/protocol_support.py`)."""

from __future__ import annotations

from protocol_support import (  # shared with the LlamaIndex tests
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

__all__ = [
    "COMPAT_WIRE",
    "NATIVE_WIRE",
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
