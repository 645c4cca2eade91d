"""Leaderboard filters on sampled values (issue 23), both backends: each filter's rows are
exactly those a Python check of the recorded values picks; a conditional parameter that was not
sampled matches nothing; bad filters are refused naming ``param`` and the value."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from api.cli import app
from search import service as svc
from search.errors import InvalidRequest
from tests.search.explore_helpers import populate_quickstart, sampled

COUNT = 60


@pytest.fixture
def search(engine: Engine) -> int:
    return populate_quickstart(engine, COUNT)


def _numbers(engine: Engine, search_id: int, *filters: str, status: str = "all") -> set[int]:
    query = svc.TrialQuery(status=status, param=filters)
    return {t.trial for t in svc.trials(engine, search_id, query).items}


def _expected(engine: Engine, search_id: int, keep: Any) -> set[int]:
    return {n for n, (_, p) in sampled(engine, search_id).items() if keep(p)}


def test_a_range_keeps_the_trials_whose_value_lies_within_it(engine: Engine, search: int) -> None:
    found = _numbers(engine, search, "training.lr:0.03..0.05")
    want = _expected(engine, search, lambda p: 0.03 <= p["training.lr"] <= 0.05)
    assert found == want and 0 < len(want) < COUNT
    # Open ends; and a range on a choice of numbers.
    assert _numbers(engine, search, "training.lr:..0.03") == _expected(
        engine, search, lambda p: p["training.lr"] <= 0.03
    )
    assert _numbers(engine, search, "layers.conv2.channels:20..") == _expected(
        engine, search, lambda p: p["layers.conv2.channels"] >= 20
    )


def test_a_set_keeps_the_trials_with_one_of_its_values(engine: Engine, search: int) -> None:
    kinds = _numbers(engine, search, "cells.main.kind=rgc,lstm")
    assert kinds == _expected(engine, search, lambda p: p["cells.main.kind"] in ("rgc", "lstm"))
    assert 0 < len(kinds) < COUNT
    present = _numbers(engine, search, "layers.conv3.present=true")
    assert present == _expected(engine, search, lambda p: p["layers.conv3.present"] is True)
    # A short integer range takes a set too (and a range, below).
    edges = _numbers(engine, search, "feedback.edges=1")
    assert edges == _expected(engine, search, lambda p: p.get("feedback.edges") == 1) != set()
    assert edges == _numbers(engine, search, "feedback.edges:1..1")
    bias = _numbers(engine, search, "cells.main.lstm.forget_bias=1.0,2.0")
    assert bias == _expected(
        engine, search, lambda p: p.get("cells.main.lstm.forget_bias") in (1.0, 2.0)
    )


def test_a_conditional_parameter_not_sampled_matches_no_filter(engine: Engine, search: int) -> None:
    depth = _numbers(engine, search, "cells.main.rgc.cell_depth:0..8")
    rgc = _expected(engine, search, lambda p: p["cells.main.kind"] == "rgc")
    assert depth == rgc and rgc  # every rgc trial sampled a depth; no other trial has one


def test_filters_combine_with_each_other_and_the_status(engine: Engine, search: int) -> None:
    found = _numbers(
        engine, search, "cells.main.kind=rgc", "training.lr:0.04..", status="completed"
    )
    want = {
        n
        for n, (status, p) in sampled(engine, search).items()
        if status == "completed" and p["cells.main.kind"] == "rgc" and p["training.lr"] >= 0.04
    }
    assert found == want and want
    page = svc.trials(engine, search, svc.TrialQuery(param=("cells.main.kind=rgc",), limit=3))
    assert page.total == len(_expected(engine, search, lambda p: p["cells.main.kind"] == "rgc")
                             & _numbers(engine, search, status="completed"))  # fmt: skip
    assert len(page.items) == 3


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("nope:0..1", "searched parameter"),
        ("training.lr", "LABEL:LOW..HIGH"),
        ("training.lr=0.05", "is a range"),
        ("cells.main.kind:0..1", "is not numeric"),
        ("training.lr:0.05", "LOW..HIGH"),
        ("training.lr:abc..1", "not a finite number"),
        ("training.lr:nan..1", "not a finite number"),
        ("training.lr:0.08..0.02", "low end is above"),
        ("cells.main.kind=gru", "takes rgc, lstm, timedecay"),
        ("cells.main.kind=", "not nothing"),
    ],
)
def test_a_bad_filter_is_refused_naming_the_field_and_the_value(
    engine: Engine, search: int, text: str, says: str
) -> None:
    with pytest.raises(InvalidRequest) as caught:
        _numbers(engine, search, text)
    problem = caught.value.problems[0]
    assert problem.path == "param" and says in problem.message, problem
    assert problem.value == text


def test_too_many_filters_are_refused(engine: Engine, search: int) -> None:
    with pytest.raises(InvalidRequest, match="at most 32"):
        _numbers(engine, search, *["training.lr:0.01.."] * 33)


def test_the_cli_filters_by_sampled_values(engine: Engine, search: int, db_url: str) -> None:
    runner = CliRunner()
    args = ["leaderboard", str(search), "--status", "all", "--json", "--db", db_url]
    shown = runner.invoke(
        app, [*args, "--param", "cells.main.kind=rgc", "--param", "training.lr:..0.05"]
    )
    assert shown.exit_code == 0, shown.output
    want = _expected(
        engine, search, lambda p: p["cells.main.kind"] == "rgc" and p["training.lr"] <= 0.05
    )
    assert {i["trial"] for i in json.loads(shown.stdout)["items"]} == want and want
    bad = runner.invoke(app, [*args, "--param", "cells.main.kind=gru"])
    assert bad.exit_code != 0
    assert "--param" in bad.output and "cells.main.kind=gru" in bad.output, bad.output
