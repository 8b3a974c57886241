"""`qwen-vl ground` and `qwen-vl ask --draw`, end to end against the emulator."""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import pytest
from PIL import Image

from qwen_vl_core import UnknownModelWarning
from qwen_vl_core.cli import main
from qwen_vl_core.grounding import PALETTE, grounding_prompt
from qwen_vl_core.testing import DashScopeEmulator, Reply

ANSWER = (
    "```json\n["
    '{"bbox_2d": [100, 200, 500, 900], "label": "cat"},'
    '{"bbox_2d": [600, 100, 900, 1020], "label": "dog", "color": "brown"},'
    '{"point_2d": [800, 800], "label": "cat"},'
    '{"bbox_2d": [1, 2, 3]}'
    "]\n```"
)
DECOY = 'Maybe {"bbox_2d": [0, 0, 1000, 1000], "label": "everything"} ... no.'
TABLE = """\
#  kind   label  x1   y1   x2   y2   notes
1  box    cat    100  140  502  631
2  box    dog    602  70   903  701  color="brown", clamped
3  point  cat    802  561
problem: item 4 has a "bbox_2d" that is not 4 numbers [x1, y1, x2, y2]: {"bbox_2d": [1, 2, 3]}
"""


@pytest.fixture
def shot(tmp_path: Path) -> Path:
    path = tmp_path / "shot.png"
    Image.new("RGB", (1003, 701), (240, 240, 240)).save(path)
    return path


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def connection(emu: DashScopeEmulator) -> tuple[str, ...]:
    return ("--base-url", emu.base_url, "--api-key", str(emu.api_key))


def test_ground_prints_the_table_and_draws(dashscope_emulator: DashScopeEmulator, shot: Path, tmp_path: Path) -> None:
    dashscope_emulator.enqueue(Reply(reasoning=DECOY, text=ANSWER))
    target = tmp_path / "annotated.png"
    code, out, err = run(
        "ground", str(shot), "every cat", "--thinking", "--out", str(target), *connection(dashscope_emulator)
    )
    assert (code, err) == (0, "")
    assert out == (
        "2 box(es), 1 point(s) in pixels of shot.png (1003x701; the model saw 992x704, relative coordinates)\n"
        + TABLE
        + f"wrote {target}\n"
    )
    content = dashscope_emulator.last_request.body["messages"][0]["content"]
    assert content[0]["type"] == "image_url"
    assert content[0]["image_url"]["url"].startswith("data:image/png;base64,")
    assert content[1] == {"type": "text", "text": grounding_prompt("every cat")}
    with Image.open(target) as drawn:
        assert drawn.getpixel((100, 385)) == PALETTE[0]
        assert drawn.getpixel((602, 385)) == PALETTE[1]


def test_ground_with_points_as_is_and_no_picture(dashscope_emulator: DashScopeEmulator, shot: Path) -> None:
    dashscope_emulator.enqueue(Reply(text='[{"point_2d": [500, 500], "label": "handle"}]'))
    code, out, _ = run("ground", str(shot), "Point at the handle, as JSON.", "--as-is", *connection(dashscope_emulator))
    assert code == 0
    assert out == (
        "0 box(es), 1 point(s) in pixels of shot.png (1003x701; the model saw 992x704, relative coordinates)\n"
        "#  kind   label   x1   y1   x2  y2  notes\n"
        "1  point  handle  502  350\n"
    )
    assert dashscope_emulator.last_request.body["messages"][0]["content"][1]["text"] == "Point at the handle, as JSON."


def test_ground_with_nothing_found(dashscope_emulator: DashScopeEmulator, shot: Path, tmp_path: Path) -> None:
    dashscope_emulator.enqueue(Reply(text="There is no cat in this picture."))
    target = tmp_path / "none.png"
    code, out, _ = run("ground", str(shot), "every cat", "--out", str(target), *connection(dashscope_emulator))
    assert code == 0
    assert out == (
        "0 box(es), 0 point(s) in pixels of shot.png (1003x701; the model saw 992x704, relative coordinates)\n"
        "nothing to draw: the answer has no boxes or points\n"
    )
    assert not target.exists()


def test_ground_offline_demo_for_both_coordinate_modes(shot: Path, tmp_path: Path) -> None:
    code, out, _ = run("ground", str(shot), "every person", "--emulator", "--out", str(tmp_path / "a.png"))
    assert code == 0
    assert out.splitlines()[:4] == [
        "2 box(es), 0 point(s) in pixels of shot.png (1003x701; the model saw 992x704, relative coordinates)",
        "#  kind  label   x1   y1   x2   y2   notes",
        "1  box   person  100  105  451  561",
        "2  box   person  552  140  903  596",
    ]
    code, out, _ = run("ground", str(shot), "every person", "--emulator", "--model", "qvq-max", "--points")
    assert code == 0
    assert out == (
        "0 box(es), 2 point(s) in pixels of shot.png (1003x701; the model saw 1008x700, absolute coordinates)\n"
        "#  kind   label   x1   y1   x2  y2  notes\n"
        "1  point  person  276  332\n"
        "2  point  person  727  369\n"
    )


def test_ask_draw(dashscope_emulator: DashScopeEmulator, shot: Path, tmp_path: Path) -> None:
    dashscope_emulator.enqueue(Reply(text=ANSWER))
    target = tmp_path / "drawn.png"
    code, out, err = run(
        "ask", str(shot), "Box the cats and the dog.", "--draw", str(target), *connection(dashscope_emulator)
    )
    assert (code, err) == (0, "")
    assert out.startswith("── answer ──\n" + ANSWER + "\n")
    assert out.endswith(
        "2 box(es), 1 point(s) in pixels of shot.png (1003x701; the model saw 992x704, relative coordinates)\n"
        + TABLE
        + f"wrote {target}\n"
    )
    with Image.open(target) as drawn:
        assert drawn.getpixel((100, 385)) == PALETTE[0]


def test_checks_happen_before_anything_is_sent(dashscope_emulator: DashScopeEmulator, shot: Path) -> None:
    code, _, err = run(
        "ask", "https://example.com/a.png", "Box it.", "--draw", "x.png", *connection(dashscope_emulator)
    )
    assert (code, err) == (
        2,
        "error: --draw needs a local image among the inputs (URLs are never downloaded, videos are not drawn).\n",
    )
    code, _, err = run("ground", "https://example.com/a.png", "cats", *connection(dashscope_emulator))
    assert (code, err) == (
        2,
        "error: 'https://example.com/a.png' is a URL: drawing needs a local image file (URLs are never downloaded).\n",
    )
    code, _, err = run("ground", str(shot), "cats", "--model", "my-finetune", *connection(dashscope_emulator))
    assert code == 2
    assert err.startswith("error: This model's coordinate convention is unknown (it is not in the catalog)")
    assert dashscope_emulator.requests == []


def test_an_unknown_model_with_an_explicit_mode(dashscope_emulator: DashScopeEmulator, shot: Path) -> None:
    dashscope_emulator.register_model("my-finetune")  # known to the server, not to the library
    dashscope_emulator.enqueue(Reply(text='[{"bbox_2d": [0, 0, 496, 352]}]'))
    with warnings.catch_warnings():  # the request layer warns once per process about an unknown model
        warnings.simplefilter("ignore", UnknownModelWarning)
        code, out, _ = run(
            "ground",
            str(shot),
            "cats",
            "--model",
            "my-finetune",
            "--coordinates",
            "absolute",
            *connection(dashscope_emulator),
        )
    assert code == 0
    assert out.splitlines()[2] == "1  box          0   0   502  350"
