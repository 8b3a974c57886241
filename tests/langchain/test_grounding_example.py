"""`examples/grounding.py` runs offline (`--emulator`), prints exactly this, and draws on the shapes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from PIL import Image

from qwen_vl_core.grounding import PALETTE
from qwen_vl_core.grounding.draw import DARK, LIGHT

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "grounding.py"


def test_grounding_example_runs_against_the_emulator(tmp_path: Path) -> None:
    out = tmp_path / "annotated.png"
    result = subprocess.run(
        [sys.executable, str(EXAMPLE), "--emulator", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": ""},  # no DASHSCOPE_* variables: the emulator run must not need them
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == (
        'Prompt: Locate every shape, report bbox coordinates and color in JSON format like this: {"bbox_2d": '
        '[x1, y1, x2, y2], "label": "shape", "color": "the object\'s color"}\n'
        "2 boxes in pixels of demo_shapes.png (1003x701):\n"
        "  circle   red    (150, 200) - (450, 500)\n"
        "  square   blue   (600, 150) - (850, 400)\n"
        "Wrote annotated.png\n"
    )
    with Image.open(out) as drawn:
        assert drawn.size == (1003, 701)
        # The circle's box on the dark half, the square's on the light half: band, dark outside, white inside.
        assert [drawn.getpixel((x, 350)) for x in (149, 150, 151, 152, 153)] == [DARK, *[PALETTE[0]] * 3, LIGHT]
        assert [drawn.getpixel((x, 300)) for x in (599, 600, 601, 602, 603)] == [DARK, *[PALETTE[1]] * 3, LIGHT]
