"""Notes: a researcher's markdown note on a search or on a trial, set, replaced or cleared.

A note is written with an UPDATE of its one column: a running search's driver writes the same
rows meanwhile (heartbeats, epochs, outcomes), and nothing of what it wrote may be undone by a
note, nor a note by it.
"""

from __future__ import annotations

from sqlalchemy import Engine, update

from search.errors import InvalidRequest
from search.records import repository as repo
from search.records.db import Search, Trial, session_scope
from search.service.schemas import SearchOut, TrialDetail
from search.service.searches import get_search
from search.service.trials import trial

# A note is prose about a result, not a data store: a page renders it whole on every visit.
MAX_NOTE_CHARS = 20_000


def checked_note(note: str | None) -> str | None:
    """The note to store, or None to clear it (None, empty or only whitespace); InvalidRequest
    naming ``note`` for one that is too long or that a database cannot store alike."""
    if note is None or not note.strip():
        return None
    if len(note) > MAX_NOTE_CHARS:
        message = f"too long: {len(note):,} characters (limit MAX_NOTE_CHARS = {MAX_NOTE_CHARS:,})"
        raise InvalidRequest.field("note", message, note)
    if "\x00" in note:  # PostgreSQL stores no NUL; SQLite would
        raise InvalidRequest.field("note", "must not contain a NUL character", note)
    try:
        note.encode("utf-8")
    except UnicodeEncodeError as exc:
        # Not echoed: the value itself cannot be written as UTF-8, in a response either.
        message = f"must be Unicode text (character {exc.start + 1} is a lone surrogate)"
        raise InvalidRequest.field("note", message) from None
    return note


def set_search_note(engine: Engine, ref: str | int, note: str | None) -> SearchOut:
    """Set, replace or clear (None or blank) a search's note; the search as it is now."""
    text = checked_note(note)
    with session_scope(engine) as s:
        search_id = repo.resolve_search(s, ref).id
        s.execute(update(Search).where(Search.id == search_id).values(note=text))
    return get_search(engine, search_id)


def set_trial_note(engine: Engine, ref: str | int, number: int, note: str | None) -> TrialDetail:
    """Set, replace or clear (None or blank) a trial's note; the trial as it is now."""
    text = checked_note(note)
    with session_scope(engine) as s:
        search_id = repo.resolve_search(s, ref).id
        trial_id = repo.get_trial(s, search_id, number).id
        s.execute(update(Trial).where(Trial.id == trial_id).values(note=text))
    return trial(engine, search_id, number)
