"""The `local_files` gate of the media stage: every path and `file://` URL in a part (image, video file,
video frame) is read only when the setting allows it; with a directory list, only files whose real
path is inside one of the directories (symlinks and `..` resolved)."""

from __future__ import annotations

import base64
import os

import pytest
from media_samples import MP4, PLUS, encoded, prepared, request

from qwen_vl_core import ImagePart, QwenVLClient, VideoPart
from qwen_vl_core.errors import InvalidMediaError
from qwen_vl_core.media import estimate_request_tokens, prepare_media

OFF = (
    "is a local file, and reading local files is turned off (local_files=False). Send the content as bytes, "
    "a data URL or an http(s) URL, or allow its directory with local_files=[...]."
)
OUTSIDE = (
    "is a local file outside the directories local_files allows (its real path, with symlinks and '..' "
    "resolved, is checked). Move it into an allowed directory, or send the content inline."
)
PNG = encoded(64, 48, "PNG")


@pytest.fixture
def tree(tmp_path):
    """allowed/ (a.png, clip.mp4, escape.png → ../secret.png), allowed2/b.png, secret.png, alias → allowed."""
    allowed, sibling = tmp_path / "allowed", tmp_path / "allowed2"
    allowed.mkdir()
    sibling.mkdir()
    (allowed / "a.png").write_bytes(PNG)
    (allowed / "clip.mp4").write_bytes(MP4)
    (sibling / "b.png").write_bytes(PNG)
    (tmp_path / "secret.png").write_bytes(PNG)
    (allowed / "escape.png").symlink_to(tmp_path / "secret.png")
    (tmp_path / "alias").symlink_to(allowed)
    return tmp_path


def refusal(part, **kw) -> str:
    with pytest.raises(InvalidMediaError) as info:
        prepared(part, **kw)
    return str(info.value)


def sent_png(part) -> bytes:
    return base64.b64decode(part.url.partition(",")[2])


def test_default_reads_any_local_file(tree) -> None:
    assert sent_png(prepared(ImagePart(str(tree / "secret.png")))[0]) == PNG
    assert sent_png(prepared(ImagePart(f"file://{tree}/allowed/escape.png"))[0]) == PNG  # symlinks followed


@pytest.mark.parametrize(
    ("part", "where"),
    [
        (ImagePart("/etc/passwd"), "Image 1 of message 1 (passwd)"),
        (ImagePart("file:///etc/passwd"), "Image 1 of message 1 (passwd)"),
        (ImagePart("relative/name.png"), "Image 1 of message 1 (name.png)"),
        (ImagePart("/no/such/file.png"), "Image 1 of message 1 (file.png)"),  # not even looked up
        (VideoPart(url="/etc/passwd"), "Video 1 of message 1 (passwd)"),
        (VideoPart(url="file:///etc/passwd"), "Video 1 of message 1 (passwd)"),
        (VideoPart(frames=("/a.png", "/b.png", "/c.png", "/d.png")), "Video 1 of message 1, frame 1 (a.png)"),
        (VideoPart(frames=(ImagePart("file:///a.png"),) * 4), "Video 1 of message 1, frame 1 (a.png)"),
    ],
    ids=["path", "file-url", "relative", "missing", "video-path", "video-url", "frame-path", "frame-part"],
)
def test_off_refuses_every_local_reference(part, where) -> None:
    assert refusal(part, local_files=False) == f"{where} {OFF}"


def test_off_still_takes_inline_and_remote_content() -> None:
    b64 = base64.b64encode(PNG).decode()
    out = prepared(
        ImagePart(f"data:image/png;base64,{b64}"),
        ImagePart("https://x/a.png"),
        ImagePart(b64),  # a bare base64 string is decoded, never looked up as a path
        VideoPart(url="https://x/v.mp4"),
        local_files=False,
    )
    assert out[0].url == f"data:image/png;base64,{b64}"
    assert out[1] == ImagePart("https://x/a.png")
    assert out[2].url == f"data:image/png;base64,{b64}"
    assert out[3] == VideoPart(url="https://x/v.mp4")


def test_directory_list_allows_files_inside(tree) -> None:
    allowed = [tree / "allowed"]
    out = prepared(
        ImagePart(str(tree / "allowed" / "a.png")),
        ImagePart(f"file://{tree}/allowed/a.png"),
        ImagePart(str(tree / "alias" / "a.png")),  # a symlinked parent resolving inside
        VideoPart(url=str(tree / "allowed" / "clip.mp4")),
        VideoPart(frames=(str(tree / "allowed" / "a.png"),) * 4),
        local_files=allowed,
    )
    assert [sent_png(p) for p in out[:3]] == [PNG] * 3
    assert out[3].url == "data:video/mp4;base64," + base64.b64encode(MP4).decode()
    assert [sent_png(f) for f in out[4].frames] == [PNG] * 4
    # the allowed directory itself may be given through a symlink (as /tmp is on macOS)
    assert sent_png(prepared(ImagePart(str(tree / "allowed" / "a.png")), local_files=[tree / "alias"])[0]) == PNG


@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("allowed/../secret.png", "secret.png"),
        ("allowed/escape.png", "escape.png"),  # a symlink inside pointing outside
        ("allowed2/b.png", "b.png"),  # a sibling sharing the prefix: /x/allowed2 is not inside /x/allowed
        ("secret.png", "secret.png"),
    ],
    ids=["dotdot", "symlink-out", "prefix-sibling", "outside"],
)
def test_directory_list_refuses_files_outside(tree, path, name) -> None:
    allowed = [str(tree / "allowed")]
    for part in (ImagePart(f"{tree}/{path}"), ImagePart(f"file://{tree}/{path}")):
        assert refusal(part, local_files=allowed) == f"Image 1 of message 1 ({name}) {OUTSIDE}"
    assert refusal(VideoPart(url=f"{tree}/{path}"), local_files=allowed) == f"Video 1 of message 1 ({name}) {OUTSIDE}"
    frames = VideoPart(frames=(f"{tree}/{path}",) * 4)
    assert refusal(frames, local_files=allowed) == f"Video 1 of message 1, frame 1 ({name}) {OUTSIDE}"


def test_relative_paths_resolve_from_the_working_directory(tree, monkeypatch) -> None:
    monkeypatch.chdir(tree / "allowed")
    assert sent_png(prepared(ImagePart("a.png"), local_files=["."])[0]) == PNG
    assert refusal(ImagePart("../secret.png"), local_files=["."]) == f"Image 1 of message 1 (secret.png) {OUTSIDE}"


def test_an_empty_list_allows_nothing(tree) -> None:
    part = ImagePart(str(tree / "allowed" / "a.png"))
    assert refusal(part, local_files=[]) == f"Image 1 of message 1 (a.png) {OUTSIDE}"


def test_file_urls_naming_a_host_are_refused(tree) -> None:
    assert refusal(ImagePart("file://server/share/a.png")) == (
        "Image 1 of message 1 (a.png) is a file:// URL naming another host; only local files (file:///path) "
        "can be read."
    )
    assert sent_png(prepared(ImagePart(f"file://localhost{tree}/secret.png"))[0]) == PNG


def test_odd_paths_are_library_errors(tree) -> None:
    assert refusal(ImagePart("/tmp/a\x00b.png")) == (
        "Image 1 of message 1 (a\x00b.png) is not a usable file path (it contains a NUL character)."
    )
    assert refusal(ImagePart("/tmp/a%00b.png".replace("/tmp", "file:///tmp"))) == (
        "Image 1 of message 1 (a\x00b.png) is not a usable file path (it contains a NUL character)."
    )
    assert refusal(ImagePart("x" * 5000 + ".png")).endswith("the file cannot be read (File name too long).")
    assert refusal(ImagePart("ftp://host/a.png")) == (
        "Image 1 of message 1 (a.png) has an unsupported URL scheme: use http(s)://, data:, file:// or a path."
    )


def test_the_setting_is_checked() -> None:
    for bad in ("/data", b"/data", 1.5, None):
        with pytest.raises(TypeError, match=r"^local_files takes True \(any local file\), False \(none\) or a list"):
            prepare_media(request(), PLUS, local_files=bad)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"^local_files directories must be str or os\.PathLike"):
        prepare_media(request(ImagePart("https://x/a.png")), PLUS, local_files=[b"/data"])  # type: ignore[list-item]


def test_estimate_goes_through_the_same_gate(tree) -> None:
    part = ImagePart(str(tree / "allowed" / "a.png"))
    assert estimate_request_tokens(request(part), PLUS) == 6  # 64x48: the 4-token minimum + 2; "?" is 0
    assert estimate_request_tokens(request(part), PLUS, local_files=[tree / "allowed"]) == 6
    with pytest.raises(InvalidMediaError) as info:
        estimate_request_tokens(request(part), PLUS, local_files=False)
    assert str(info.value) == f"Image 1 of message 1 (a.png) {OFF}"


def test_direct_source_calls_read_the_file_the_caller_named(tree) -> None:
    """`image(path)` / `video(path)` are the caller's own request: no gate, but the same bounds."""
    from qwen_vl_core.media import image, video

    assert image(str(tree / "secret.png")).data == PNG
    assert video(str(tree / "allowed" / "clip.mp4")).data == MP4
    with pytest.raises(InvalidMediaError) as info:
        image(f"file://{tree}/missing.png")
    assert str(info.value) == f"The image file '{tree}/missing.png' does not exist (or is not a file)."


def test_client_default_reads_local_files(dashscope_emulator, tree) -> None:
    """What the client does until the lead wires `local_files` into it: the default, True."""
    from qwen_vl_core.testing import Reply

    dashscope_emulator.enqueue(Reply(text="ok"))
    client = QwenVLClient(base_url=dashscope_emulator.base_url, api_key=dashscope_emulator.api_key, max_retries=0)
    try:
        assert client.chat(request(ImagePart(f"file://{tree}/secret.png"))).text == "ok"
    finally:
        client.close()
    content = dashscope_emulator.last_request.body["messages"][0]["content"]
    assert content[0]["image_url"]["url"] == "data:image/png;base64," + base64.b64encode(PNG).decode()
    assert os.path.exists(tree / "secret.png")


def test_direct_source_calls_refuse_other_types() -> None:
    from qwen_vl_core.media import image, video

    with pytest.raises(TypeError) as info:
        image(42)
    assert str(info.value) == (
        "image() takes a URL, data URL, path, file:// URL, bytes, base64 string or PIL image; got int"
    )
    with pytest.raises(TypeError) as info:
        video(3.5)
    assert str(info.value) == "video() takes a URL, data URL, path, file:// URL, bytes or a list of frames; got float"
