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


class TrialOutOfMemory(RuntimeError):
    """The accelerator ran out of memory during training (``torch.cuda.OutOfMemoryError``, or
    the CUDA allocator's "out of memory" under another exception type). The message starts with
    ``out of memory:``; the loop ends the run with status ``out_of_memory``.

    Not a :class:`ConvnasError`: it is an outcome of training, not bad input. A CPU allocation
    failure ("can't allocate memory") is not this: it is the machine, not the trial's share.
    """

    def __init__(self, detail: str, *, share: float | None = None) -> None:
        self.detail = detail
        self.share = share
        where = f" (GPU share {share:g})" if share is not None else ""
        super().__init__(f"out of memory{where}: {detail}")
