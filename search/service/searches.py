"""Searches: validate a spec, submit it, list, get, cancel, resume (requeue) and delete.

Running a search is the runner's job (``search.run.driver``); the service only moves records between
states, under the same rules for every way in.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import undefer

from search.errors import Conflict, InvalidRequest
from search.records import repository as repo
from search.records.db import Search, read_scope, session_scope
from search.records.leaderboard import check_page
from search.records.lifecycle import create_search, driver_is_alive
from search.records.storage import remove_search_folder
from search.service.schemas import (
    ActionOut,
    ObjectiveOut,
    ProblemOut,
    SearchOut,
    SearchPage,
    ValidationOut,
)
from search.service.views import search_out, search_outs
from space.budget import feasibility_warning
from space.describe import describe
from space.errors import Problem, SpecError, capped
from space.paths import Roots, path_problems
from space.spec import SearchSpec, load_spec, spec_from_data, spec_from_text
from space.status import SearchStatus
from workers.neural.check import neural_data_problems

SpecInput = SearchSpec | str | Mapping[str, Any] | Path


def load(document: SpecInput, source: str = "<spec>") -> SearchSpec:
    """A validated spec from a file, YAML/JSON text, or parsed data (InvalidRequest if not)."""
    try:
        if isinstance(document, SearchSpec):
            return document
        if isinstance(document, Path):
            return load_spec(document)
        if isinstance(document, str):
            return spec_from_text(document, source=source)
        return spec_from_data(dict(document), source=source)
    except SpecError as exc:
        raise InvalidRequest(exc.problems) from None


def dataset_problems(spec: SearchSpec, data_roots: Roots | None = None) -> list[Problem]:
    """Whether the spec's dataset (and neural data) exists and fits it, checked without
    loading it.

    ``data_roots`` (a server's; None: the local user, unconfined): no file is read before every
    path the spec names resolves inside them, and the checks open only what they confirmed.
    The check is torch-free; it lives with the loaders so that one module knows each format.
    A searched input size or channel count is checked by each trial instead.
    """
    from workers.data.check import check_dataset

    if data_roots is not None and (refused := path_problems(spec, data_roots)):
        return refused
    neural = neural_data_problems(spec, data_roots)  # the neural fit's data file, if any
    size, channels = _fixed(spec.input.size), _fixed(spec.input.channels)
    if size is None or channels is None:
        return neural
    problems = check_dataset(
        spec.dataset, input_size=size, channels=channels, classes=spec.classes, roots=data_roots
    )
    return problems + neural


def _file_problems(spec: SearchSpec, check_data: bool, data_roots: Roots | None) -> list[Problem]:
    """The files' problems: confinement always (when confined), their contents on request."""
    if check_data:
        return dataset_problems(spec, data_roots)
    return path_problems(spec, data_roots) if data_roots is not None else []


def _fixed(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def validate_spec(
    document: SpecInput,
    *,
    source: str = "<spec>",
    check_data: bool = True,
    data_roots: Roots | None = None,
) -> ValidationOut:
    """Every problem of a spec, or its description (size of the space) and warnings.

    ``data_roots``: the folders a server serves files from (None: unconfined, the local CLI).
    """
    try:
        spec = load(document, source)
        problems = _file_problems(spec, check_data, data_roots)
    except SpecError as exc:
        problems = exc.problems
    if problems:
        errors = [problem_out(p) for p in capped(problems)]  # a response stays small
        return ValidationOut(ok=False, errors=errors, warnings=[])
    info = describe(spec)
    warning = feasibility_warning(spec)
    return ValidationOut(
        ok=True,
        errors=[],
        warnings=[warning] if warning else [],
        name=spec.name,
        layers=len(spec.layers),
        searched_parameters=len(info.params),
        architectures=info.arch_count,
        exact=info.exact,
        summary=info.summary(),
        dataset=spec.dataset.to_ref(),
        trials=spec.search.trials,
        concurrency=spec.search.concurrency,
        sampler=spec.search.sampler,
        scheduler=spec.scheduler,
        objectives=[ObjectiveOut(metric=o.metric, goal=o.direction) for o in spec.objectives],
    )


def problem_out(problem: Problem) -> ProblemOut:
    """A problem as the schema has it (``value`` only when the problem names one)."""
    return ProblemOut.model_validate(problem.to_dict())


def submit(
    engine: Engine,
    document: SpecInput,
    *,
    source: str = "<spec>",
    ray_address: str | None = None,
    check_data: bool = True,
    data_roots: Roots | None = None,
) -> SearchOut:
    """Validate a spec (and its dataset) and store it as a queued search.

    ``data_roots`` (a server's, resolved; None: the local user, unconfined) are stored with the
    search: its workers confine every file they open to them again (a file swapped for a
    symlink after this check is refused there).
    """
    spec = load(document, source)
    if problems := _file_problems(spec, check_data, data_roots):
        raise InvalidRequest(problems)
    search_id = create_search(engine, spec, ray_address=ray_address, data_roots=data_roots)
    return get_search(engine, search_id)


def list_searches(
    engine: Engine,
    *,
    status: str | None = None,
    name: str | None = None,
    limit: int | None = None,
    offset: int = 0,
) -> SearchPage:
    """Searches newest first, optionally one status or one name, a page at a time."""
    check_page(limit, offset)
    query = select(Search).options(undefer(Search.recoveries), undefer(Search.note))
    if status is not None:
        query = query.where(Search.status == _search_status(status))
    if name is not None:
        query = query.where(Search.name == name)
    with read_scope(engine) as s:
        total = int(s.scalar(select(func.count()).select_from(query.subquery())) or 0)
        page = query.order_by(Search.id.desc()).offset(offset)
        rows = list(s.scalars(page.limit(limit) if limit is not None else page))
        items = search_outs(s, rows) if rows else []
    return SearchPage(total=total, limit=limit, offset=offset, items=items)


def _search_status(status: str) -> SearchStatus:
    try:
        return SearchStatus(status)
    except ValueError:
        choices = ", ".join(SearchStatus)
        message = f"unknown status; choose from {choices}"
        raise InvalidRequest.field("status", message, status) from None


def get_search(engine: Engine, ref: str | int) -> SearchOut:
    """A search by id, or by name (the latest of that name)."""
    with read_scope(engine) as s:
        return search_out(s, repo.resolve_search(s, ref))


def cancel(engine: Engine, ref: str | int) -> ActionOut:
    """Stop a search: a running one's driver ends its trials; any other ends at once."""
    with session_scope(engine) as s:
        search = repo.resolve_search(s, ref)
        message = repo.request_cancel(s, search)
        s.flush()
        return ActionOut(message=message, search=search_out(s, search))


def resume(engine: Engine, ref: str | int, *, force: bool = False) -> ActionOut:
    """Queue a stopped search again so that a runner continues it where it stopped.

    Refused for a finished search and for one whose driver is alive (unless ``force``: the
    caller knows that process is gone).
    """
    with session_scope(engine) as s:
        search = repo.resolve_search(s, ref)
        _check_resumable(search, force)
        message = f"search {search.id} queued to resume"
        if search.status == SearchStatus.QUEUED:
            message = f"search {search.id} is already queued"
        search.status = SearchStatus.QUEUED
        search.cancel_requested = False
        s.flush()
        return ActionOut(message=message, search=search_out(s, search))


def _check_resumable(search: Search, force: bool) -> None:
    if search.status in (SearchStatus.SUCCEEDED, SearchStatus.CANCELLED):
        raise Conflict(f"search {search.id} ({search.name}) is {search.status}; nothing to run")
    if driver_is_alive(search) and not force:
        raise Conflict(
            f"search {search.id} is being driven by {search.runner}; cancel it, or resume with "
            "force if that process is gone"
        )


def delete(engine: Engine, ref: str | int) -> ActionOut:
    """Delete a search, its trials and its Optuna study; refused while it runs."""
    with session_scope(engine) as s:
        search = repo.resolve_search(s, ref)
        if search.status == SearchStatus.RUNNING and driver_is_alive(search):
            raise Conflict(f"search {search.id} is running; cancel it before deleting it")
        search_id, study, run_dir = search.id, search.study_name, search.run_dir
        s.delete(search)
    from search.records.studies import delete_study  # Optuna: only when deleting

    delete_study(engine, study)
    note = _delete_runs(search_id, run_dir)
    return ActionOut(message=f"search {search_id} deleted{note}", search=None)


def _delete_runs(search_id: int, run_dir: str | None) -> str:
    """Remove the search's runs folder (Tune's files, the trials' weights); what to add to the
    reply when it stays."""
    if run_dir is None:
        return ""
    why = remove_search_folder(run_dir, search_id)
    return "" if why is None else f"; its runs folder {run_dir} was left ({why})"
