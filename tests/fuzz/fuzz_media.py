"""Coverage-guided fuzzing of the media input side with atheris. Run by hand; pytest never collects it.

    .venv/bin/pip install atheris     # optional, not a test dependency
    mkdir -p /tmp/qwen-media-corpus
    .venv/bin/python tests/fuzz/fuzz_media.py -max_total_time=300 -rss_limit_mb=1024 /tmp/qwen-media-corpus

libFuzzer writes new inputs into the FIRST directory given (a scratch directory); a crash is saved
as `./crash-<sha1>` and replayed by passing the file. Seed the corpus with a few small real images
(any PNG, JPEG, BMP, GIF, TIFF, WEBP, HEIC or MP4 files) to start from valid structure.

Each input is a file's bytes. The header readers (`detect_image_mime`, `detect_video_mime`,
`describe`, `image_size`, `image_problem`) must answer without raising; `prepare_media` on it as
image bytes, as a data URL with no MIME type and as a video must prepare it or raise
`InvalidMediaError`; `fit_image` forced to decode it must return an image or None, or raise
`InvalidMediaError`. Any other exception, or a Pillow warning (turned into errors here), is a
crash; `-rss_limit_mb` catches a decode that escapes the pixel limit.
"""

from __future__ import annotations

import base64
import contextlib
import sys
import warnings

import atheris

with atheris.instrument_imports():
    from qwen_vl_core import ChatRequest, ImagePart, Message, TextPart, VideoPart, get_spec
    from qwen_vl_core.errors import InvalidMediaError
    from qwen_vl_core.formats import describe, detect_image_mime, detect_video_mime
    from qwen_vl_core.image_headers import image_problem, image_size
    from qwen_vl_core.imaging import fit_image
    from qwen_vl_core.media import prepare_media
    from qwen_vl_core.tokens import ImageBudget

SPEC = get_spec("qwen3-vl-plus")
TINY = ImageBudget(32, 1024, 4096)


def prepare(part: ImagePart | VideoPart) -> None:
    request = ChatRequest(model=SPEC.name, messages=(Message("user", (part, TextPart("?"))),))
    with contextlib.suppress(InvalidMediaError):
        prepare_media(request, SPEC)


def test_one_input(data: bytes) -> None:
    mime = detect_image_mime(data)
    detect_video_mime(data)
    describe(data)
    image_size(data)
    if mime is not None:
        image_problem(data, mime)
        with contextlib.suppress(InvalidMediaError):
            fit_image(data, mime, TINY, force_encode=True)
    prepare(ImagePart(data=data))
    prepare(ImagePart("data:;base64," + base64.b64encode(data).decode()))
    prepare(VideoPart(data=data))


def main() -> None:
    warnings.simplefilter("error")
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
