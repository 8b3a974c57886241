"""What both framework adapters do the same way, so they cannot drift: the client cache and the
checks an adapter runs at construction.

An adapter keeps one `ClientCache`; `cache.client_for(options)` returns the client built for
exactly these `ClientOptions`, and the cache to keep (a copy of the adapter whose connection
settings differ gets a cache of its own, so the copies never close each other's pools).
`check_settings` raises at construction the same `ValueError` the first call would.
"""

from __future__ import annotations

import threading
from typing import Any

from .catalog import ModelSpec
from .client import QwenVLClient
from .policies import check_preserve_thinking, check_thinking
from .settings import ClientOptions, RequestSettings

__all__ = ["ClientCache", "check_settings"]

_LOCK = threading.Lock()


class ClientCache:
    """The lazily built client and the options it was built with.

    Shared by shallow copies of an adapter (LangChain's `bind`, `model_copy`), so they reuse one
    connection pool; a deep copy starts empty, since HTTP clients cannot be deep-copied.
    """

    __slots__ = ("client", "options")

    def __init__(self) -> None:
        self.client: QwenVLClient | None = None
        self.options: ClientOptions | None = None

    def client_for(self, options: ClientOptions) -> tuple[QwenVLClient, ClientCache]:
        """The client for `options`, and the cache the owner keeps from now on."""
        with _LOCK:  # threads making their first call together build one client
            if self.client is not None and self.options == options:
                return self.client, self
            cache = self if self.client is None else ClientCache()
            cache.client = QwenVLClient(options)
            cache.options = options
            return cache.client, cache

    def close(self) -> None:
        """Close the sync connection pool (the owner stays usable; a new pool opens on demand)."""
        if self.client is not None:
            self.client.close()

    async def aclose(self) -> None:
        """Close the async connection pool; call it before the event loop that used it ends."""
        if self.client is not None:
            await self.client.aclose()

    def __deepcopy__(self, memo: dict[int, Any]) -> ClientCache:
        return ClientCache()


def check_settings(settings: RequestSettings) -> ModelSpec:
    """The construction-time checks the first call would make (an unknown name warns, once)."""
    spec = settings.spec()
    check_thinking(spec, settings.enable_thinking, settings.thinking_budget)
    check_preserve_thinking(spec, settings.preserve_thinking)
    return spec
