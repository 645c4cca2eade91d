"""Malformed specs: every problem at once, each with its field path, value and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from space.errors import SpecError
from space.sampling import sample
from space.spec import load_spec, spec_from_text

HEAD = """\
name: bad
dataset: digits
input: {size: 16, channels: 1}
classes: 10
"""


def problems(body: str) -> list[tuple[str, int | None]]:
    with pytest.raises(SpecError) as info:
        spec_from_text(HEAD + body, "spec.yaml")
    return [(p.path, p.line) for p in info.value.problems]


# (case id, spec body after HEAD, expected (path, line) among the problems)
CASES = [
    (
        "choice value out of the field's range",
        "layers:\n  - name: a\n    channels: 8\n    kernel: {choice: [3, 40]}\n",
        ("layers.0.kernel.choice.1", 8),
    ),
    (
        "unknown key in a layer",
        "layers:\n  - {name: a, channels: 8, chanels: 4}\n",
        ("layers.0.chanels", 6),
    ),
    (
        "float range on an int field",
        "layers:\n  - name: a\n    channels: {float: [1, 8]}\n",
        ("layers.0.channels", 7),
    ),
    (
        "int range with low above high",
        "layers:\n  - name: a\n    channels: {int: [16, 8]}\n",
        ("layers.0.channels", 7),
    ),
    (
        "int range not divisible by its step",
        "layers:\n  - name: a\n    channels: {int: [8, 20], step: 8}\n",
        ("layers.0.channels", 7),
    ),
    (
        "log float range from zero",
        "layers:\n  - {name: a, channels: 8}\ntraining:\n"
        "  weight_decay: {float: [0.0, 0.1], log: true}\n",
        ("training.weight_decay", 8),
    ),
    (
        "float range bound outside the field's range",
        "layers:\n  - {name: a, channels: 8}\ntraining:\n  lr: {float: [0.0, 0.1]}\n",
        ("training.lr.float.0", 8),
    ),
    (
        "unknown cell kind",
        "layers:\n  - name: a\n    channels: 8\n    cell: {kind: transformer}\n",
        ("layers.0.cell", 8),
    ),
    (
        "reference to an undefined cell",
        "layers:\n  - {name: a, channels: 8, cell: mian}\ncells:\n  main: {kind: lstm}\n",
        ("layers.0.cell", 6),
    ),
    (
        "feedback edge to an unknown layer",
        "layers:\n  - {name: a, channels: 8}\n  - {name: b, channels: 8}\n"
        "feedback:\n  candidates:\n    - {source: b, target: c}\n",
        ("feedback.candidates.0.target", 10),
    ),
    (
        "duplicate layer names",
        "layers:\n  - {name: a, channels: 8}\n  - {name: a, channels: 8}\n",
        ("layers.1.name", 7),
    ),
    (
        "rgc with memory and both drives fixed off",
        "layers:\n  - {name: a, channels: 8, cell: c}\ncells:\n  c:\n    kind: rgc\n"
        "    cell_depth: 8\n    input_to_cell: false\n    cell_residual: false\n",
        ("cells.c.input_to_cell", 11),
    ),
    (
        "two one_of branches with one name",
        "layers:\n  - {name: a, channels: 8, cell: c}\ncells:\n  c:\n    one_of:\n"
        "      - {kind: lstm}\n      - {kind: lstm, peepholes: true}\n",
        ("cells.c.one_of.1", 11),
    ),
    (
        "share on an inline cell",
        "layers:\n  - name: a\n    channels: 8\n    cell: {kind: gru, share: per_layer}\n",
        ("layers.0.cell.share", 8),
    ),
    (
        "mean readout window beyond the smallest step count",
        "layers:\n  - {name: a, channels: 8}\ntime:\n  steps: {choice: [4, 8]}\n"
        "  readout: {kind: mean, start: 1, end: 6}\n",
        ("time.readout.end", 9),
    ),
    (
        "asha with two objectives",
        "layers:\n  - {name: a, channels: 8}\nobjectives: [val_acc, params]\n"
        "search: {scheduler: asha}\n",
        ("search.scheduler", 8),
    ),
    (
        "asha with one objective that is not val_acc",
        "layers:\n  - {name: a, channels: 8}\nobjectives: [{metric: flops, goal: min}]\n"
        "search: {scheduler: asha}\n",
        ("search.scheduler", 8),
    ),
    (
        "residual fixed on with a searched stride",
        "layers:\n  - name: a\n    channels: 8\n    stride: {choice: [1, 2]}\n    residual: true\n",
        ("layers.0.residual", 9),
    ),
    (
        "a bool leaf written wrong",
        "layers:\n  - name: a\n    channels: 8\n    bias: {bool: maybe}\n",
        ("layers.0.bias.bool", 8),
    ),
]


@pytest.mark.parametrize(
    ("body", "expected"), [(b, e) for _, b, e in CASES], ids=[c for c, _, _ in CASES]
)
def test_malformed_spec_names_the_field_and_line(body: str, expected: tuple[str, int]) -> None:
    assert expected in problems(body)


def test_every_problem_at_once() -> None:
    body = (
        "layers:\n"
        "  - {name: a, channels: 0}\n"
        "  - {name: b, channels: 8, kernel: {choice: []}}\n"
        "training: {optimizer: rmsprop, epochs: -1}\n"
    )
    found = problems(body)
    paths = [p for p, _ in found]
    assert "layers.0.channels" in paths
    assert "layers.1.kernel.choice" in paths
    assert "training.optimizer" in paths
    assert "training.epochs" in paths
    assert len(found) >= 4


def test_problems_carry_the_bad_value_and_render_without_traceback() -> None:
    with pytest.raises(SpecError) as info:
        spec_from_text(
            HEAD + "layers:\n  - {name: a, channels: 8, activation: swish}\ntime: {steps: 2}\n",
            "s.yaml",
        )
    (problem,) = info.value.problems
    assert problem.path == "layers.0.activation"
    assert problem.value == "swish"
    text = info.value.render()
    assert "s.yaml:6: layers.0.activation" in text and "swish" in text
    assert "Traceback" not in text


def test_unknown_dataset() -> None:
    with pytest.raises(SpecError) as info:
        spec_from_text(
            HEAD.replace("digits", "cifar")
            + "layers:\n  - {name: a, channels: 8}\ntime: {steps: 2}\n"
        )
    assert [(p.path, p.line) for p in info.value.problems] == [("dataset", 2)]


def test_missing_required_fields_point_at_the_parent() -> None:
    with pytest.raises(SpecError) as info:
        spec_from_text("name: x\nlayers:\n  - {channels: 8}\n")
    paths = {p.path for p in info.value.problems}
    assert {"dataset", "input", "classes", "layers.0.name"} <= paths


def test_missing_file_and_bad_yaml(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="file not found"):
        load_spec(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nlayers: [\n")
    with pytest.raises(SpecError, match="not valid YAML"):
        load_spec(bad)


def test_not_a_mapping() -> None:
    with pytest.raises(SpecError, match="must be a mapping"):
        spec_from_text("- 1\n- 2\n")


def test_too_few_steps_for_the_deepest_arch_names_steps_value_line_and_minimum() -> None:
    body = (
        "layers:\n  - {name: a, channels: 8}\n  - {name: b, channels: 8, optional: true}\n"
        "  - {name: c, channels: 8}\ntime:\n  steps: {choice: [3, 8]}\n"
    )
    with pytest.raises(SpecError) as info:
        spec_from_text(HEAD + body, "spec.yaml")
    (problem,) = info.value.problems
    assert (problem.path, problem.line, problem.value) == ("time.steps", 10, 3)
    assert "use at least 4" in problem.message  # b present: the readout sees the image at 3


def test_image_off_beyond_the_smallest_step_count() -> None:
    body = "layers:\n  - {name: a, channels: 8}\ntime: {steps: {int: [2, 6]}, image_off: 4}\n"
    assert ("time.image_off", 7) in problems(body)


def test_steps_enough_for_the_deepest_arch_sample_valid_archs() -> None:
    body = (
        "layers:\n  - {name: a, channels: 8}\n  - {name: b, channels: 8, optional: true}\n"
        "  - {name: c, channels: 8, cell: {kind: gru}}\n"
        "feedback: {candidates: later_to_earlier}\ntime: {steps: 4}\n"
    )
    spec = spec_from_text(HEAD + body)
    for seed in range(30):
        sample(spec, seed)  # raises if an arch were invalid


def test_a_union_member_error_is_listed_once_with_its_value() -> None:
    body = (
        "layers:\n  - {name: a, channels: 8}\n  - {name: b, channels: 8}\n"
        "feedback:\n  candidates: [{source: b, target: a}]\n"
        "  entry: {choice: [input, middle]}\ntime: {steps: 3}\n"
    )
    with pytest.raises(SpecError) as info:
        spec_from_text(HEAD + body)
    (problem,) = info.value.problems
    assert (problem.path, problem.value, problem.line) == ("feedback.entry.choice.1", "middle", 10)


def test_cross_field_problems_are_reported_beside_format_errors() -> None:
    body = (
        "layers:\n  - {name: a, channels: 8, kernel: 99}\n  - {name: a, channels: 8, cell: nope}\n"
        "feedback:\n  candidates: [{source: a, target: zz}]\n  entry: wrong\n"
        "time: {steps: 3}\n"
    )
    paths = [path for path, _ in problems(body)]
    assert set(paths) == {
        "layers.0.kernel",
        "feedback.entry",
        "layers.1.name",
        "layers.1.cell",
        "feedback.candidates.0.target",
    }
    assert len(paths) == len(set(paths))


@pytest.mark.parametrize(
    "body",
    [
        "layers: 5\ncells: 3\nfeedback: 2\ntime: x\n",
        "layers: [7, {name: 3}, {channels: 8}]\ncells: {c: 5}\nobjectives: 4\n",
        "layers:\n  - {name: a, channels: 8, cell: c}\ncells: {c: {one_of: 5}}\n"
        "feedback: {candidates: 9, among: [q]}\ntime: {steps: x, readout: 3}\n",
    ],
)
def test_partially_invalid_specs_never_crash(body: str) -> None:
    assert problems(body)  # a SpecError with problems, no other exception


def test_yaml_syntax_error_points_at_the_problem_and_where_the_bracket_opened() -> None:
    text = "name: t\nlayers: [\n  {name: a},\n  {name: b\nclasses: 3\n"
    with pytest.raises(SpecError) as info:
        spec_from_text(text, "s.yaml")
    (problem,) = info.value.problems
    assert problem.line == 5  # where the parser gave up
    assert "line 4, column 3" in problem.message  # where the unclosed mapping began


def test_unknown_dataset_option_lists_the_shared_options_too() -> None:
    with pytest.raises(SpecError) as info:
        spec_from_text(
            HEAD.replace("digits", "'digits:foo=1'")
            + "layers: [{name: a, channels: 8}]\ntime: {steps: 2}\n"
        )
    (problem,) = info.value.problems
    assert problem.path == "dataset.foo" and problem.value == "1"
    assert "digits accepts options: limit, seed, val_fraction" in problem.message
    # ...and those shared options are accepted for every kind, as the loaders accept them
    for ref in ("digits:seed=3,limit=50", "shapes:samples=40,seed=1", "pathfinder:samples=20"):
        spec_from_text(
            HEAD.replace("digits", f"'{ref}'")
            + "layers: [{name: a, channels: 8}]\ntime: {steps: 2}\n"
        )
