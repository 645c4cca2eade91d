"""Notes: set, replace or clear the markdown note on a search or on a trial."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Depends, Path
from pydantic import BaseModel, ConfigDict, Field

from api.deps import MAX_ID, Engine_, Ref
from api.problems import responses
from api.security import write_access
from search import service
from search.service import MAX_NOTE_CHARS, SearchOut, TrialDetail

router = APIRouter(prefix="/searches/{ref}", tags=["notes"], dependencies=[Depends(write_access)])


class NoteIn(BaseModel):
    """The new note. Required, even to clear it: a misspelt field must not clear a note."""

    model_config = ConfigDict(extra="forbid")

    # The bound is documented here and checked by the service (its message on every way in).
    note: str | None = Field(
        description="Markdown; null, empty or blank clears the note",
        json_schema_extra={"maxLength": MAX_NOTE_CHARS},
    )


EXAMPLE = {"note": "## Why it wins\n\nThe **feedback edge** from conv3 to conv2 (see trial 17)."}
Note_ = Annotated[NoteIn, Body(openapi_examples={"markdown": {"value": EXAMPLE}})]


@router.put(
    "/note",
    response_model=SearchOut,
    responses=responses(401, 403, 404, 422),
    summary="Set, replace or clear (null) the search's markdown note",
)
def put_search_note(engine: Engine_, ref: Ref, body: Note_) -> SearchOut:
    return service.set_search_note(engine, ref, body.note)


@router.put(
    "/trials/{number}/note",
    response_model=TrialDetail,
    responses=responses(401, 403, 404, 422),
    summary="Set, replace or clear (null) the trial's markdown note",
)
def put_trial_note(
    engine: Engine_, ref: Ref, number: Annotated[int, Path(ge=0, le=MAX_ID)], body: Note_
) -> TrialDetail:
    return service.set_trial_note(engine, ref, number, body.note)
