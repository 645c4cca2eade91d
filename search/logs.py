"""Log lines a log pipeline can read: with ``CONVNAS_LOG_FORMAT=json`` every line a process
logs is one JSON object (time, level, logger, message, and the ``search_id`` and ``trial`` it
concerns when known); unset or ``text``, Python's logging is left as it is.

The ids come from context (:func:`about`), not from each call: the driver process sets its
search, the Tune callbacks the trial of each event, the runner the search it claims or settles,
so a library's own warning inside that context carries them too.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime

_SEARCH: ContextVar[int | None] = ContextVar("convnas_search_id", default=None)
_TRIAL: ContextVar[int | None] = ContextVar("convnas_trial", default=None)
_HANDLER_NAME = "convnas-json"


@contextmanager
def about(search_id: int | None = None, trial: int | None = None) -> Iterator[None]:
    """Log records made inside carry ``search_id`` and ``trial`` (those given; the others as
    the enclosing context had them)."""
    tokens = []
    if search_id is not None:
        tokens.append((_SEARCH, _SEARCH.set(search_id)))
    if trial is not None:
        tokens.append((_TRIAL, _TRIAL.set(trial)))
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)


class JsonFormatter(logging.Formatter):
    """One JSON object per record."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "search_id": _SEARCH.get(),
            "trial": _TRIAL.get(),
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


def configure(log_format: str, level: int = logging.INFO) -> bool:
    """JSON lines on stderr for every logger when ``log_format`` is ``json`` (once per
    process); returns whether it is on."""
    if log_format != "json":
        return False
    root = logging.getLogger()
    if not any(h.get_name() == _HANDLER_NAME for h in root.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.set_name(_HANDLER_NAME)
        handler.setFormatter(JsonFormatter())
        root.addHandler(handler)
    root.setLevel(level)
    return True


def json_logs() -> bool:
    """Whether this process logs JSON lines."""
    return any(h.get_name() == _HANDLER_NAME for h in logging.getLogger().handlers)
