"""The service's surface: the calls a client of the service makes, declared once.

:class:`Service` is what the CLI's search and trial commands call. Two things implement it: the
service on a local engine (:class:`LocalService`, every method the service function with the
engine bound, so no signature is written twice) and :class:`api.client.ApiClient` over HTTP.
mypy holds both to this Protocol where the CLI picks one (``api.commands.common.search_backend``).

A new operation with CLI parity: its function (``search/service/<topic>.py``), one method here,
one ``operation(...)`` line on :class:`LocalService`, its route and its ApiClient method.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any, Concatenate, Generic, ParamSpec, Protocol, TypeVar, overload

from sqlalchemy import Engine

from search.records.leaderboard import TrialQuery
from search.service import notes as _notes
from search.service import searches as _searches
from search.service import trials as _trials
from search.service.schemas import (
    ActionOut,
    ExportOut,
    LeaderboardPage,
    SearchOut,
    SearchPage,
    TrialDetail,
)

P = ParamSpec("P")
R = TypeVar("R")


class Service(Protocol):
    """The operations every way in reaches, local or remote: the same calls, models and
    errors (NotFound, Conflict, InvalidRequest), so a command formats either the same way."""

    def list_searches(
        self,
        *,
        status: str | None = None,
        name: str | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> SearchPage: ...

    def get_search(self, ref: str | int) -> SearchOut: ...

    def submit(self, document: Path) -> SearchOut: ...

    def cancel(self, ref: str | int) -> ActionOut: ...

    def resume(self, ref: str | int, *, force: bool = False) -> ActionOut: ...

    def delete(self, ref: str | int) -> ActionOut: ...

    def set_search_note(self, ref: str | int, note: str | None) -> SearchOut: ...

    def trials(self, ref: str | int, query: TrialQuery = TrialQuery()) -> LeaderboardPage: ...

    def trial(self, ref: str | int, number: int) -> TrialDetail: ...

    def set_trial_note(self, ref: str | int, number: int, note: str | None) -> TrialDetail: ...

    def export(
        self,
        ref: str | int,
        *,
        number: int | None = None,
        fmt: str = "yaml",
        output: Path | None = None,
        weights: bool = False,
    ) -> ExportOut: ...

    def close(self) -> None: ...


class operation(Generic[P, R]):  # lower case: used like property, in a class body
    """A service function ``fn(engine, ...)`` as a method of :class:`LocalService`, with the
    instance's engine bound: the method's signature is the function's, checked by mypy."""

    def __init__(self, fn: Callable[Concatenate[Engine, P], R]) -> None:
        self.fn = fn

    @overload
    def __get__(self, obj: None, owner: type) -> operation[P, R]: ...

    @overload
    def __get__(self, obj: LocalService, owner: type) -> Callable[P, R]: ...

    def __get__(self, obj: LocalService | None, owner: type) -> Any:
        if obj is None:
            return self
        return functools.partial(self.fn, obj.engine)


class LocalService:
    """:class:`Service` on one engine: the service functions themselves."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    list_searches = operation(_searches.list_searches)
    get_search = operation(_searches.get_search)
    submit = operation(_searches.submit)
    cancel = operation(_searches.cancel)
    resume = operation(_searches.resume)
    delete = operation(_searches.delete)
    set_search_note = operation(_notes.set_search_note)
    trials = operation(_trials.trials)
    trial = operation(_trials.trial)
    set_trial_note = operation(_notes.set_trial_note)
    export = operation(_trials.export)

    def close(self) -> None:
        """Nothing to release: the engine is the process's (search.records.db caches it)."""
