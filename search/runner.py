"""Running searches in this process: the runner side of the service layer.

The service only moves records between states; running one takes Ray and the Optuna study, and
happens here (``convnas search run|resume`` today, a long-lived ``convnas runner`` later). Every
check that can fail without spending anything (the Ray address, the runs folder, a writable
database, the spec and its dataset) happens before a search is recorded or claimed.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine

from search import service
from search.driver import RunOutcome, run_search
from search.preflight import check_run_inputs
from space.spec import SearchSpec

if TYPE_CHECKING:
    from search.tune_adapters import Reporter

Announce = Callable[[service.SearchOut, SearchSpec], None]


def start(
    engine: Engine,
    document: service.SpecInput,
    *,
    ray_address: str | None = None,
    runs_dir: Path | None = None,
    reporter: Reporter | None = None,
    announce: Announce | None = None,
) -> RunOutcome:
    """Check the run's inputs, record ``document`` as a new search and drive it to its end."""
    spec = service.load(document)
    address, runs = check_run_inputs(engine, ray_address, runs_dir)
    search = service.submit(engine, spec, ray_address=ray_address)
    if announce is not None:
        announce(search, spec)
    return run_search(engine, search.id, ray_address=address, runs_dir=runs, reporter=reporter)


def resume(
    engine: Engine,
    ref: str | int,
    *,
    force: bool = False,
    ray_address: str | None = None,
    runs_dir: Path | None = None,
    reporter: Reporter | None = None,
) -> RunOutcome:
    """Queue a stopped search again (the service's rules) and drive it here."""
    address, runs = check_run_inputs(engine, ray_address, runs_dir)
    queued = service.resume(engine, ref, force=force).search
    assert queued is not None  # resume returns the search it queued
    return run_search(engine, queued.id, ray_address=address, runs_dir=runs, reporter=reporter)
