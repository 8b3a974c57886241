"""Grounding prompts in the form the Qwen cookbooks use.

QwenLM/Qwen3-VL cookbooks/2d_grounding.ipynb:
  'Locate every instance that belongs to the following categories: "head, hand, man, woman,
  glasses". Report bbox coordinates in JSON format.'
  'locate every instance that belongs to the following categories: "vehicle". For each vehicle,
  report bbox coordinates, vehicle type and vehicle color in JSON format like this: {"bbox_2d":
  [x1, y1, x2, y2], "label": "vehicle", "type": "car, bus, truck, bicycle, ...", "color": ...}'
  'Locate every person inside the football field with points, report their point coordinates,
  role(player, referee or unknown) and shirt color in JSON format like this: {"point_2d": [x, y],
  "label": "person", "role": "player/referee/unknown", "shirt_color": "the person's shirt color"}'
QwenLM/Qwen2.5-VL cookbooks/spatial_understanding.ipynb (QVQ's generation):
  "Locate the top right brown cake, output its bbox coordinates using JSON format."
The prompt does not name a coordinate system: each model family answers in its own (geometry.py).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Literal

__all__ = ["default_label", "grounding_prompt"]

_QUANTIFIER = re.compile(r"^(?:every|each|all(?: the)?|the|a|an)\s+", re.IGNORECASE)


def default_label(description: str) -> str:
    """The label a description suggests: "every person" → "person"."""
    return _QUANTIFIER.sub("", " ".join(description.split())) or "object"


def _example(kind: str, label: str, fields: Mapping[str, str]) -> str:
    coordinates = '"bbox_2d": [x1, y1, x2, y2]' if kind == "box" else '"point_2d": [x, y]'
    parts = [coordinates, f'"label": {json.dumps(label, ensure_ascii=False)}']
    parts += [f"{json.dumps(k, ensure_ascii=False)}: {json.dumps(v, ensure_ascii=False)}" for k, v in fields.items()]
    return "{" + ", ".join(parts) + "}"


def grounding_prompt(
    target: str | Sequence[str],
    *,
    kind: Literal["box", "point"] = "box",
    label: str | None = None,
    fields: Mapping[str, str] | None = None,
) -> str:
    """A prompt asking for boxes (`kind="box"`) or points (`kind="point"`) as JSON.

    `target` is a description ("every person", "the red car") or a list of category names (the
    cookbook's multi-target form). `label` is the label shown in the JSON example (default: the
    description without its leading "every"/"the"/...; "category" for a list). `fields` asks for
    extra keys per item, e.g. `{"color": "the object's color"}`.

    `grounding_prompt("every person")` is 'Locate every person, report bbox coordinates in JSON format
    like this: {"bbox_2d": [x1, y1, x2, y2], "label": "person"}'.
    """
    if kind not in ("box", "point"):
        raise ValueError(f"kind must be 'box' or 'point', got {kind!r}")
    extra = dict(fields or {})
    what = "bbox coordinates" if kind == "box" else "point coordinates"
    if not isinstance(target, str):
        names = [str(name).strip() for name in target if str(name).strip()]
        if not names:
            raise ValueError("Give at least one category name to locate.")
        head = f'Locate every instance that belongs to the following categories: "{", ".join(names)}"'
        if kind == "box" and not extra and label is None:
            return f"{head}. Report {what} in JSON format."
        with_points = " with points" if kind == "point" else ""
        example = _example(kind, label or "category", extra)
        return (
            f"{head}{with_points}. For each instance, report {_asked(what, extra)} in JSON format like this: {example}"
        )
    description = " ".join(target.split())
    if not description:
        raise ValueError("Say what to locate, e.g. 'every person' or 'the red car'.")
    example = _example(kind, label or default_label(description), extra)
    with_points = " with points" if kind == "point" else ""
    return f"Locate {description}{with_points}, report {_asked(what, extra)} in JSON format like this: {example}"


def _asked(what: str, fields: Mapping[str, str]) -> str:
    names = [name.replace("_", " ") for name in fields]
    if not names:
        return what
    return ", ".join([what, *names[:-1]]) + f" and {names[-1]}"
