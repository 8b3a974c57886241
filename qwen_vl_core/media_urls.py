"""The cheap, pure parts of the media handling: URL kinds and `fps` checked when a call is made
(before any I/O), and the remote image URLs a caller asked to inline (fetched by the transport).
"""

from __future__ import annotations

from dataclasses import replace

from .formats import detect_image_mime
from .sources import is_remote
from .types import ChatRequest, ImagePart, Message, Part, VideoPart

__all__ = ["VIDEO_FPS_RANGE", "check_urls", "remote_image_urls", "with_fetched_images"]


def remote_image_urls(request: ChatRequest) -> list[str]:
    """The http(s) image URLs in a request (for callers who asked to inline them)."""
    urls = [
        p.url
        for m in request.messages
        for p in m.content
        if isinstance(p, ImagePart) and p.url is not None and is_remote(p.url)
    ]
    return list(dict.fromkeys(urls))


def with_fetched_images(request: ChatRequest, fetched: dict[str, bytes]) -> ChatRequest:
    """Replace remote image URLs by the bytes fetched for them; `prepare_media` then checks and sizes them."""
    if not fetched:
        return request

    def swap(part: Part) -> Part:
        if isinstance(part, ImagePart) and part.url in fetched:
            data = fetched[part.url]
            return ImagePart(data=data, mime=detect_image_mime(data), max_pixels=part.max_pixels, label=part.url)
        return part

    messages = tuple(replace(m, content=tuple(swap(p) for p in m.content)) for m in request.messages)
    return replace(request, messages=messages)


def _check_url(url: str, where: str) -> None:
    head = url[:12].lower()
    if "://" in url[:16] and not head.startswith(("http://", "https://", "file://")):
        raise ValueError(f"{where}: unsupported URL {url[:80]!r}; use http(s)://, data:, file:// or a path.")


VIDEO_FPS_RANGE = (0.1, 10.0)
"""Frames sampled per second of a video file or frame list, on both protocols (DashScope API reference
help.aliyun.com/zh/model-studio/qwen-api-via-dashscope and the OpenAI-compatible one)."""


def check_urls(messages: tuple[Message, ...]) -> None:
    """The cheap, pure part of the media checks, run when a call is made (before any I/O): every
    image and video is given by a kind of URL this library can send or read, and a video's `fps`
    is in the documented range."""
    low, high = VIDEO_FPS_RANGE
    for m, message in enumerate(messages, 1):
        for p, part in enumerate(message.content, 1):
            if isinstance(part, ImagePart) and part.url is not None:
                _check_url(part.url, f"Image {p} of message {m}")
            elif isinstance(part, VideoPart):
                fps = part.fps
                if fps is not None and (isinstance(fps, bool) or not low <= fps <= high):
                    raise ValueError(
                        f"Video {p} of message {m}: fps={fps!r} is outside the range the API takes ({low:g} to "
                        f"{high:g} frames per second); the server samples 2 per second when fps is not given."
                    )
                if part.url is not None:
                    _check_url(part.url, f"Video {p} of message {m}")
                for k, frame in enumerate(part.frames or (), 1):
                    if isinstance(frame, str):
                        _check_url(frame, f"Video {p} of message {m}, frame {k}")
