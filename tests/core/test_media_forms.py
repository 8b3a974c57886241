"""The forms the adapters hand to the media stage: paths, `file://` URLs and data URLs with an empty or
wrong MIME type, for images, video files and frames; and the formats told from magic bytes."""

from __future__ import annotations

import base64

import pytest
from media_samples import MP4, PLUS, box, encoded, heic, prepared, request, tiff

from qwen_vl_core import ImagePart, VideoPart
from qwen_vl_core.errors import InvalidMediaError
from qwen_vl_core.formats import describe, detect_image_mime, detect_video_mime
from qwen_vl_core.image_headers import image_size
from qwen_vl_core.media import bytes_to_data_url, estimate_request_tokens
from qwen_vl_core.tokens import estimate_image_tokens

JPEG = encoded(64, 48)
B64 = base64.b64encode(JPEG).decode()


@pytest.mark.parametrize("head", ["data:;base64", "data:image/png;base64", "data:application/octet-stream;base64"])
def test_image_data_url_with_an_empty_or_wrong_mime_is_corrected(head) -> None:
    assert prepared(ImagePart(f"{head},{B64}"))[0] == ImagePart(f"data:image/jpeg;base64,{B64}")


def test_a_right_image_data_url_is_passed_through_as_the_same_string() -> None:
    url = f"data:image/jpeg;base64,{B64}"
    assert prepared(ImagePart(url))[0].url is url


def test_base64_with_line_breaks_or_no_padding_is_re_encoded_cleanly() -> None:
    wrapped = "\n".join(B64[i : i + 76] for i in range(0, len(B64), 76))
    assert prepared(ImagePart(f"data:image/jpeg;base64,{wrapped}"))[0].url == f"data:image/jpeg;base64,{B64}"
    png = base64.b64encode(encoded(64, 48, "PNG")).decode()
    assert png.endswith("=")
    unpadded = prepared(ImagePart(f"data:image/png;base64,{png.rstrip('=')}"))[0]
    assert unpadded.url == f"data:image/png;base64,{png}"


def test_invalid_data_urls_are_library_errors() -> None:
    with pytest.raises(InvalidMediaError) as info:
        prepared(ImagePart("data:image/png," + B64))
    assert str(info.value) == "Image 1 of message 1: a data URL must be base64-encoded (data:<mime>;base64,...)."
    with pytest.raises(InvalidMediaError) as info:
        prepared(ImagePart("data:image/png;base64,QUJDA"))  # one character too many
    assert str(info.value) == (
        "Image 1 of message 1: the base64 data is invalid (its length is not a whole number of bytes)."
    )


@pytest.mark.parametrize("head", ["data:;base64", "data:video/avi;base64", "data:image/png;base64"])
def test_video_data_url_gets_its_type_from_magic_bytes(head) -> None:
    payload = base64.b64encode(MP4 + bytes(4000)).decode()
    assert prepared(VideoPart(url=f"{head},{payload}", fps=2.0))[0] == VideoPart(
        url=f"data:video/mp4;base64,{payload}", fps=2.0
    )


def test_a_right_video_data_url_is_passed_through_as_the_same_string() -> None:
    url = "data:video/mp4;base64," + base64.b64encode(MP4).decode()
    assert prepared(VideoPart(url=url))[0].url is url


def test_a_video_data_url_holding_no_video_is_refused() -> None:
    with pytest.raises(InvalidMediaError) as info:
        prepared(VideoPart(url="data:;base64," + base64.b64encode(b"just some text " * 40).decode()))
    assert str(info.value) == (
        "Video 1 of message 1 is not a supported video: it is unrecognised data. "
        "Send a video: MP4, MOV, AVI, MKV, WebM, FLV or WMV."
    )


def test_frames_as_paths_file_urls_and_data_urls(tmp_path) -> None:
    path = tmp_path / "f.jpg"
    path.write_bytes(JPEG)
    frames = (str(path), f"file://{path}", f"data:;base64,{B64}", "https://x/f.jpg")
    out = prepared(VideoPart(frames=frames, fps=1.0))[0]
    assert out.frames == (
        ImagePart(f"data:image/jpeg;base64,{B64}"),
        ImagePart(f"data:image/jpeg;base64,{B64}"),
        ImagePart(f"data:image/jpeg;base64,{B64}"),
        "https://x/f.jpg",
    )


def test_image_parts_naming_paths(tmp_path) -> None:
    path = tmp_path / "photo.jpeg"
    path.write_bytes(JPEG)
    expected = ImagePart(f"data:image/jpeg;base64,{B64}", max_pixels=9)
    assert prepared(ImagePart(str(path), max_pixels=9))[0] == expected
    assert prepared(ImagePart(f"file://{path}", max_pixels=9))[0] == expected


# -- formats from magic bytes ---------------------------------------------------------------------

VIDEOS = [
    (MP4, "video/mp4", "an MP4 video"),
    (b"\x00\x00\x00\x14ftypqt  \x00\x00\x02\x00qt  ", "video/quicktime", "a QuickTime (MOV) video"),
    (b"\x00\x00\x00\x08wide\x00\x01\x00\x00mdat", "video/quicktime", "a QuickTime (MOV) video"),
    (b"\x00\x00\x00\x14ftyp3gp4\x00\x00\x00\x003gp4", "video/mp4", "an MP4 video"),  # 3GP: the MP4 family
    (b"RIFF\x00\x10\x00\x00AVI LIST", "video/x-msvideo", "an AVI video"),
    (b"\x1aE\xdf\xa3\x9fB\x86\x81\x01B\xf7\x81\x01B\x82\x84webm", "video/webm", "a WebM video"),
    (b"\x1aE\xdf\xa3\xa3B\x86\x81\x01B\x82\x88matroska", "video/x-matroska", "a Matroska (MKV) video"),
    (b"FLV\x01\x05\x00\x00\x00\x09", "video/x-flv", "an FLV video"),
    (bytes.fromhex("3026b2758e66cf11a6d900aa0062ce6c") + bytes(8), "video/x-ms-wmv", "a WMV (ASF) video"),
    (b"\x00\x00\x01\xba\x44\x00\x04", "video/mpeg", "an MPEG program stream video"),
    ((b"G" + bytes(187)) * 3, "video/mp2t", "an MPEG transport stream video"),
]


@pytest.mark.parametrize(("data", "mime", "name"), VIDEOS, ids=[v[1] for v in VIDEOS])
def test_video_formats(data, mime, name) -> None:
    assert (detect_video_mime(data), detect_image_mime(data), describe(data)) == (mime, None, name)
    assert bytes_to_data_url(data, what="video").startswith(f"data:{mime};base64,")


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"%PDF-1.7\n", "a PDF document"),
        (b"PK\x03\x04", "a ZIP archive (or an Office document)"),
        (b"\x00\x00\x00\x1cftypavif\x00\x00\x00\x00avifmif1", "an AVIF image"),
        (b"\x00\x00\x00\x1cftypmif1\x00\x00\x00\x00mif1avif", "an AVIF image"),  # mif1 alone is not HEIC
        (b"BMW: not a bitmap", "unrecognised data"),  # "BM" needs a real info header size
        (b"Grocery list" + bytes(400), "unrecognised data"),
        (b"", "empty"),
    ],
)
def test_what_is_not_media_is_named_not_quoted(data, expected) -> None:
    assert describe(data) == expected
    assert detect_image_mime(data) is None
    assert detect_video_mime(data) is None


def test_heic_size_comes_from_the_largest_ispe_and_is_sent_as_is() -> None:
    photo = heic(4032, 3024)
    assert image_size(photo) == (4032, 3024)  # not the 320x240 thumbnail
    tokens = estimate_image_tokens(4032, 3024)
    assert estimate_request_tokens(request(ImagePart(data=photo)), PLUS) == tokens
    # No decoder for HEIC (pillow-heif is not a dependency): over the budget, the server downscales it
    assert prepared(ImagePart(data=photo))[0].url == "data:image/heic;base64," + base64.b64encode(photo).decode()


def test_heic_over_the_inline_limit_cannot_be_re_encoded_here() -> None:
    photo = heic(4032, 3024, mdat=bytes(8_000_000))
    with pytest.raises(InvalidMediaError) as info:
        prepared(ImagePart(data=photo, label="IMG_1.HEIC"))
    assert str(info.value) == (
        "Image 1 of message 1 (IMG_1.HEIC) is 10,666,800 bytes once base64-encoded, over the API's 10,485,760 per "
        "inline item, and it cannot be re-encoded here without a Pillow plugin for HEIC (pillow-heif). Convert it "
        "to JPEG, or put it at a public http(s) URL."
    )


def test_tiff_size_from_the_header() -> None:
    assert image_size(tiff(1234, 567)) == (1234, 567)
    assert image_size(tiff(1234, 70000, big_endian=True)) == (1234, 70000)
    assert image_size(encoded(123, 45, "TIFF")) == (123, 45)
    assert image_size(b"II*\x00\xff\xff\xff\xff") is None  # IFD offset past the end


def test_a_header_without_a_size_is_a_damaged_file() -> None:
    with pytest.raises(InvalidMediaError) as info:
        prepared(ImagePart(data=b"II*\x00\x08\x00\x00\x00\x00\x00"))  # a TIFF directory with no entries
    assert str(info.value) == (
        "Image 1 of message 1 is a TIFF image whose header gives no size: the file is damaged. Send an intact file."
    )


def test_boxes_with_impossible_sizes_end_the_walk() -> None:
    looping = box(b"ftyp", b"heic\x00\x00\x00\x00mif1heic") + b"\x00\x00\x00\x04meta" * 100  # size < header
    assert image_size(looping) is None
    huge = box(b"ftyp", b"heic\x00\x00\x00\x00mif1heic") + b"\x00\x00\x00\x01mdat" + (2**64 - 1).to_bytes(8, "big")
    assert image_size(huge) is None
