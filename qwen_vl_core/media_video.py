"""Videos in the check-and-size stage: frame counts, and a video file read (bounded), its size and
format checked by magic bytes before it is base64-encoded to go inline."""

from __future__ import annotations

import base64
from dataclasses import replace

from .errors import InvalidMediaError
from .formats import MAGIC_BYTES, describe, detect_image_mime, detect_video_mime
from .reading import (
    MAX_DATA_URL_BYTES,
    MAX_VIDEO_FILE_BYTES,
    data_url_payload,
    decode_prefix,
    read_video_file,
    refuse_size,
)
from .sources import is_remote
from .tokens import VIDEO_MAX_FRAMES, VIDEO_MIN_FRAMES
from .types import VideoPart

__all__ = ["VIDEOS", "prepare_video"]

VIDEOS = "MP4, MOV, AVI, MKV, WebM, FLV or WMV"


def _check_video_data(data: bytes, where: str) -> str:
    mime = detect_video_mime(data)
    if mime is None:
        fix = "Send it as an image part, or send a video" if detect_image_mime(data) else "Send a video"
        raise InvalidMediaError(f"{where} is not a supported video: it is {describe(data)}. {fix}: {VIDEOS}.")
    return mime


def prepare_video(part: VideoPart, where: str, local_files: bool | tuple[str, ...]) -> VideoPart:
    """A video ready to send: frame count, or the file read (bounded), its size and format checked."""
    if part.frames is not None:
        count = len(part.frames)
        if not VIDEO_MIN_FRAMES <= count <= VIDEO_MAX_FRAMES:
            fix = "Add frames, or send them as separate images." if count < VIDEO_MIN_FRAMES else "Sample fewer."
            raise InvalidMediaError(
                f"{where} has {count} frames; a frame list must have {VIDEO_MIN_FRAMES} to {VIDEO_MAX_FRAMES}. {fix}"
            )
        return part
    url = part.url
    if url is not None and is_remote(url):
        return part  # the server fetches it (up to 2 GB)
    if url is not None and url.startswith("data:"):
        start, declared = data_url_payload(url, where)
        if len(url) - start > MAX_DATA_URL_BYTES:
            raise InvalidMediaError(
                f"{where} is {len(url) - start:,} bytes once base64-encoded; inline videos are limited to "
                f"{MAX_DATA_URL_BYTES:,}. Put the video at a public http(s) URL (up to 2 GB), or send sampled "
                "frames as a frame list."
            )
        mime = _check_video_data(decode_prefix(url, start, MAGIC_BYTES, where), where)
        return part if declared == mime else replace(part, url=f"data:{mime};base64,{url[start:]}")
    data = part.data if part.data is not None else read_video_file(url or "", local_files, where)
    if len(data) > MAX_VIDEO_FILE_BYTES:  # checked before base64-encoding it
        refuse_size(len(data), MAX_VIDEO_FILE_BYTES, where, "a video")
    mime = _check_video_data(data, where)
    return VideoPart(url=f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}", fps=part.fps)
