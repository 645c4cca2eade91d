"""The trained weights file a trial kept, for a client to download."""

from __future__ import annotations

from sqlalchemy import Engine

from search.errors import NotFound
from search.records import repository as repo
from search.records.db import read_scope
from search.records.export import pick_trial
from search.records.storage import StoredFile, find_weights


def weights_file(engine: Engine, ref: str | int, number: int | None = None) -> StoredFile:
    """The weights file of trial ``number`` (the best trial when None), wherever the runs
    location keeps it; NotFound when it kept none, StorageUnavailable when its store does not
    answer."""
    with read_scope(engine) as s:
        search = repo.resolve_search(s, ref)
        trial = pick_trial(s, search, number)
        found, checkpoint, number = find_weights(trial.checkpoint), trial.checkpoint, trial.number
        search_id = search.id
    if found is None:
        where = checkpoint or "no checkpoint was recorded"
        raise NotFound(f"trial {number} of search {search_id} kept no weights ({where})")
    return found
