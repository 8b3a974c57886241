"""Bounded reading of media inputs: local files (through the `local_files` gate) and base64.

Every read is bounded before it happens: a file's size comes from `stat` before it is opened (and
only regular files are opened, without blocking on a pipe), a data URL's or base64 string's length
is checked before it is decoded, and decoding goes in 1 MiB slices. Local paths pass the
`local_files` gate first: True (any file), False (none), or a list of directories (only files
whose real path, with symlinks and `..` resolved, is inside one of them). Messages name the input
and never quote its content.
"""

from __future__ import annotations

import binascii
import os
import re
import stat
from collections.abc import Sequence
from typing import TypeAlias
from urllib.parse import unquote, urlsplit

from .errors import InvalidMediaError

__all__ = [
    "MAX_DATA_URL_BYTES",
    "MAX_IMAGE_FILE_BYTES",
    "MAX_VIDEO_FILE_BYTES",
    "LocalFiles",
    "base64_length",
    "check_inline",
    "check_local_files",
    "data_url_payload",
    "decode_base64",
    "decode_prefix",
    "file_label",
    "is_canonical_base64",
    "local_path",
    "looks_base64",
    "read_image_source",
    "read_video_file",
    "refuse_size",
    "source_label",
]

MAX_DATA_URL_BYTES = 10 * 1024 * 1024
"""The server's limit on one data URL's base64 payload (`Exceeded limit on max bytes per data-uri item :
10485760`; https://www.alibabacloud.com/help/en/model-studio/vision, protocol fact sheet 2.3)."""

MAX_VIDEO_FILE_BYTES = MAX_DATA_URL_BYTES // 4 * 3
"""7,864,320: the largest video file whose base64 fits one data URL. A video is never re-encoded
here, so a larger local file could never be sent; it is refused from its size, before reading."""

MAX_IMAGE_FILE_BYTES = 64 * 1024 * 1024
"""The largest image file (or bytes, or decoded data URL) read here. Unlike a video, an image over
the inline limit can still be sent once downscaled, so the bound is generous: a 200 MP phone JPEG
or a 100 MP medium-format JPEG is 30 to 60 MB, an 8K PNG screenshot 20 to 50 MB. A larger file is
refused from its size before it is read (as a data URL: from its length, before decoding)."""

LocalFiles: TypeAlias = bool | Sequence[str | os.PathLike[str]]
"""Which local files parts may name: True (any), False (none), or the directories allowed."""

_BINARY_FLAGS = os.O_RDONLY | getattr(os, "O_BINARY", 0) | getattr(os, "O_NONBLOCK", 0)  # a FIFO never blocks open


def base64_length(size: int) -> int:
    """Characters of base64 for `size` bytes."""
    return (size + 2) // 3 * 4


def check_inline(encoded_len: int, what: str) -> None:
    if encoded_len > MAX_DATA_URL_BYTES:
        raise InvalidMediaError(
            f"{what} is {encoded_len:,} bytes once base64-encoded; the API accepts at most {MAX_DATA_URL_BYTES:,} "
            "per inline item. Send a smaller file, or put it at a public http(s) URL."
        )


def check_local_files(local_files: LocalFiles) -> bool | tuple[str, ...]:
    """The setting checked: True, False, or the allowed directories' real paths."""
    if isinstance(local_files, bool):
        return local_files
    if isinstance(local_files, str | bytes | os.PathLike) or not isinstance(local_files, Sequence):
        raise TypeError(
            "local_files takes True (any local file), False (none) or a list of allowed directories, "
            f"got {type(local_files).__name__}; wrap a single directory in a list."
        )
    roots = tuple(os.fspath(d) for d in local_files)
    if not all(isinstance(root, str) for root in roots):
        raise TypeError("local_files directories must be str or os.PathLike[str] paths, not bytes.")
    return tuple(os.path.realpath(root) for root in roots)


def _label(path: str) -> str:
    name = os.path.basename(path.rstrip("/\\")) or path
    return name if len(name) <= 80 else name[:77] + "..."


def local_path(source: str | os.PathLike[str], where: str) -> str | None:
    """The path a source names (a path or `file://` URL); None for a URL of another scheme."""
    if isinstance(source, os.PathLike):
        return os.fspath(source)
    if source.startswith("file://"):
        parts = urlsplit(source)
        if parts.netloc not in ("", "localhost"):
            raise InvalidMediaError(
                f"{where} is a file:// URL naming another host; only local files (file:///path) can be read."
            )
        return unquote(parts.path)
    if "://" in source or source.startswith("data:"):
        return None
    return source


def _gate(path: str, local_files: bool | tuple[str, ...], where: str) -> str:
    """The path to open once `local_files` allows it; InvalidMediaError when it does not."""
    if local_files is True:
        return path
    if local_files is False:
        raise InvalidMediaError(
            f"{where} is a local file, and reading local files is turned off (local_files=False). Send the "
            "content as bytes, a data URL or an http(s) URL, or allow its directory with local_files=[...]."
        )
    try:
        real = os.path.realpath(path)
    except (OSError, ValueError) as exc:
        raise InvalidMediaError(f"{where} is not a usable file path ({type(exc).__name__}).") from None
    for root in local_files:  # commonpath, not startswith: /data2 is not inside /data
        try:
            if os.path.commonpath([real, root]) == root:
                return real
        except ValueError:  # another drive, or a relative root
            continue
    raise InvalidMediaError(
        f"{where} is a local file outside the directories local_files allows (its real path, with symlinks "
        "and '..' resolved, is checked). Move it into an allowed directory, or send the content inline."
    )


def _read_file(path: str, limit: int, where: str, kind: str, *, follow: bool) -> bytes:
    """Read at most `limit` bytes of a regular file, refusing a larger one from its size before reading."""
    flags = _BINARY_FLAGS | (0 if follow else getattr(os, "O_NOFOLLOW", 0))
    try:
        info = os.stat(path)
        _check_file(info, limit, where, kind)
        with os.fdopen(os.open(path, flags), "rb") as file:
            info = os.fstat(file.fileno())  # the file opened is the one checked (not swapped for a pipe)
            _check_file(info, limit, where, kind)
            chunks, total, want = [], 0, min(info.st_size, limit) + 1
            while total <= limit:  # /proc files report size 0: read in steps, never past the limit
                chunk = file.read(min(want, limit + 1 - total))
                if not chunk:
                    break
                chunks.append(chunk)
                total, want = total + len(chunk), 1 << 16
    except InvalidMediaError:
        raise
    except FileNotFoundError:
        raise InvalidMediaError(f"{where} does not exist (or is not a file).") from None
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise InvalidMediaError(f"{where}: the file cannot be read ({reason}).") from None
    except ValueError:  # a NUL in the path
        raise InvalidMediaError(f"{where} is not a usable file path (it contains a NUL character).") from None
    if total > limit:  # it reported a smaller size (a /proc file), or grew after the check
        refuse_size(None, limit, where, kind)
    return b"".join(chunks)


def _check_file(info: os.stat_result, limit: int, where: str, kind: str) -> None:
    if not stat.S_ISREG(info.st_mode):
        raise InvalidMediaError(
            f"{where} is not a regular file (a directory, device, socket or pipe). Give the path of {kind} file."
        )
    if info.st_size > limit:
        refuse_size(info.st_size, limit, where, kind)


def refuse_size(size: int | None, limit: int, where: str, kind: str) -> None:
    """InvalidMediaError for a file, bytes or data over `limit` (`kind`: "a video" or "an image");
    `size` None when only "more than the limit" is known (a file that reported a smaller size)."""
    amount = f"{size:,} bytes" if size is not None else f"more than {limit:,} bytes"
    if kind == "a video":
        raise InvalidMediaError(
            f"{where} is {amount}; an inline video can be at most {limit:,} bytes ({MAX_DATA_URL_BYTES:,} "
            "once base64-encoded). Put the video at a public http(s) URL (up to 2 GB), or send sampled frames "
            "as a frame list."
        )
    raise InvalidMediaError(
        f"{where} is {amount}; images are read up to {limit:,} bytes (they are downscaled before sending). "
        "Resize or recompress it first, or put it at a public http(s) URL."
    )


def read_video_file(source: str | os.PathLike[str], local_files: bool | tuple[str, ...], where: str) -> bytes:
    """A local video file's bytes (through the gate, at most `MAX_VIDEO_FILE_BYTES`)."""
    path = local_path(source, where)
    if path is None:
        raise InvalidMediaError(f"{where} has an unsupported URL scheme: use http(s)://, data:, file:// or a path.")
    opened = _gate(path, local_files, where)
    return _read_file(opened, MAX_VIDEO_FILE_BYTES, where, "a video", follow=local_files is True)


_BASE64 = re.compile(r"\s*[A-Za-z0-9+/]{64,}={0,2}\s*")
_CANONICAL = re.compile(r"[A-Za-z0-9+/]*={0,2}")
_NOT_BASE64 = re.compile(r"[^A-Za-z0-9+/]+")
_STEP = 1 << 20  # characters decoded at a time (a multiple of 4)


def looks_base64(text: str) -> bool:
    """A bare base64 string (no data: prefix), as LangChain's base64 blocks and many APIs hand around."""
    return _BASE64.fullmatch(text) is not None  # the whole string (no copy): a long path is not base64


def decode_base64(text: str, start: int, where: str) -> bytes:
    """Decode `text[start:]` in 1 MiB slices (no copy of the whole text); whitespace is skipped."""
    try:
        if is_canonical_base64(text, start):  # the common case: no whitespace, padded
            return b"".join(binascii.a2b_base64(text[i : i + _STEP]) for i in range(start, len(text), _STEP))
        parts: list[bytes] = []
        carry = ""
        for i in range(start, len(text), _STEP):
            chunk = carry + _NOT_BASE64.sub("", text[i : i + _STEP])  # '=' goes too: padding is re-added below
            cut = len(chunk) - len(chunk) % 4
            parts.append(binascii.a2b_base64(chunk[:cut]))
            carry = chunk[cut:]
        if len(carry) == 1:
            raise binascii.Error("one character left over")
        if carry:
            parts.append(binascii.a2b_base64(carry + "=" * (4 - len(carry))))
    except binascii.Error:
        raise InvalidMediaError(
            f"{where}: the base64 data is invalid (its length is not a whole number of bytes)."
        ) from None
    return b"".join(parts)


def decode_prefix(text: str, start: int, size: int, where: str) -> bytes:
    """About the first `size` bytes of the base64 in `text[start:]`, decoding only a short slice."""
    piece = text[start : start + base64_length(size) + 64]
    if start + len(piece) >= len(text):
        return decode_base64(text, start, where)  # short enough to decode whole
    clean = _NOT_BASE64.sub("", piece)
    return binascii.a2b_base64(clean[: len(clean) - len(clean) % 4])


def data_url_payload(url: str, where: str) -> tuple[int, str | None]:
    """Where a data URL's base64 payload starts, and its declared MIME type (None when empty)."""
    comma = url.find(",", 0, 256)  # a data URL's head is short; never scan (or copy) a whole payload for it
    head = url[5:comma] if comma >= 0 else ""
    if comma < 0 or ";base64" not in head:
        raise InvalidMediaError(f"{where}: a data URL must be base64-encoded (data:<mime>;base64,...).")
    return comma + 1, head.split(";", 1)[0] or None


def is_canonical_base64(text: str, start: int) -> bool:
    return (len(text) - start) % 4 == 0 and _CANONICAL.fullmatch(text, start) is not None


def _decode_bounded(text: str, start: int, where: str, what: str) -> bytes:
    limit = base64_length(MAX_IMAGE_FILE_BYTES)
    if len(text) - start > limit:
        raise InvalidMediaError(
            f"{where} is {what} of {len(text) - start:,} characters; images are read up to {limit:,} "
            f"({MAX_IMAGE_FILE_BYTES:,} bytes decoded). Send a smaller image, or put it at a public http(s) URL."
        )
    return decode_base64(text, start, where)


def read_image_source(
    source: str | os.PathLike[str], local_files: bool | tuple[str, ...], where: str
) -> tuple[bytes, str]:
    """The bytes of an image given as data URL, bare base64, path or `file://` URL, and a label for messages.

    A string that looks like base64 is decoded as such, unless local files are allowed and it also
    names an existing file; with local files off or limited, it is never looked up on disk.
    """
    if isinstance(source, str) and source.startswith("data:"):
        start, _ = data_url_payload(source, where)
        return _decode_bounded(source, start, where, "a data URL"), "data URL"
    bare = isinstance(source, str) and not source.startswith("file://") and looks_base64(source)
    if bare and (local_files is not True or not os.path.exists(source)):
        return _decode_bounded(str(source), 0, where, "a base64 string"), "base64"
    path = local_path(source, where)
    if path is None:
        raise InvalidMediaError(f"{where} has an unsupported URL scheme: use http(s)://, data:, file:// or a path.")
    data = _read_file(
        _gate(path, local_files, where), MAX_IMAGE_FILE_BYTES, where, "an image", follow=local_files is True
    )
    return data, file_label(source)


def file_label(source: str | os.PathLike[str]) -> str:
    path = os.fspath(source)
    return _label(unquote(urlsplit(path).path) if path.startswith("file://") else path)


def source_label(url: str) -> str | None:
    """A short name for a part's URL in messages: the file name of a path or `file://` URL, "base64"
    for a bare base64 string, None for http(s) and data URLs."""
    if url.startswith(("http://", "https://", "data:")):
        return None
    return "base64" if looks_base64(url) else file_label(url)
