"""The driver's defaults that need no Ray cluster: ASHA's grace period, quiet logs."""

from __future__ import annotations

from typing import Any

import optuna
import pytest

from search.run.study import open_study
from tests.search.search_helpers import tiny_spec


@pytest.mark.parametrize(("epochs", "grace"), [(1, 1), (2, 2), (3, 2), (8, 2)])
def test_asha_never_stops_a_trial_before_two_epochs(epochs: int, grace: int) -> None:
    pytest.importorskip("ray")
    from search.run.tune_adapters import asha_grace_period
    from search.run.tune_adapters import scheduler as make_scheduler

    assert asha_grace_period(epochs) == grace
    scheduler: Any = make_scheduler(tiny_spec(epochs=epochs, scheduler="asha"), 1)
    milestones = [m for bracket in scheduler._brackets for m, _ in bracket._rungs]
    assert milestones and min(milestones) >= grace


def test_no_optuna_info_lines(
    db_url: str, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    optuna.logging.set_verbosity(optuna.logging.INFO)  # what a fresh process starts with
    caplog.set_level("INFO")
    open_study("quiet-study", tiny_spec(), db_url, 2)
    captured = capsys.readouterr()
    text = captured.out + captured.err + caplog.text
    assert "A new study created" not in text
    assert optuna.logging.get_verbosity() == optuna.logging.WARNING


class _FakeRay:
    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def is_initialized(self) -> bool:
        return False

    def init(self, **kwargs: Any) -> None:
        import os

        self.calls.append({**kwargs, "auth": os.environ.get("RAY_AUTH_MODE")})


@pytest.fixture
def fake_ray(monkeypatch: pytest.MonkeyPatch) -> _FakeRay:
    ray = pytest.importorskip("ray")
    fake = _FakeRay()
    monkeypatch.setattr(ray, "is_initialized", fake.is_initialized)
    monkeypatch.setattr(ray, "init", fake.init)
    # setenv first so that the teardown restores the variable whatever ensure_ray sets.
    monkeypatch.setenv("RAY_AUTH_MODE", "placeholder")
    monkeypatch.delenv("RAY_AUTH_MODE")
    return fake


def test_local_ray_defaults_auth_off(fake_ray: _FakeRay, monkeypatch: pytest.MonkeyPatch) -> None:
    from search.run.tune_adapters import ensure_ray

    assert ensure_ray(None, 1)
    assert fake_ray.calls[-1]["auth"] == "disabled"
    monkeypatch.setenv("RAY_AUTH_MODE", "token")  # the user's choice wins
    ensure_ray(None, 1)
    assert fake_ray.calls[-1]["auth"] == "token"


def test_cluster_auth_is_left_to_the_user(fake_ray: _FakeRay) -> None:
    from search.run.tune_adapters import ensure_ray

    ensure_ray("10.0.0.1:6379", None)
    assert fake_ray.calls[-1]["auth"] is None and fake_ray.calls[-1]["address"] == "10.0.0.1:6379"
