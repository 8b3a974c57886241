"""Reading boxes and points out of answers: the cookbooks' answer shapes and their broken variants.

Shapes from QwenLM/Qwen3-VL cookbooks/2d_grounding.ipynb and spatial_understanding.ipynb (a ```json
fence around a list, tab-indented, extra keys per item; the plotting code's own patch for an answer
cut off inside its last item) and QwenLM/Qwen2.5-VL cookbooks/spatial_understanding.ipynb.
"""

from __future__ import annotations

import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qwen_vl_core.grounding import Box, GroundingProblem, Point, grounding_prompt, parse_answer, parse_grounding
from qwen_vl_core.grounding.parse import MAX_ANSWER_CHARS, _excerpt


def box(x1, y1, x2, y2, label=None, index=1, **extra) -> Box:
    return Box(
        float(x1), float(y1), float(x2), float(y2), label, extra, index, (float(x1), float(y1), float(x2), float(y2))
    )


def point(x, y, label=None, index=1, **extra) -> Point:
    return Point(float(x), float(y), label, extra, index, (float(x), float(y)))


# -- the cookbooks' shapes ---------------------------------------------------------------------------


def test_cookbook_point_answer() -> None:
    # spatial_understanding.ipynb, "Locate the free space on the white table ...", verbatim.
    answer = '```json\n[\n\t{"point_2d": [925, 618], "label": "point_1"}\n]\n```'
    result = parse_answer(answer)
    assert result.points == (point(925, 618, "point_1"),)
    assert result.boxes == ()
    assert result.problems == ()
    assert result.geometry is None


def test_cookbook_boxes_with_extra_keys() -> None:
    # 2d_grounding.ipynb example 4: vehicles with "type" and "color".
    answer = (
        "```json\n[\n"
        '\t{"bbox_2d": [12, 331, 97, 410], "label": "vehicle", "type": "car", "color": "white"},\n'
        '\t{"bbox_2d": [402, 188, 561, 300], "label": "vehicle", "type": "bus", "color": "red"}\n'
        "]\n```"
    )
    result = parse_answer(answer)
    assert result.boxes == (
        box(12, 331, 97, 410, "vehicle", 1, type="car", color="white"),
        box(402, 188, 561, 300, "vehicle", 2, type="bus", color="red"),
    )
    assert result.labels == ("vehicle",)
    assert result.problems == ()


def test_football_points_with_role_and_shirt_colour() -> None:
    answer = (
        '```json\n[{"point_2d": [283, 517], "label": "person", "role": "player", "shirt_color": "blue"},'
        ' {"point_2d": [640, 402], "label": "person", "role": "referee", "shirt_color": "black"}]\n```'
    )
    assert parse_answer(answer).points == (
        point(283, 517, "person", 1, role="player", shirt_color="blue"),
        point(640, 402, "person", 2, role="referee", shirt_color="black"),
    )


def test_qwen25_absolute_answer_shape() -> None:
    # Qwen2.5-VL cookbook: "Locate the top right brown cake, output its bbox coordinates using JSON format."
    answer = '```json\n[\n\t{"bbox_2d": [1194, 202, 1350, 348], "label": "top right brown cake"}\n]\n```'
    assert parse_answer(answer).boxes == (box(1194, 202, 1350, 348, "top right brown cake"),)


def test_cut_off_inside_the_last_item() -> None:
    # The case the cookbooks' plot_bounding_boxes patches by cutting at the last '"}' and adding "]".
    answer = '```json\n[\n\t{"bbox_2d": [1, 2, 3, 4], "label": "a"},\n\t{"bbox_2d": [5, 6, 7'
    result = parse_answer(answer)
    assert result.boxes == (box(1, 2, 3, 4, "a"),)
    assert result.problems == (
        GroundingProblem(
            2,
            "item 2 is cut off: the answer ends inside it (did the output reach max_tokens?)",
            '{"bbox_2d": [5, 6, 7',
        ),
    )


def test_list_never_closed() -> None:
    result = parse_answer('[{"bbox_2d": [1, 2, 3, 4]}, {"point_2d": [5, 6]},')
    assert result.boxes == (box(1, 2, 3, 4),)
    assert result.points == (point(5, 6, index=2),)
    assert result.problems == (
        GroundingProblem(
            None, "the JSON list is not closed: the answer was cut off after item 2, so more may be missing"
        ),
    )


# -- where the JSON is ------------------------------------------------------------------------------


def test_single_object_in_prose() -> None:
    answer = 'The cup is here: {"bbox_2d": [10, 20, 30, 40], "label": "cup"}. It is [mostly] empty {sic}.'
    result = parse_answer(answer)
    assert result.boxes == (box(10, 20, 30, 40, "cup"),)
    assert result.problems == ()


def test_bare_list_with_trailing_prose_and_bbox_key() -> None:
    answer = '[{"bbox": [1, 2, 3, 4], "label": "a"}, {"bbox": [5, 6, 7, 8], "label": "b"}]\nThose are all.'
    assert parse_answer(answer).boxes == (box(1, 2, 3, 4, "a"), box(5, 6, 7, 8, "b", 2))


def test_several_fences_in_order_and_an_inline_fence() -> None:
    answer = 'Points: ```json [{"point_2d": [1, 2]}]``` and the box:\n```\n{"bbox_2d": [1, 2, 3, 4]}\n```'
    result = parse_answer(answer)
    assert result.points == (point(1, 2),)
    assert result.boxes == (box(1, 2, 3, 4, index=2),)


def test_a_fence_without_items_falls_back_to_the_whole_text() -> None:
    answer = '```python\nprint([1, 2])\n```\n[{"point_2d": [7, 8], "label": "x"}]'
    assert parse_answer(answer).points == (point(7, 8, "x"),)


def test_wrappers_are_walked() -> None:
    answer = '{"detections": [{"bbox_2d": [1, 2, 3, 4], "label": "a"}], "points": {"list": [{"point_2d": [5, 6]}]}}'
    result = parse_answer(answer)
    assert result.boxes == (box(1, 2, 3, 4, "a"),)
    assert result.points == (point(5, 6, index=2),)


def test_python_style_quotes_and_trailing_commas() -> None:
    assert parse_answer("[{'bbox_2d': [1, 2, 3, 4], 'label': 'a',},]").boxes == (box(1, 2, 3, 4, "a"),)


def test_an_item_with_both_a_box_and_a_point() -> None:
    result = parse_answer('[{"bbox_2d": [1, 2, 3, 4], "point_2d": [2, 3], "label": "mug"}]')
    assert result.boxes == (box(1, 2, 3, 4, "mug"),)
    assert result.points == (point(2, 3, "mug"),)
    assert [type(item).__name__ for item in result.items] == ["Box", "Point"]


def test_labels_other_than_strings_and_unicode() -> None:
    result = parse_answer(
        '[{"bbox_2d": [1, 2, 3, 4], "label": 7}, {"point_2d": [1, 1], "label": "小蛋糕"}, {"point_2d": [2, 2]}]'
    )
    assert [item.label for item in result.items] == ["7", "小蛋糕", None]


def test_no_json_at_all() -> None:
    result = parse_answer("There is no cat in this picture [as far as I can tell].")
    assert (result.boxes, result.points, result.problems) == ((), (), ())


# -- broken items are reported, never dropped ----------------------------------------------------------


def test_malformed_items_are_reported_with_their_position() -> None:
    answer = (
        "```json\n["
        '{"bbox_2d": [1, 2, 3], "label": "three"},'
        '{"bbox_2d": ["1", 2, 3, 4]},'
        '{"bbox_2d": [true, 2, 3, 4]},'
        '{"bbox_2d": [[1, 2], [3, 4]]},'
        '{"point_2d": [NaN, 1]},'
        '{"label": "no coordinates"},'
        "5,"
        '{"bbox_2d": [9, 9, 10, 10], "label": "fine"}'
        "]\n```"
    )
    result = parse_answer(answer)
    assert result.boxes == (box(9, 9, 10, 10, "fine", 8),)
    assert [(p.index, p.message) for p in result.problems] == [
        (1, 'item 1 has a "bbox_2d" that is not 4 numbers [x1, y1, x2, y2]'),
        (2, 'item 2 has a "bbox_2d" that is not 4 numbers [x1, y1, x2, y2]'),
        (3, 'item 3 has a "bbox_2d" that is not 4 numbers [x1, y1, x2, y2]'),
        (4, 'item 4 has a "bbox_2d" that is not 4 numbers [x1, y1, x2, y2]'),
        (5, 'item 5 has a "point_2d" that is not 2 numbers [x, y]'),
        (6, 'item 6 has no coordinates (expected "bbox_2d", "bbox" or "point_2d")'),
        (7, 'item 7 is not an object (expected "bbox_2d", "bbox" or "point_2d")'),
    ]
    assert result.problems[0].excerpt == '{"bbox_2d": [1, 2, 3], "label": "three"}'


def test_an_item_that_is_not_json_among_good_ones() -> None:
    answer = '[{"bbox_2d" [1, 2, 3, 4]}, {"bbox_2d": [5, 6, 7, 8], "label": "ok",, }, {"point_2d": [1, 2]}]'
    result = parse_answer(answer)
    assert result.points == (point(1, 2, index=3),)
    assert result.problems == (
        GroundingProblem(1, "item 1 is not valid JSON", '{"bbox_2d" [1, 2, 3, 4]}'),
        GroundingProblem(2, "item 2 is not valid JSON", '{"bbox_2d": [5, 6, 7, 8], "label": "ok",, }'),
    )


def test_a_broken_item_inside_a_wrapper() -> None:
    answer = '{"detections": [{"bbox_2d": [1, 2, 3, 4], "label": "x"}, {"bbox_2d": [1, 2, 3, 4], "label": y}]}'
    result = parse_answer(answer)
    assert result.boxes == (box(1, 2, 3, 4, "x"),)
    assert result.problems == (
        GroundingProblem(2, "item 2 is not valid JSON", '{"bbox_2d": [1, 2, 3, 4], "label": y}'),
    )


def test_a_lone_object_cut_off() -> None:
    assert parse_answer('Sure: {"bbox_2d": [1, 2, 3').problems == (
        GroundingProblem(
            1, "item 1 is cut off: the answer ends inside it (did the output reach max_tokens?)", '{"bbox_2d": [1, 2, 3'
        ),
    )


def test_long_excerpts_are_shortened() -> None:
    problem = parse_answer('[{"bbox_2d": [1, 2, 3], "label": "' + "x" * 200 + '"}]').problems[0]
    assert problem.excerpt == '{"bbox_2d": [1, 2, 3], "label": "' + "x" * 44 + "..."
    assert len(problem.excerpt) == 80


# -- bounded work ----------------------------------------------------------------------------------


def test_only_the_first_million_characters_are_read() -> None:
    answer = '[{"point_2d": [1, 2]}]' + " " * MAX_ANSWER_CHARS + '[{"point_2d": [3, 4]}]'
    result = parse_answer(answer)
    assert result.points == (point(1, 2),)
    assert result.problems == (GroundingProblem(None, "only the first 1,000,000 characters of the answer were read"),)


def test_unbalanced_brackets_cost_linear_time() -> None:
    started = time.perf_counter()
    result = parse_answer("[" * 200_000 + '"bbox_2d"')
    assert time.perf_counter() - started < 5
    assert result.problems[-1] == GroundingProblem(
        None, "the answer has too many unbalanced or nested brackets; the rest was not read"
    )


def test_deep_nesting_is_reported_not_recursed() -> None:
    deep = "[" * 40 + '{"bbox_2d": [1, 2, 3, 4]}' + "]" * 40
    assert parse_answer(deep).problems == (
        GroundingProblem(1, "item 1 is nested more than 32 levels deep and was not read", _excerpt(deep)),
    )
    shallow = '{"a": ' * 20 + '{"bbox_2d": [1, 2, 3, 4]}' + "}" * 20
    assert parse_answer(shallow).boxes == (box(1, 2, 3, 4),)
    for n in (990, 5000):  # past what json.loads can decode: read as broken, never a RecursionError
        result = parse_answer('{"a": ' * n + '{"bbox_2d": [1, 2, 3, 4]}' + "}" * n)
        assert result.boxes == ()
        assert result.problems[0].message == "item 1 is not valid JSON"


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("[]{}\",:'` \nbox_2dpint0123456789.-json")), max_size=300))
def test_any_text_parses_without_raising(text: str) -> None:
    result = parse_answer(text)
    for item in result.items:
        assert item.index >= 1
    for problem in result.problems:
        assert problem.index is None or problem.index >= 1


# -- parse_grounding without a geometry is the model's numbers ------------------------------------------


def test_parse_grounding_without_geometry_keeps_the_models_numbers() -> None:
    assert parse_grounding('[{"bbox_2d": [1200, 2, 3, 4]}]').boxes == (box(1200, 2, 3, 4),)


# -- prompts ---------------------------------------------------------------------------------------


def test_prompts_in_the_cookbook_form() -> None:
    # 2d_grounding.ipynb example 2, verbatim.
    assert grounding_prompt(["head", "hand", "man", "woman", "glasses"]) == (
        'Locate every instance that belongs to the following categories: "head, hand, man, woman, glasses". '
        "Report bbox coordinates in JSON format."
    )
    assert grounding_prompt("every person") == (
        'Locate every person, report bbox coordinates in JSON format like this: {"bbox_2d": [x1, y1, x2, y2], '
        '"label": "person"}'
    )
    # 2d_grounding.ipynb example 5's form.
    assert grounding_prompt(
        "every person inside the football field",
        kind="point",
        label="person",
        fields={"role": "player/referee/unknown", "shirt_color": "the person's shirt color"},
    ) == (
        "Locate every person inside the football field with points, report point coordinates, role and shirt "
        'color in JSON format like this: {"point_2d": [x, y], "label": "person", "role": "player/referee/unknown", '
        '"shirt_color": "the person\'s shirt color"}'
    )
    assert grounding_prompt(["car", "bus"], kind="point") == (
        'Locate every instance that belongs to the following categories: "car, bus" with points. For each '
        'instance, report point coordinates in JSON format like this: {"point_2d": [x, y], "label": "category"}'
    )
    assert grounding_prompt("  the   red car ", fields={"color": "its color"}) == (
        'Locate the red car, report bbox coordinates and color in JSON format like this: {"bbox_2d": [x1, y1, x2, '
        'y2], "label": "red car", "color": "its color"}'
    )


def test_prompt_input_errors() -> None:
    with pytest.raises(ValueError, match=r"^kind must be 'box' or 'point', got 'polygon'$"):
        grounding_prompt("cats", kind="polygon")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"^Give at least one category name to locate\.$"):
        grounding_prompt([" "])
    with pytest.raises(ValueError, match=r"^Say what to locate, e\.g\. 'every person' or 'the red car'\.$"):
        grounding_prompt("   ")
