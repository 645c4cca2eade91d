"""The one table of trial fields (space.trial_fields) drives every list of trial fields, and an
unknown metric is an error wherever it is used."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pytest
from pydantic import ValidationError

from api.commands.output import cell
from search.records.leaderboard import default_sort
from search.records.pareto import objective_column
from search.run.progress import metric_text
from search.run.study import values_for
from space import trial_fields
from space.spec import Objective
from space.trial_fields import UnknownField

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Ranked:
    metric: str
    direction: Literal["max", "min"] = "max"


def test_an_unknown_metric_raises_wherever_it_is_used() -> None:
    bogus = [Ranked("latency")]
    with pytest.raises(UnknownField, match="objective metric 'latency'"):
        values_for(bogus, {"latency": 1.0}, untrained=False)
    with pytest.raises(UnknownField):
        objective_column("latency")
    with pytest.raises(UnknownField):
        default_sort(bogus)
    with pytest.raises(UnknownField):
        cell("latency", 1)
    with pytest.raises(UnknownField):
        metric_text("latency", 1.0)
    with pytest.raises(ValidationError, match="val_acc"):
        Objective(metric="latency")


def test_a_field_that_is_no_objective_is_never_optimised() -> None:
    # memory is a trial field and a sort key, but no objective: never a stand-in for one.
    with pytest.raises(UnknownField, match="objective metric 'memory'"):
        values_for([Ranked("memory", "min")], {"memory": 10}, untrained=True)
    assert trial_fields.field("memory").key == "memory"


def test_the_objectives_are_the_tables() -> None:
    schema = Objective.model_json_schema()["properties"]["metric"]
    assert tuple(schema["enum"]) == trial_fields.OBJECTIVES
    assert {m: Objective(metric=m).direction for m in trial_fields.OBJECTIVES} == (
        trial_fields.DEFAULT_GOALS
    )


# A new measured metric, "wall", added as a row of the table and a TrialOut field (stored in an
# existing column so that no migration is needed here): every derived list picks it up.
_ROW = (
    '    TrialField("wall", "seconds", "train_seconds", goal="min", objective=True,'
    ' reported=True, shown="set", heading="wall", label="Wall", group="wall"),\n'
)
_ADDED = textwrap.dedent(
    f"""
    import sys, types
    from pathlib import Path

    def load(name, old, new):
        path = Path(name.replace(".", "/") + ".py")
        source = path.read_text()
        assert old in source, (name, old)
        module = types.ModuleType(name)
        module.__file__ = str(path)
        sys.modules[name] = module
        exec(compile(source.replace(old, new, 1), str(path), "exec"), module.__dict__)

    load("space.trial_fields", "\\n)\\n# fmt: on", "\\n" + {_ROW!r} + ")\\n# fmt: on")
    {{schema}}
    from api.commands.output import cell
    from api.web.pages import COLUMNS
    from search.records.db import BOARD_INDEXES
    from search.records.leaderboard import SORT_COLUMNS
    from search.records.trial_rows import RUN_FACTS
    from search.run.study import values_for
    from search.service.schemas import CSV_COLUMNS, OPTIONAL_COLUMNS
    from search.service.views import _BEST
    from space.spec import Objective

    assert SORT_COLUMNS["wall"][1] == "min"
    assert "ix_convnas_trials_search_wall" in {{i.name for i in BOARD_INDEXES}}
    assert CSV_COLUMNS[-1] == "wall" and OPTIONAL_COLUMNS[-1] == "wall"
    assert "wall" in [f.name for f in COLUMNS]
    assert RUN_FACTS["wall"][0] == "train_seconds"
    assert ("wall", "min") in _BEST
    objective = Objective(metric="wall")
    assert objective.direction == "min"
    assert values_for([objective], {{"wall": 2.5}}, untrained=False) == [2.5]
    assert cell("wall", 2.5) == "2.5"
    print("derived")
    """
)
_TRIAL_OUT = (
    "load('search.service.schemas', '    sampled: dict[str, Any]',"
    " '    wall: float | None = None\\n    sampled: dict[str, Any]')"
)


def _run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_a_row_of_the_table_shows_up_in_every_derived_list() -> None:
    done = _run(_ADDED.replace("{schema}", _TRIAL_OUT))
    assert done.returncode == 0, done.stderr
    assert "derived" in done.stdout


def test_a_row_without_its_public_field_fails_at_import() -> None:
    done = _run(_ADDED.replace("{schema}", "import search.service.schemas"))
    assert done.returncode != 0
    assert "UnknownField" in done.stderr and "wall" in done.stderr
