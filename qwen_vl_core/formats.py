"""File formats from magic bytes, never from names: a lying extension or MIME type is corrected.

Everything here reads at most the first `MAGIC_BYTES` bytes it is given and never raises: any bytes give a
MIME type or None. `describe` names what was found for error messages, which never quote content.
"""

from __future__ import annotations

__all__ = [
    "IMAGE_MIMES",
    "MAGIC_BYTES",
    "VIDEO_MIMES",
    "describe",
    "detect_image_mime",
    "detect_mime",
    "detect_video_mime",
    "format_name",
]

MAGIC_BYTES = 512
"""The most bytes any detector here looks at (an MPEG transport stream needs three 188-byte packets)."""

IMAGE_MIMES = frozenset({"image/bmp", "image/jpeg", "image/png", "image/tiff", "image/webp", "image/heic"})
"""The image formats Model Studio accepts (protocol fact sheet 2.3; https://www.alibabacloud.com/help/en/model-studio/vision)."""

VIDEO_MIMES = frozenset(
    {
        "video/mp4",
        "video/quicktime",
        "video/x-msvideo",
        "video/x-matroska",
        "video/webm",
        "video/x-flv",
        "video/x-ms-wmv",
        "video/mpeg",
        "video/mp2t",
    }
)
"""Video containers recognised here. The vision guide lists "MP4, AVI, MKV, MOV, FLV, WMV, …"
(https://www.alibabacloud.com/help/en/model-studio/vision); WebM is Matroska, MPEG program and
transport streams are the common "…". Other ISO-BMFF brands (3GP, M4V, ...) are sent as MP4."""

_IMAGE_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"II*\x00", "image/tiff"),
    (b"MM\x00*", "image/tiff"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
)
_HEIC_BRANDS = frozenset({b"heic", b"heix", b"hevc", b"hevx", b"heim", b"heis", b"mif1", b"msf1"})
_AVIF_BRANDS = frozenset({b"avif", b"avis"})
_BMP_HEADER_SIZES = frozenset({12, 40, 52, 56, 64, 108, 124})  # BITMAPCOREHEADER ... BITMAPV5HEADER
_QUICKTIME_ATOMS = frozenset({b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot"})
_ASF_GUID = b"\x30\x26\xb2\x75\x8e\x66\xcf\x11\xa6\xd9\x00\xaa\x00\x62\xce\x6c"


def _is_bmp(data: bytes) -> bool:
    # "BM" alone is two ASCII letters (any text starting "BM..."); the info header size pins it down.
    return data[:2] == b"BM" and len(data) >= 18 and int.from_bytes(data[14:18], "little") in _BMP_HEADER_SIZES


def _brands(data: bytes) -> set[bytes]:
    """The major and compatible brands of an ISO-BMFF `ftyp` box (within the first 64 bytes)."""
    end = min(int.from_bytes(data[:4], "big"), len(data), 64)
    return {data[8:12]} | {data[i : i + 4] for i in range(16, end - 3, 4)}


def detect_image_mime(data: bytes) -> str | None:
    """The image MIME type from magic bytes (BMP, JPEG, PNG, TIFF, WEBP, HEIC, GIF), or None."""
    for magic, mime in _IMAGE_MAGIC:
        if data.startswith(magic):
            return mime
    if _is_bmp(data):
        return "image/bmp"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data[4:8] == b"ftyp" and data[8:12] in _HEIC_BRANDS:
        brands = _brands(data)
        if not brands & _AVIF_BRANDS or brands & {b"heic", b"heix"}:  # mif1 is also AVIF's brand
            return "image/heic"
    return None


def detect_video_mime(data: bytes) -> str | None:
    """The video MIME type from magic bytes (MP4/MOV/3GP, AVI, MKV/WebM, FLV, WMV, MPEG-PS/TS), or None."""
    if data[4:8] == b"ftyp":
        if detect_image_mime(data) is not None or _brands(data) & _AVIF_BRANDS:
            return None  # HEIC and AVIF are still images in the same box format
        return "video/quicktime" if data[8:12] == b"qt  " else "video/mp4"
    if data[:1] == b"\x00" and data[4:8] in _QUICKTIME_ATOMS:
        return "video/quicktime"  # an old QuickTime movie without `ftyp` (a small big-endian atom size first)
    if data[:4] == b"RIFF" and data[8:12] == b"AVI ":
        return "video/x-msvideo"
    if data[:4] == b"\x1aE\xdf\xa3":  # EBML; the DocType says which Matroska
        return "video/webm" if b"webm" in data[:64] else "video/x-matroska"
    if data[:4] == b"FLV\x01":
        return "video/x-flv"
    if data[:16] == _ASF_GUID:
        return "video/x-ms-wmv"
    if data[:4] == b"\x00\x00\x01\xba":
        return "video/mpeg"
    if data[0:1] == data[188:189] == data[376:377] == b"G":  # three 188-byte packets' sync bytes
        return "video/mp2t"
    return None


def detect_mime(data: bytes) -> str | None:
    """Image or video MIME type from magic bytes, or None."""
    return detect_image_mime(data) or detect_video_mime(data)


_OTHER_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"%PDF-", "a PDF document"),
    (b"PK\x03\x04", "a ZIP archive (or an Office document)"),
    (b"\x1f\x8b", "gzip-compressed data"),
    (b"7z\xbc\xaf\x27\x1c", "a 7z archive"),
    (b"\x7fELF", "an executable (ELF)"),
    (b"MZ", "an executable (PE)"),
    (b"ID3", "an MP3 audio file"),
    (b"OggS", "an Ogg file"),
    (b"fLaC", "a FLAC audio file"),
)
_NAMES = {
    "image/png": "PNG",
    "image/jpeg": "JPEG",
    "image/bmp": "BMP",
    "image/tiff": "TIFF",
    "image/webp": "WEBP",
    "image/heic": "HEIC",
    "image/gif": "GIF",
    "video/mp4": "MP4",
    "video/quicktime": "QuickTime (MOV)",
    "video/x-msvideo": "AVI",
    "video/x-matroska": "Matroska (MKV)",
    "video/webm": "WebM",
    "video/x-flv": "FLV",
    "video/x-ms-wmv": "WMV (ASF)",
    "video/mpeg": "MPEG program stream",
    "video/mp2t": "MPEG transport stream",
}


def format_name(mime: str) -> str:
    """A format's short name for messages ("PNG", "MP4"); the MIME type itself when unknown here."""
    return _NAMES.get(mime, mime)


def describe(data: bytes) -> str:
    """What these bytes are, for an error message ("a PNG image", "unrecognised data"); never their content."""
    mime = detect_mime(data)
    if mime is not None:
        name = _NAMES[mime]
        return f"{'an' if name.startswith(('MP', 'AVI', 'FLV')) else 'a'} {name} {mime.split('/')[0]}"
    if data[4:8] == b"ftyp" and _brands(data) & _AVIF_BRANDS:
        return "an AVIF image"
    for magic, name in _OTHER_MAGIC:
        if data.startswith(magic):
            return name
    if not data:
        return "empty"
    return "unrecognised data"
