"""The adapters over Optuna's and Ray's private APIs (search.records.optuna_private,
search.run.ray_private): each pinned to the release it was checked against, and each checked
against what the public API says of the same thing."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import optuna
import pytest

from search.records import optuna_private
from search.records.studies import rdb_storage
from search.run import ray_private


def _recheck(library: str, installed: str, checked: str, module: str) -> str:
    return (
        f"{library} {installed} is installed; {module} reads its private API as of {checked}. "
        f"Re-check every private name that module uses against {installed} (run this file), "
        f"then set {module}.CHECKED_AGAINST = {installed!r}."
    )


def test_optuna_is_the_release_the_adapter_was_checked_against() -> None:
    checked = optuna_private.CHECKED_AGAINST
    message = _recheck("Optuna", optuna.__version__, checked, "search.records.optuna_private")
    assert optuna.__version__ == checked, message


def test_ray_is_the_release_the_adapter_was_checked_against() -> None:
    ray = pytest.importorskip("ray")
    checked = ray_private.CHECKED_AGAINST
    assert ray.__version__ == checked, _recheck(
        "Ray", ray.__version__, checked, "search.run.ray_private"
    )


@pytest.fixture
def storage(tmp_path: Path) -> Any:
    made = rdb_storage(f"sqlite:///{tmp_path / 'study.db'}")
    yield made
    made.engine.dispose()


def test_storage_trial_id_is_the_id_the_public_lookup_gives(storage: Any) -> None:
    study = optuna.create_study(storage=storage, study_name="ids")
    optuna.create_study(storage=storage, study_name="other").ask()  # ids differ from numbers
    study_id = storage.get_study_id_from_name("ids")
    for _ in range(3):
        trial = study.ask()
        public = storage.get_trial_id_from_study_id_trial_number(study_id, trial.number)
        assert optuna_private.storage_trial_id(trial) == public


def test_storage_trial_id_is_none_where_optuna_no_longer_says() -> None:
    assert optuna_private.storage_trial_id(SimpleNamespace(number=3)) is None  # type: ignore[arg-type]


def _seed(storage: Any, name: str) -> int:
    """A study whose completed trials are interleaved with failed ones."""
    study = optuna.create_study(storage=storage, study_name=name)
    for number in range(30):
        trial = study.ask()
        trial.suggest_float("x", 0.0, 1.0)
        state = optuna.trial.TrialState.FAIL if number % 3 == 0 else None
        study.tell(trial, None if state else float(number), state=state)
    return int(storage.get_study_id_from_name(name))


class _PublicOnly:
    """A storage without Optuna's private paging: the adapter's fallback."""

    def __init__(self, storage: Any):
        self.engine = storage.engine
        self.get_all_trials = storage.get_all_trials


def test_latest_complete_trials_are_those_the_public_api_lists_last(storage: Any) -> None:
    study_id = _seed(storage, "latest")
    complete = (optuna.trial.TrialState.COMPLETE,)
    public = storage.get_all_trials(study_id, deepcopy=False, states=complete)[-7:]
    fast = optuna_private.latest_complete_trials(storage, study_id, 7)
    fallback = optuna_private.latest_complete_trials(_PublicOnly(storage), study_id, 7)
    expected = [t.number for t in public]
    assert [t.number for t in fast] == expected == [t.number for t in fallback]
    assert [t.values for t in fast] == [t.values for t in public]


def test_trial_actor_node_is_where_the_actor_says_it_runs(ray_address: str) -> None:
    import ray

    @ray.remote(num_cpus=0)
    class Where:
        def where(self) -> tuple[str, str]:
            return ray.util.get_node_ip_address(), ray.get_runtime_context().get_node_id()

    actor = Where.remote()  # type: ignore[attr-defined]
    ip, node_id = ray.get(actor.where.remote())
    trial = SimpleNamespace(trial_id="t", temporary_state=SimpleNamespace(ray_actor=actor))
    assert ray_private.trial_actor_node(trial) == ray_private.ActorNode(ip, node_id)
    ray.kill(actor)


def test_trial_actor_node_is_none_when_ray_cannot_say() -> None:
    assert ray_private.trial_actor_node(SimpleNamespace(trial_id="t")) is None
