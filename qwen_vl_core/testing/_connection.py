"""Writing responses on one connection: framing, pacing, keep-alive and the transport-level faults.

A response with `events` goes out as a chunked body terminated by `0\\r\\n\\r\\n`, after which the
connection stays open for the next request (HTTP/1.1 keep-alive) unless the request asked to close.
Flood mode batches events into writes of up to 64 KiB; paced mode (`Reply.delay`) writes each
event on its own after the delay. Per-event work stays at a few comparisons: a stream can be
100,000 events.
"""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import Iterator
from dataclasses import dataclass

from qwen_vl_core.testing._http import RawRequest, Response, chunk, response_head
from qwen_vl_core.testing._script import Disconnect, NoHeaders, ResetBeforeHeaders, Stall

__all__ = ["Connection", "send"]

_BATCH_BYTES = 64 * 1024


@dataclass
class Connection:
    """One accepted TCP connection."""

    number: int
    """1 for the first connection the emulator accepted, then 2, 3, ..."""
    writer: asyncio.StreamWriter
    opening_delay: float
    """Still to be slept before the first response (`new_connection_delay`); 0 once paid."""


def _reset(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    if sock is not None:  # SO_LINGER 0 turns the close into a TCP RST
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


async def send(conn: Connection, request: RawRequest, response: Response) -> bool:
    """Send one response; False when the connection must be closed afterwards."""
    writer = conn.writer
    if conn.opening_delay:
        await asyncio.sleep(conn.opening_delay)
        conn.opening_delay = 0.0
    fault = response.fault
    if isinstance(fault, NoHeaders):
        await asyncio.sleep(fault.seconds)
    elif isinstance(fault, ResetBeforeHeaders):
        _reset(writer)
        return False
    headers = list(response.headers)
    if not request.keep_alive:
        headers.append(("connection", "close"))
    if response.events is None:
        return await _send_body(writer, response, headers, request.keep_alive)
    writer.write(response_head(response.status, [*headers, ("transfer-encoding", "chunked")]))
    cut = fault.after_chunks if isinstance(fault, Disconnect) else None
    stall = fault if isinstance(fault, Stall) else None
    await _write_events(writer, response.events, response.delay, cut, stall)
    if cut is not None:
        return False  # closing now leaves the chunked body unterminated
    writer.write(chunk(b""))
    await writer.drain()
    return request.keep_alive


async def _send_body(
    writer: asyncio.StreamWriter, response: Response, headers: list[tuple[str, str]], keep_alive: bool
) -> bool:
    if response.delay:
        await asyncio.sleep(response.delay)
    body, fault = response.body, response.fault
    head = response_head(response.status, [*headers, ("content-length", str(len(body)))])
    half = len(body) // 2
    if isinstance(fault, Disconnect):
        writer.write(head + body[:half])
        return False
    if isinstance(fault, Stall):
        writer.write(head + body[:half])
        await writer.drain()
        await asyncio.sleep(fault.seconds)
        body = body[half:]
        head = b""
    writer.write(head + body)
    await writer.drain()
    return keep_alive


async def _write_events(
    writer: asyncio.StreamWriter, events: Iterator[bytes], delay: float, cut: int | None, stall: Stall | None
) -> None:
    """Write SSE events as chunked frames, many per frame unless `delay` paces them one by one."""
    batch: list[bytes] = []
    size = sent = 0
    pause_at = stall.after_chunks if stall is not None else -1
    for event in events:
        if sent == cut:
            break
        if sent == pause_at:
            await _pause(writer, batch, stall)
            size = 0
        if delay:
            await asyncio.sleep(delay)
        batch.append(event)
        size += len(event)
        sent += 1
        if delay or size >= _BATCH_BYTES:
            writer.write(chunk(b"".join(batch)))
            batch.clear()
            size = 0
            await writer.drain()
    if 0 <= sent < pause_at:  # fewer events than after_chunks: stall after the last one
        await _pause(writer, batch, stall)
    if batch:
        writer.write(chunk(b"".join(batch)))


async def _pause(writer: asyncio.StreamWriter, batch: list[bytes], stall: Stall | None) -> None:
    """Flush what is pending, then hold the connection open and silent."""
    assert stall is not None
    if batch:
        writer.write(chunk(b"".join(batch)))
        batch.clear()
    await writer.drain()
    await asyncio.sleep(stall.seconds)
