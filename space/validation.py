"""pydantic ``ValidationError`` -> :class:`~space.errors.Problem` at the document's own paths.

pydantic names a discriminated union's member in error locations (``cell.rgc.cell_depth``);
users wrote ``cell.cell_depth``. The arch models register their unions' fields and tags here
(:func:`register_union`, called by :mod:`space.arch`) so this module needs no import of them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from space.errors import MISSING, LineMap, Problem, dotted
from space.params import TAG_PREFIX

_UNION_TAGS: dict[str, frozenset[str]] = {}


def register_union(field: str, tags: Iterable[str]) -> None:
    """Record that ``field`` holds a discriminated union tagged by ``tags`` (the spec's own
    unions mark their tags with ``TAG_PREFIX`` instead)."""
    _UNION_TAGS[field] = frozenset(tags)


def union_tags() -> dict[str, frozenset[str]]:
    """The registered union fields and their tags."""
    return dict(_UNION_TAGS)


def _clean_loc(loc: Sequence[str | int]) -> tuple[str | int, ...]:
    """Drop pydantic's union-member tags (``=choice``, ``rgc`` inside ``cell.rgc.depth``) and
    validator labels so paths match the document."""
    tags = _UNION_TAGS
    out: list[str | int] = []
    for part in loc:
        if isinstance(part, str) and (
            part.startswith(TAG_PREFIX) or "[" in part or part.startswith("function-")
        ):
            continue
        if out and out[-1] in tags and part in tags[str(out[-1])]:
            continue
        out.append(part)
    return tuple(out)


def _union_echoes(errors: Sequence[ErrorDetails]) -> set[int]:
    """Errors that only repeat a deeper one, at a path that another error extends: a union
    member's (``feedback.entry`` "not a literal" beside ``feedback.entry.choice.1``) and a
    sequence's length counted without its failed items (``layers`` "at least 1 item ... not 0"
    beside ``layers.0.kernel``)."""
    paths = [dotted(_clean_loc(err["loc"])) for err in errors]
    return {
        i
        for i, err in enumerate(errors)
        if (
            err["type"] == "too_short"
            or any(isinstance(part, str) and part.startswith(TAG_PREFIX) for part in err["loc"])
        )
        and any(j != i and other.startswith(paths[i] + ".") for j, other in enumerate(paths))
    }


# Error types whose input is shown even when it is a mapping: the mapping is what was wrong.
_SHOW_MAPPING = ("kind", "leaf", "union_tag_invalid", "model_type")


def errors_from_validation(
    exc: ValidationError,
    source: str | None = None,
    lines: LineMap | None = None,
    prefix: Sequence[str | int] = (),
    message: Callable[[ErrorDetails], str | None] | None = None,
) -> list[Problem]:
    """Turn a pydantic ``ValidationError`` into problems with document paths and lines.

    ``prefix`` locates the validated data inside the document; ``message`` may replace an
    error's message (return None to keep pydantic's).
    """
    problems: list[Problem] = []
    errors = exc.errors(include_url=False)
    echoes = _union_echoes(errors)
    for i, err in enumerate(errors):
        if i in echoes:
            continue
        loc = (*prefix, *_clean_loc(err["loc"]))
        text = (message and message(err)) or str(err["msg"]).removeprefix("Value error, ")
        value = err.get("input", MISSING) if err["type"] != "missing" else MISSING
        if isinstance(value, dict) and err["type"] not in _SHOW_MAPPING:
            value = MISSING
        line = lines.line_of(loc) if lines else None
        problems.append(Problem(dotted(loc), text, value, line, source))
    return problems
