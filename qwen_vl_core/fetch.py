"""Downloading a remote image the caller asked to inline (`inline_remote_images`, for servers such as
Ollama that take no image URLs), over the transport's own pooled HTTP client and timeouts.

The read is bounded before it happens: a declared `content-length` over the limit is refused
without reading, and a body without one is read piece by piece and refused once it passes the limit.
"""

from __future__ import annotations

from typing import Any

from .errors import APIConnectionError
from .transport import transport_errors

__all__ = ["FETCH_LIMIT", "afetch_with", "fetch_with", "timeout_tuple"]

FETCH_LIMIT = 20 * 1024 * 1024
"""The largest image downloaded to send inline (the API's own inline limit is 10 MiB encoded)."""


def timeout_tuple(connect: float, read: float | None) -> tuple[float | None, float | None, float | None, float | None]:
    """(connect, read, write, pool) as both httpx and the SDK's fork accept it."""
    return (connect, read, read, read)


def _refuse(url: str, reason: str) -> APIConnectionError:
    return APIConnectionError(f"Could not fetch the image {url!r} to send it inline: {reason}")


def _check_head(response: Any, url: str, limit: int) -> None:
    if response.status_code >= 400:
        raise _refuse(url, f"HTTP {response.status_code}")
    declared = response.headers.get("content-length")
    if declared is not None and declared.isdecimal() and int(declared) > limit:
        raise APIConnectionError(f"The image {url!r} is over {limit:,} bytes; not inlined.")


def _too_big(url: str, limit: int) -> APIConnectionError:
    return APIConnectionError(f"The image {url!r} is over {limit:,} bytes; not inlined.")


def fetch_with(client: Any, url: str, timeout: Any, limit: int = FETCH_LIMIT) -> bytes:
    """GET `url` with `client` (an httpx or httpx2 `Client`), at most `limit` bytes."""
    try:
        with client.stream("GET", url, timeout=timeout, follow_redirects=True) as response:
            _check_head(response, url, limit)
            parts: list[bytes] = []
            size = 0
            for part in response.iter_bytes():
                size += len(part)
                if size > limit:
                    raise _too_big(url, limit)
                parts.append(part)
            return b"".join(parts)
    except transport_errors() as exc:
        raise _refuse(url, str(exc) or type(exc).__name__) from exc


async def afetch_with(client: Any, url: str, timeout: Any, limit: int = FETCH_LIMIT) -> bytes:
    """The async twin of `fetch_with` (an httpx or httpx2 `AsyncClient`)."""
    try:
        async with client.stream("GET", url, timeout=timeout, follow_redirects=True) as response:
            _check_head(response, url, limit)
            parts: list[bytes] = []
            size = 0
            async for part in response.aiter_bytes():
                size += len(part)
                if size > limit:
                    raise _too_big(url, limit)
                parts.append(part)
            return b"".join(parts)
    except transport_errors() as exc:
        raise _refuse(url, str(exc) or type(exc).__name__) from exc
