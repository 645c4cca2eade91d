"""The few errors the service layer raises; every way in maps them (HTTP: 404, 409, 422, 503).

Messages name request fields (``sort``, ``limit``, ``force``), never a CLI flag: the CLI maps
fields to its flags when it prints them.
"""

from __future__ import annotations

from typing import Any

from space.errors import ConvnasError, Problem, SpecError


class NotFound(ConvnasError):
    """A search, trial, preset or file that does not exist (the message names what was asked)."""


class Conflict(ConvnasError):
    """A request the current state forbids (e.g. deleting a running search)."""


class StorageUnavailable(ConvnasError):
    """The store of the runs location did not answer (an object store down, a mount gone):
    HTTP 503, like a database that does not answer."""


class InvalidRequest(SpecError):
    """A request with bad fields: every problem names its field path and the value."""

    @classmethod
    def field(cls, path: str, message: str, *value: Any) -> InvalidRequest:
        """One problem at ``path``; pass the bad value (even None) to have it shown."""
        return cls([Problem(path, message, *value)])
