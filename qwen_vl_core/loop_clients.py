"""Async HTTP clients bound to the event loop that uses them, and closed when that loop ends.

An async client's connections belong to one event loop, and every `asyncio.run()` makes a new
one. `LoopClients` keeps one client per event loop (weakly keyed by the loop). When a client is
first used in a loop it registers a guard there: an async generator started on that loop, which
`asyncio.run` and `asyncio.Runner` close (`shutdown_asyncgens`) before the loop closes, and which
then closes the client on its own loop. So `asyncio.run(model.ainvoke(...))` called again and
again leaves no client of a dead loop behind (the openai SDK's would schedule its own close on
the next loop and print "Task exception was never retrieved ... Event loop is closed").
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncGenerator, Awaitable, Callable
from typing import Generic, TypeVar

__all__ = ["LoopClients"]

C = TypeVar("C")


class LoopClients(Generic[C]):
    """`await get()` gives the running loop's client, built by `make` on first use there."""

    __slots__ = ("_by_loop", "_close", "_make")

    def __init__(self, make: Callable[[], C], close: Callable[[C], Awaitable[object]]) -> None:
        self._make = make
        self._close = close
        # loop -> (client, guard); nothing in the value refers to the loop, so the entry dies with it
        self._by_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, tuple[C, AsyncGenerator[None, None]]]
        self._by_loop = weakref.WeakKeyDictionary()

    async def get(self) -> C:
        loop = asyncio.get_running_loop()
        entry = self._by_loop.get(loop)
        if entry is not None:
            return entry[0]
        client = self._make()
        guard = self._guarded(client)
        await guard.__anext__()  # now registered with this loop: its shutdown_asyncgens closes it
        self._by_loop[loop] = (client, guard)
        return client

    async def _guarded(self, client: C) -> AsyncGenerator[None, None]:
        try:
            yield
        finally:
            entry = self._by_loop.get(asyncio.get_running_loop())
            if entry is not None and entry[0] is client:
                del self._by_loop[asyncio.get_running_loop()]
            await self._close(client)

    async def aclose(self) -> None:
        """Close the running loop's client now (a new one is built on demand)."""
        entry = self._by_loop.get(asyncio.get_running_loop())
        if entry is not None:
            await entry[1].aclose()
