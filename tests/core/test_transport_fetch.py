"""`inline_remote_images`: images are fetched over the transport's pooled client, with its timeouts
and a bounded read, on both protocols, sync and async."""

from __future__ import annotations

import asyncio
import base64
import http.server
import io
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from PIL import Image

from qwen_vl_core import APIConnectionError, ChatRequest, ImagePart, Message, QwenVLClient, TextPart
from qwen_vl_core.testing import DashScopeEmulator, Reply

PROTOCOLS = pytest.mark.parametrize("protocol", ["openai", "dashscope"])


def png(color: tuple[int, int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), color).save(buffer, "PNG")
    return buffer.getvalue()


IMAGES = {"/red.png": png((255, 0, 0)), "/blue.png": png((0, 0, 255))}


class ImageServer:
    """HTTP/1.1 keep-alive image server counting the connections it accepts."""

    def __init__(self) -> None:
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                with server.lock:
                    server.connections += 1

            def do_GET(self) -> None:
                if self.path == "/slow.png":
                    time.sleep(2.0)
                if self.path == "/unsized.png":  # no content-length: the body ends when the connection does
                    self.send_response(200)
                    self.send_header("Connection", "close")
                    self.end_headers()
                    self.wfile.write(b"\x89PNG" + b"x" * 5_000)
                    self.close_connection = True
                    return
                body = IMAGES.get(self.path, IMAGES["/red.png"])
                self.send_response(200)
                self.send_header("Content-Type", "image/png")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.lock = threading.Lock()
        self.connections = 0
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}{path}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def images() -> Iterator[ImageServer]:
    server = ImageServer()
    yield server
    server.close()


@pytest.fixture
def emu() -> Iterator[DashScopeEmulator]:
    with DashScopeEmulator() as emulator:
        yield emulator


def client_for(emu: DashScopeEmulator, protocol: str, **options: Any) -> QwenVLClient:
    url = emu.base_url if protocol == "openai" else emu.native_base_url
    return QwenVLClient(
        protocol=protocol,  # type: ignore[arg-type]
        base_url=url,
        api_key=emu.api_key,
        inline_remote_images=True,
        max_retries=0,
        **options,
    )


def asking(*urls: str) -> ChatRequest:
    parts = (*(ImagePart(u) for u in urls), TextPart("Which colours?"))
    return ChatRequest(model="qwen3-vl-plus", messages=(Message("user", parts),))


def sent_images(emu: DashScopeEmulator, protocol: str) -> list[str]:
    body = emu.last_request.body
    if protocol == "openai":
        return [p["image_url"]["url"] for p in body["messages"][0]["content"] if "image_url" in p]
    return [p["image"] for p in body["input"]["messages"][0]["content"] if "image" in p]


def data_url(data: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(data).decode()


@PROTOCOLS
@pytest.mark.parametrize("mode", ["sync", "async"])
def test_images_are_fetched_over_one_pooled_connection(emu, images, protocol, mode) -> None:
    emu.enqueue(Reply(text="red, blue"), Reply(text="blue"))
    client = client_for(emu, protocol)
    first, second = asking(images.url("/red.png"), images.url("/blue.png")), asking(images.url("/blue.png"))

    async def both() -> list[str]:
        try:
            return [(await client.achat(first)).text, (await client.achat(second)).text]
        finally:
            await client.aclose()

    try:
        texts = [client.chat(first).text, client.chat(second).text] if mode == "sync" else asyncio.run(both())
    finally:
        client.close()
    assert texts == ["red, blue", "blue"]
    assert sent_images(emu, protocol) == [data_url(IMAGES["/blue.png"])]
    assert images.connections == 1  # three images, one connection: the transport's pool, not a client each


@PROTOCOLS
def test_a_fetch_has_the_transport_timeouts(emu, images, protocol) -> None:
    client = client_for(emu, protocol, timeout=0.3)
    start = time.perf_counter()
    try:
        with pytest.raises(APIConnectionError) as info:
            client.chat(asking(images.url("/slow.png")))
    finally:
        client.close()
    assert time.perf_counter() - start < 1.5  # the read timeout of 0.3 s, not 30 s
    assert str(info.value) == f"Could not fetch the image {images.url('/slow.png')!r} to send it inline: timed out"
    assert len(emu.requests) == 0


@PROTOCOLS
@pytest.mark.parametrize("mode", ["sync", "async"])
def test_a_fetch_is_bounded_before_it_is_read(emu, images, protocol, mode) -> None:
    client = client_for(emu, protocol)
    transport = client._get_transport()
    declared, unsized = images.url("/red.png"), images.url("/unsized.png")

    async def fetch(url: str, limit: int) -> bytes:
        try:
            return await transport.afetch(url, limit)
        finally:
            await transport.aclose()

    def run(url: str, limit: int) -> bytes:
        return transport.fetch(url, limit) if mode == "sync" else asyncio.run(fetch(url, limit))

    try:
        with pytest.raises(APIConnectionError) as too_big:
            run(declared, 100)
        with pytest.raises(APIConnectionError) as too_long:
            run(unsized, 1_000)
        assert run(unsized, 10_000) == b"\x89PNG" + b"x" * 5_000
    finally:
        client.close()
    assert str(too_big.value) == f"The image {declared!r} is over 100 bytes; not inlined."
    assert str(too_long.value) == f"The image {unsized!r} is over 1,000 bytes; not inlined."
