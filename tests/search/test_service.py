"""The service layer on a real database (both backends): the public schema and its rules."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from search import service as svc
from search.records.db import Search, Trial, TrialMetric, session_scope, utcnow
from space.arch import load_arch
from space.status import SearchStatus
from tests.search.search_helpers import spec_data
from tests.search.service_helpers import populate


def test_submit_stores_a_queued_search_and_get_finds_it(engine: Engine) -> None:
    out = svc.submit(engine, spec_data(name="alpha"))
    assert out.status == SearchStatus.QUEUED and out.requested == 4 and out.finished == 0
    assert out.objectives[0].metric == "val_acc" and out.objectives[0].goal == "max"
    assert svc.get_search(engine, "alpha").id == out.id == svc.get_search(engine, out.id).id
    text = "name: beta\n" + "\n".join(
        f"{k}: {json.dumps(v)}" for k, v in spec_data().items() if k != "name"
    )
    assert svc.submit(engine, text, source="beta.yaml").name == "beta"


def test_submit_refuses_an_invalid_spec_naming_every_field(engine: Engine) -> None:
    data = spec_data()
    data["classes"] = 1
    data["search"]["trials"] = 0
    with pytest.raises(svc.InvalidRequest) as info:
        svc.submit(engine, data)
    paths = {p.path for p in info.value.problems}
    assert {"classes", "search.trials"} <= paths
    with session_scope(engine) as s:
        assert s.scalar(select(func.count()).select_from(Search)) == 0


def test_submit_refuses_a_missing_dataset_file(engine: Engine, tmp_path: Path) -> None:
    data = spec_data()
    data["dataset"] = {"name": "npz", "path": str(tmp_path / "nope.npz")}
    with pytest.raises(svc.InvalidRequest) as info:
        svc.submit(engine, data)
    assert info.value.problems[0].path.startswith("dataset")
    checked = svc.validate_spec(data)
    assert not checked.ok and checked.errors[0].path.startswith("dataset")
    assert svc.validate_spec(data, check_data=False).ok


def test_validate_describes_a_good_spec() -> None:
    out = svc.validate_spec(spec_data())
    assert out.ok and out.errors == [] and out.searched_parameters == 3
    assert out.architectures is not None and out.architectures >= 2
    bad = svc.validate_spec("name: x\nclasses: [1\n", source="x.yaml")
    assert not bad.ok and bad.errors[0].line is not None


def test_list_paginates_and_filters(engine: Engine) -> None:
    ids = [svc.submit(engine, spec_data(name=n)).id for n in ("a", "b", "a")]
    page = svc.list_searches(engine, limit=2)
    assert page.total == 3 and [s.id for s in page.items] == ids[::-1][:2]
    assert [s.id for s in svc.list_searches(engine, limit=2, offset=2).items] == [ids[0]]
    assert svc.list_searches(engine, name="a").total == 2
    svc.cancel(engine, ids[1])
    assert [s.id for s in svc.list_searches(engine, status="cancelled").items] == [ids[1]]
    for field, kwargs in (("status", {"status": "nope"}), ("limit", {"limit": 0})):
        with pytest.raises(svc.InvalidRequest) as info:
            svc.list_searches(engine, **kwargs)  # type: ignore[arg-type]
        assert info.value.problems[0].path == field


def test_a_populated_search_shows_counts_and_best_values(engine: Engine) -> None:
    sid = populate(engine)
    out = svc.get_search(engine, sid)
    assert (out.finished, out.failed, out.running) == (3, 1, 0)
    assert out.counts == {"completed": 2, "failed": 1}
    assert out.val_acc == 0.9 and out.best == [0.9]


def test_leaderboard_pages_sorts_and_names_bad_fields(engine: Engine) -> None:
    sid = populate(engine)
    page = svc.trials(engine, sid)
    assert page.sort == "-val_acc" and page.total == 2
    assert [(t.rank, t.trial) for t in page.items] == [(1, 1), (2, 0)]
    every = svc.trials(engine, sid, svc.TrialQuery(status="all", limit=1, offset=2))
    assert every.total == 3 and [t.trial for t in every.items] == [2]
    assert every.items[0].rank == 3 and every.items[0].error == "RuntimeError: boom"
    by_params = svc.trials(engine, sid, svc.TrialQuery(sort="+number"))
    assert [t.trial for t in by_params.items] == [0, 1]
    smallest = min(t.params or 0 for t in page.items)
    capped = svc.trials(engine, sid, svc.TrialQuery(params_max=smallest))
    assert all((t.params or 0) <= smallest for t in capped.items) and capped.total >= 1
    cases = {"sort": {"sort": "bogus"}, "status": {"status": "done"}, "limit": {"limit": 0}}
    for field, kwargs in cases.items():
        with pytest.raises(svc.InvalidRequest) as info:
            svc.trials(engine, sid, svc.TrialQuery(**kwargs))  # type: ignore[arg-type]
        [problem] = info.value.problems
        assert problem.path == field and "--" not in problem.message


def test_trial_detail_has_history_per_step_accuracy_and_rank(engine: Engine) -> None:
    sid = populate(engine)
    best = svc.trial(engine, sid, 1)
    assert best.rank == 1 and best.val_acc == 0.9 and best.sampled == {"training.lr": 0.2}
    assert [e.epoch for e in best.history] == [1, 2]
    assert best.history[-1].val_acc_per_step == [0.1, 0.9]
    assert best.arch["layers"] and best.has_weights is False
    assert svc.trial(engine, sid, 2).rank is None
    with pytest.raises(svc.NotFound, match="no trial number 7"):
        svc.trial(engine, sid, 7)
    with pytest.raises(svc.NotFound, match="no search with id 99"):
        svc.trial(engine, 99, 0)


def test_pareto_of_one_objective_is_the_best(engine: Engine) -> None:
    sid = populate(engine)
    with session_scope(engine) as s:
        s.execute(Trial.__table__.update().where(Trial.number == 1).values(pareto=True))
    assert [t.trial for t in svc.pareto(engine, sid).items] == [1]


def test_export_writes_a_loadable_document(engine: Engine, tmp_path: Path) -> None:
    sid = populate(engine)
    out = svc.export(engine, sid, fmt="json", output=tmp_path / "best.json")
    assert (
        out.trial == 1
        and load_arch(tmp_path / "best.json").arch_hash == out.document["provenance"]["arch_hash"]
    )
    assert svc.export(engine, sid, number=0).document["provenance"]["trial"]["number"] == 0
    problems = {
        "output": {"output": tmp_path},
        "format": {"fmt": "xml"},
        "weights": {"weights": True},
    }
    for field, kwargs in problems.items():
        with pytest.raises(svc.InvalidRequest) as info:
            svc.export(engine, sid, **kwargs)  # type: ignore[arg-type]
        assert info.value.problems[0].path == field
    with pytest.raises(svc.NotFound, match="kept no weights"):
        svc.export(engine, sid, output=tmp_path / "w.yaml", weights=True)


def test_cancel_resume_rules(engine: Engine) -> None:
    sid = svc.submit(engine, spec_data()).id
    assert "already queued" in svc.resume(engine, sid).message
    done = svc.cancel(engine, sid)
    assert done.search is not None and done.search.status == SearchStatus.CANCELLED
    with pytest.raises(svc.Conflict, match="cancelled"):
        svc.resume(engine, sid)
    other = svc.submit(engine, spec_data()).id
    _set(engine, other, status=SearchStatus.RUNNING, heartbeat_at=utcnow(), runner="elsewhere:1")
    with pytest.raises(svc.Conflict, match="being driven by elsewhere:1"):
        svc.resume(engine, other)
    assert svc.get_search(engine, other).driver_lost is False
    again = svc.resume(engine, other, force=True)
    assert again.search is not None and again.search.status == SearchStatus.QUEUED
    stale = utcnow() - timedelta(minutes=5)
    _set(engine, other, status=SearchStatus.RUNNING, heartbeat_at=stale, runner="elsewhere:1")
    lost = svc.get_search(engine, other)
    assert lost.driver_lost and lost.heartbeat_age is not None and lost.heartbeat_age >= 299
    assert svc.resume(engine, other).search is not None


def test_delete_removes_trials_and_refuses_a_live_search(engine: Engine) -> None:
    sid = populate(engine)
    keep = populate(engine, name="keep")
    _set(engine, sid, status=SearchStatus.RUNNING, heartbeat_at=utcnow(), runner="elsewhere:1")
    with pytest.raises(svc.Conflict, match="running"):
        svc.delete(engine, sid)
    _set(engine, sid, status=SearchStatus.INTERRUPTED)
    assert svc.delete(engine, sid).message == f"search {sid} deleted"
    with session_scope(engine) as s:
        assert s.scalar(select(func.count()).select_from(Trial)) == 3  # the other search's
        assert s.scalar(select(func.count()).select_from(TrialMetric)) == 4
    with pytest.raises(svc.NotFound):
        svc.get_search(engine, sid)
    assert svc.get_search(engine, keep).finished == 3


def _set(engine: Engine, search_id: int, **values: object) -> None:
    with session_scope(engine) as s:
        s.execute(Search.__table__.update().where(Search.id == search_id).values(**values))


def test_presets() -> None:
    names = [p.name for p in svc.presets()]
    assert "rgc_shallow" in names and len(names) >= 14
    detail = svc.preset("rgc_shallow")
    assert detail.params > 0 and detail.arch["layers"] and detail.cost["params"] == detail.params
    with pytest.raises(svc.NotFound, match="valid presets"):
        svc.preset("../etc/passwd")


def test_importing_the_service_loads_neither_torch_nor_ray() -> None:
    code = (
        "import sys, search.service, search.records.lifecycle\n"
        "heavy = [m for m in ('torch', 'ray', 'workers.loop', 'optuna') if m in sys.modules]\n"
        "print(','.join(heavy))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == ""
