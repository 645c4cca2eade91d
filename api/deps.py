"""What routes receive: the engine, the settings, a spec body, a search reference."""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Path, Query, Request
from sqlalchemy import Engine

from api.problems import ApiProblem
from api.settings import ApiSettings
from search.service import MAX_OFFSET, InvalidRequest, NotFound, ProblemOut, create_db_engine
from space.document import parse_document
from space.errors import Problem, SpecError
from space.spec import SearchSpec, spec_from_data

# Media types a spec body may have (JSON is read by the same bounded parser: JSON is YAML).
SPEC_TYPES = ("application/json", "application/yaml", "application/x-yaml", "text/yaml")
# Ids are 32-bit in every backend: a larger number names no search (and must not reach SQL).
MAX_ID = 2**31 - 1
BODY_SOURCE = "request body"


class EngineHolder:
    """The app's engine, created (and the schema migrated) on first use, so that a database
    that is down at start is reported per request (503) and by /health, not by a crash."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._engine: Engine | None = None
        self._lock = threading.Lock()

    def get(self) -> Engine:
        with self._lock:
            if self._engine is None:
                self._engine = create_db_engine(self.url)
            return self._engine

    def dispose(self) -> None:
        with self._lock:
            if self._engine is not None:
                self._engine.dispose()
                self._engine = None


def get_settings(request: Request) -> ApiSettings:
    settings: ApiSettings = request.app.state.settings
    return settings


def get_engine(request: Request) -> Engine:
    holder: EngineHolder = request.app.state.engine
    return holder.get()


def search_ref(
    ref: Annotated[str, Path(description="A search's id, or its name (the latest of that name)")],
) -> str:
    text = ref.strip()
    if text.isdigit() and (not text.isascii() or int(text) > MAX_ID):
        raise NotFound(f"no search with id {text}")
    return text


def no_nul(request: Request) -> None:
    """No parameter may hold a NUL character: PostgreSQL cannot store or compare one."""
    for where in (request.path_params, request.query_params):
        for name, value in where.items():
            if isinstance(value, str) and "\x00" in value:
                raise InvalidRequest.field(name, "must not contain a NUL character", value)


@dataclass(frozen=True)
class SpecBody:
    """A spec request body: its text, and whether it was sent as JSON."""

    text: str
    is_json: bool


async def spec_body(request: Request) -> SpecBody:
    """A spec body as text: JSON or YAML, read within the body limit (see BodyLimit)."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media not in SPEC_TYPES:  # none: what a cross-site page's typeless Blob sends
        given = f"not {media[:100]}" if media else "and name it in a Content-Type header"
        raise ApiProblem(415, f"send the spec as {' or '.join(SPEC_TYPES)} ({given})")
    body = await request.body()
    try:
        return SpecBody(body.decode("utf-8"), media == "application/json")
    except UnicodeDecodeError as exc:
        problem = ProblemOut(path="", message=f"the body is not UTF-8 text ({exc.reason})")
        raise ApiProblem(422, "the request has 1 problem", errors=[problem]) from None


def parse_spec(body: SpecBody) -> SearchSpec:
    """The validated spec of a body (SpecError with every problem, lines included).

    Both kinds go through the bounded parser first (its limits, duplicate keys, the line of
    every field). A JSON body's values are then read by JSON's rules: YAML 1.1 reads ``1e-05``,
    which ``json.dumps`` writes, as a string, and a JSON client must get the numbers it sent.
    """
    data, lines = parse_document(body.text, BODY_SOURCE, spec=True)
    if body.is_json:
        data = _json_values(body.text)
    return spec_from_data(data, BODY_SOURCE, lines)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _json_values(text: str) -> Any:
    try:
        return json.loads(text, parse_constant=_refuse_constant)
    except json.JSONDecodeError as exc:
        problem = Problem("", f"not valid JSON: {exc.msg}", line=exc.lineno, source=BODY_SOURCE)
    except (ValueError, RecursionError) as exc:  # NaN, Infinity, a 5,000-digit integer
        problem = Problem("", f"not valid JSON: {exc}", source=BODY_SOURCE)
    raise SpecError([problem])


Engine_ = Annotated[Engine, Depends(get_engine)]
Settings_ = Annotated[ApiSettings, Depends(get_settings)]
Ref = Annotated[str, Depends(search_ref)]
SpecBody_ = Annotated[SpecBody, Depends(spec_body)]

# A page's bounds: documented here, checked by the service
# (search.records.leaderboard.check_page) so that every way in says the same; MAX_PAGE is this
# server's own limit, checked here.
MAX_PAGE = 10_000
Limit = Annotated[int, Query(le=MAX_PAGE, json_schema_extra={"minimum": 1})]
Offset = Annotated[int, Query(json_schema_extra={"minimum": 0, "maximum": MAX_OFFSET})]


def one_of(values: Sequence[str], description: str) -> Any:
    """A query parameter documented as an enum, checked by the service (its message names the
    choices, the same on every way in)."""
    return Query(description=description, json_schema_extra={"enum": list(values)})


SPEC_EXAMPLE: dict[str, Any] = {
    "name": "tiny",
    "dataset": {"name": "digits", "limit": 300},
    "input": {"size": 8, "channels": 1},
    "classes": 10,
    "layers": [
        {"name": "conv1", "channels": {"choice": [4, 8]}, "kernel": 3, "pool": 2,
         "cell": {"kind": "timedecay"}},
    ],
    "time": {"steps": 3},
    "training": {"lr": {"float": [0.02, 0.2], "log": True}, "batch_size": 32, "epochs": 2},
    "objectives": [{"metric": "val_acc", "goal": "max"}],
    "search": {"trials": 4, "concurrency": 2, "sampler": "tpe", "seed": 0},
}  # fmt: skip
SPEC_YAML_EXAMPLE = """\
name: tiny
dataset: {name: digits, limit: 300}
input: {size: 8, channels: 1}
classes: 10
layers:
  - {name: conv1, channels: {choice: [4, 8]}, kernel: 3, pool: 2, cell: {kind: timedecay}}
time: {steps: 3}
training: {lr: {float: [0.02, 0.2], log: true}, batch_size: 32, epochs: 2}
search: {trials: 4, concurrency: 2, sampler: tpe, seed: 0}
"""

# The request body of POST /searches and /spaces/validate in OpenAPI: the body is read raw (so
# that YAML and JSON share one bounded parser and its line numbers), hence declared by hand.
SPEC_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "A search spec (convnas.spec/1) as JSON, or as YAML text",
        "content": {
            "application/json": {
                "schema": {"$ref": "#/components/schemas/SearchSpec"},
                "examples": {"tiny": {"summary": "A tiny digits search", "value": SPEC_EXAMPLE}},
            },
            "application/yaml": {
                "schema": {"type": "string"},
                "examples": {"tiny": {"summary": "The same in YAML", "value": SPEC_YAML_EXAMPLE}},
            },
        },
    }
}
