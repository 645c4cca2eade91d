"""Errors of the workers layer: all are :class:`space.errors.ConvnasError`, so the CLI and the
service report them as readable messages, never tracebacks."""

from __future__ import annotations

from typing import Any

from space.errors import ConvnasError, Problem


class WorkerInputError(ConvnasError, ValueError):
    """Bad input to a worker, naming the field and the offending value."""

    def __init__(self, field: str, message: str, value: Any = None) -> None:
        self.field = field
        self.message = message
        self.value = value
        shown = "" if value is None else f" (got {value!r})"
        super().__init__(f"{field}: {message}{shown}")

    def to_problem(self) -> Problem:
        """The same error as a :class:`~space.errors.Problem` (path, message, value)."""
        if self.value is None:
            return Problem(self.field, self.message)
        return Problem(self.field, self.message, self.value)


class DatasetError(WorkerInputError):
    """A dataset reference that cannot be loaded: unknown kind, missing path, bad file, or a
    class count / shape that does not fit the architecture."""


class TrainConfigError(WorkerInputError):
    """A training configuration that is invalid or inconsistent."""
