"""Leaderboard filters on a trial's sampled values: ``training.lr:0.01..0.1`` (a numeric range,
both ends inclusive, either end may be left out) or ``cells.main.kind=rgc,lstm`` (one of these
values). The label is one of the search's searched parameters; a trial that did not sample it (a
conditional parameter whose condition was off) matches no filter on it.

One parser and one SQL rule for every way in: the API's ``param`` query, the CLI's ``--param``,
the search page's brushing and its form.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, String, and_, literal
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement

from search.errors import InvalidRequest
from search.records.db import Search, Trial
from search.records.lru import LRU
from space.describe import param_domains
from space.params import Boolean, Categorical, FloatRange, IntRange, Scalar, SearchDomain
from space.spec import spec_from_data

MAX_PARAM_FILTERS = 32
MAX_FILTER_TEXT = 1000
FIELD = "param"
RANGE_SEP = ".."


@dataclass(frozen=True)
class ParamFilter:
    """A checked filter: a numeric range (``low``/``high``, None: open) or a set of values."""

    label: str
    low: float | None = None
    high: float | None = None
    values: tuple[Scalar, ...] | None = None

    def clause(self) -> ColumnElement[bool]:
        if self.values is not None:
            texts = [json.dumps(v, ensure_ascii=False) for v in self.values]
            return JsonText(Trial.params, self.label).in_(texts)
        value = Trial.params[self.label].as_float()
        parts = [value.is_not(None)]
        if self.low is not None:
            parts.append(value >= self.low)
        if self.high is not None:
            parts.append(value <= self.high)
        return and_(*parts)


def show(value: Scalar) -> str:
    """A choice as a filter writes it: true/false, null, the number or the text."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def numeric(domain: SearchDomain) -> bool:
    """Whether a range filter applies: int and float ranges, and choices of numbers only."""
    if isinstance(domain, (IntRange, FloatRange)):
        return True
    if isinstance(domain, Categorical):
        return all(_is_number(c) for c in domain.choices)
    return False


# An integer range this short reads as its values (a set filter; one cell each in a plot).
FEW_VALUES = 12


def choices(domain: SearchDomain) -> tuple[Scalar, ...] | None:
    """The values a set filter picks from (None for a range of numbers)."""
    if isinstance(domain, Boolean):
        return (False, True)
    if isinstance(domain, Categorical):
        return domain.choices
    if isinstance(domain, IntRange) and (domain.size() or 0) <= FEW_VALUES:
        return domain.values()
    return None


def parse_filters(
    texts: Sequence[str], domains: Mapping[str, SearchDomain]
) -> tuple[ParamFilter, ...]:
    """Check every filter of a request (InvalidRequest naming ``param`` and the value)."""
    if len(texts) > MAX_PARAM_FILTERS:
        raise InvalidRequest.field(FIELD, f"at most {MAX_PARAM_FILTERS} filters", len(texts))
    return tuple(parse_filter(text, domains) for text in texts)


def parse_filter(text: str, domains: Mapping[str, SearchDomain]) -> ParamFilter:
    if len(text) > MAX_FILTER_TEXT:
        raise InvalidRequest.field(FIELD, f"at most {MAX_FILTER_TEXT} characters", text[:40])
    # Labels hold dots and '->' (never ':' nor '='): the longest label the text starts with.
    found = [
        label
        for label in domains
        if text.startswith(label) and text[len(label) : len(label) + 1] in (":", "=")
    ]
    if not found:
        known = ", ".join(list(domains)[:30]) or "none: this search samples no parameter"
        raise InvalidRequest.field(
            FIELD, f"write LABEL:LOW..HIGH or LABEL=V1,V2 with a searched parameter ({known})", text
        )
    label = max(found, key=len)
    sign, rest = text[len(label)], text[len(label) + 1 :]
    domain = domains[label]
    if sign == ":":
        return _range(label, rest, domain, text)
    return _values(label, rest, domain, text)


def _range(label: str, rest: str, domain: SearchDomain, text: str) -> ParamFilter:
    if not numeric(domain):
        raise InvalidRequest.field(
            FIELD, f"{label} is not numeric ({domain.describe()}): write {label}=V1,V2", text
        )
    if rest.count(RANGE_SEP) != 1:
        raise InvalidRequest.field(FIELD, "a range is LOW..HIGH (either may be empty)", text)
    low_text, high_text = rest.split(RANGE_SEP)
    low, high = _bound(low_text, text), _bound(high_text, text)
    if low is not None and high is not None and low > high:
        raise InvalidRequest.field(FIELD, "the range's low end is above its high end", text)
    return ParamFilter(label, low=low, high=high)


def _bound(part: str, text: str) -> float | None:
    if not part.strip():
        return None
    try:
        value = float(part)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise InvalidRequest.field(FIELD, f"not a finite number: {part!r}", text)
    return value


def _values(label: str, rest: str, domain: SearchDomain, text: str) -> ParamFilter:
    allowed = choices(domain)
    if allowed is None:
        raise InvalidRequest.field(
            FIELD, f"{label} is a range ({domain.describe()}): write {label}:LOW..HIGH", text
        )
    by_text = {show(c): c for c in allowed}
    wanted = [part.strip() for part in rest.split(",") if part.strip()]
    unknown = [w for w in wanted if w not in by_text]
    if unknown or not wanted:
        raise InvalidRequest.field(
            FIELD,
            f"{label} takes {', '.join(by_text)}; not {', '.join(unknown) or 'nothing'}",
            text,
        )
    return ParamFilter(label, values=tuple(dict.fromkeys(by_text[w] for w in wanted)))


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


class JsonText(FunctionElement[str]):
    """The JSON text of one key of a JSON column (``"rgc"``, ``4``, ``true``, ``null``; NULL when
    the key is absent): a set filter compares it with each value's JSON, whatever the type. The
    key is a bound parameter (so the cached statement fits every key)."""

    type = String()
    inherit_cache = True

    def __init__(self, column: Any, key: str):
        super().__init__(column, literal(key, String()))


@compiles(JsonText, "sqlite")
def _sqlite_text(element: JsonText, compiler: Any, **kw: Any) -> str:
    column, key = (compiler.process(c, **kw) for c in element.clauses)
    # (a bare text key would be read as a path: dots in a label would descend)
    return f"({column} -> ('$.\"' || {key} || '\"'))"


@compiles(JsonText, "postgresql")
def _postgres_text(element: JsonText, compiler: Any, **kw: Any) -> str:
    column, key = (compiler.process(c, **kw) for c in element.clauses)
    return f"(({column} -> {key})::text)"


_DOMAINS: LRU[dict[str, SearchDomain]] = LRU(64)


def search_domains(search: Search) -> dict[str, SearchDomain]:
    """The searched parameters of a stored search (its spec, validated once per process: a
    spec never changes once stored, and the study name is unique per search)."""
    return _DOMAINS.get(
        search.study_name,
        lambda: param_domains(spec_from_data(search.spec, source=f"search {search.id}")),
    )
