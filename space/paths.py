"""The one path policy for every file a request can name (stdlib and pydantic only).

A spec names files on the machine that runs it: ``dataset: npz:PATH`` or ``imagefolder:PATH``,
``neural.data: neural:PATH``. Each such field is typed :data:`FilePath` (or carries a
:class:`FileField` marker), so :func:`file_fields` finds every one by walking the spec, and a
file field added later is confined without anyone remembering to.

Confinement (a server's ``CONVNAS_DATA_ROOTS``) happens twice, by the same functions:

- at submit and validation (:func:`path_problems`): absolute paths only (no ``~``, no relative
  path: the runner may run elsewhere, as another user), resolved (symlinks and ``..``) inside a
  root, else ONE message that says nothing about the file. Only then may anything read it;
- where a worker opens it (:func:`confine`, :func:`open_confined`): resolved and checked again,
  then the resolved path is opened without following a final symlink and the opened file is
  checked once more, so a file replaced by a symlink after submit is refused, not read.

``roots=None`` means unconfined: the machine's own user running ``convnas`` locally names any
file, as before (``~`` expanded). An empty sequence confines to nothing: every file is refused.
"""

from __future__ import annotations

import errno
import os
import stat
import typing
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Annotated, Any

from pydantic import BaseModel, Field

from space.errors import ConvnasError, Problem

Roots = Sequence[Path]

# Every refusal of a path outside the roots says exactly this: whether the file exists, is a
# folder, a FIFO or unreadable must not show (an existence oracle for the server's disk).
OUTSIDE_ROOTS = "outside the server's data roots (after resolving symlinks and ..)"
NOT_ABSOLUTE = "must be an absolute path inside a data root (no ~ and no relative path)"
NO_ROOTS = (
    "files are not accepted here; set CONVNAS_DATA_ROOTS on the server to allow files under a "
    "folder"
)


class PathRefused(ConvnasError):
    """A path the policy refuses; the message is one of the constants above, nothing more."""


@dataclass(frozen=True)
class FileField:
    """Marks a spec field that names a file or folder on the server. ``to_path`` takes the
    field's value to the path (``neural:PATH`` -> ``PATH``); None: the value is the path."""

    to_path: Callable[[str], str] | None = None

    def path_of(self, value: str) -> str:
        return self.to_path(value) if self.to_path is not None else value


FilePath = Annotated[str, Field(min_length=1), FileField()]
"""A field whose value is a path on the server (confined by this module's policy)."""


# ------------------------------------------------------------------------------------------------
# Which fields name files
# ------------------------------------------------------------------------------------------------


def file_marker(annotation: Any, metadata: Sequence[Any] = ()) -> FileField | None:
    """The :class:`FileField` of a field (its metadata, or inside an ``X | None``), if any."""
    for item in metadata:
        if isinstance(item, FileField):
            return item
    if typing.get_origin(annotation) is Annotated:
        return file_marker(None, annotation.__metadata__)
    for arg in typing.get_args(annotation):
        found = file_marker(arg)
        if found is not None:
            return found
    return None


def file_fields(model: BaseModel, prefix: str = "") -> Iterator[tuple[str, str]]:
    """``(dotted field path, path)`` for every file a validated model names, at any depth."""
    for name, info in type(model).model_fields.items():
        value = getattr(model, name)
        where = f"{prefix}{name}"
        marker = file_marker(info.annotation, info.metadata)
        if marker is not None and isinstance(value, str):
            yield where, marker.path_of(value)
        else:
            yield from _nested(value, where)


def _nested(value: Any, where: str) -> Iterator[tuple[str, str]]:
    if isinstance(value, BaseModel):
        yield from file_fields(value, f"{where}.")
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            yield from _nested(item, f"{where}.{i}")
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _nested(item, f"{where}.{key}")


# ------------------------------------------------------------------------------------------------
# The policy
# ------------------------------------------------------------------------------------------------


def resolve_roots(roots: Sequence[str | Path]) -> list[Path]:
    """Roots as the policy compares them: absolute, ``~`` expanded, symlinks resolved."""
    return [Path(root).expanduser().resolve() for root in roots]


def confine(path: str | Path, roots: Roots) -> Path:
    """``path`` resolved (symlinks and ``..``), when it is absolute and inside one of ``roots``
    (already resolved); else :class:`PathRefused` with one of the fixed messages."""
    if not roots:
        raise PathRefused(NO_ROOTS)
    given = Path(path)
    if not given.is_absolute():
        raise PathRefused(NOT_ABSOLUTE)
    try:
        resolved = given.resolve()
    except (OSError, ValueError, RuntimeError):  # NUL byte, symlink loop, name too long
        raise PathRefused(OUTSIDE_ROOTS) from None
    if not _inside(resolved, roots):
        raise PathRefused(OUTSIDE_ROOTS)
    return resolved


def _inside(path: Path, roots: Roots) -> bool:
    return any(path.is_relative_to(root) for root in roots)


def path_problems(model: BaseModel, roots: Roots) -> list[Problem]:
    """One problem per file field of ``model`` that ``roots`` do not allow (the value shown is
    the client's own text; never where it resolves to, nor the roots)."""
    problems = []
    for where, path in file_fields(model):
        try:
            confine(path, roots)
        except PathRefused as refused:
            problems.append(Problem(where, str(refused), path))
    return problems


def open_confined(path: str | Path, roots: Roots | None) -> IO[bytes]:
    """``path`` opened for reading: a regular file (never blocking on a FIFO). Confined
    (``roots`` given): the resolved path is opened without following a symlink put there since,
    and the opened file must really lie inside the roots. Raises :class:`PathRefused`, or an
    OSError for a file that cannot be read (inside the roots, when confined)."""
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)
    if roots is None:  # the machine's own user: any file, ~ expanded, as before
        fd = os.open(Path(path).expanduser(), flags)
    else:
        fd = _open_resolved(confine(path, roots), flags)
    try:
        _check_opened(fd, roots)
    except BaseException:
        os.close(fd)
        raise
    return os.fdopen(fd, "rb")


def _open_resolved(resolved: Path, flags: int) -> int:
    try:
        return os.open(resolved, flags | os.O_NOFOLLOW)
    except OSError as exc:
        if exc.errno == errno.ELOOP:  # the last part became a symlink after resolving
            raise PathRefused(OUTSIDE_ROOTS) from None
        raise


def _check_opened(fd: int, roots: Roots | None) -> None:
    """The file behind ``fd`` is a regular file and, confined, inside ``roots``: a folder of
    the path swapped for a symlink between resolving and opening shows here (Linux's /proc)."""
    mode = os.fstat(fd).st_mode
    if stat.S_ISDIR(mode):
        raise IsADirectoryError(errno.EISDIR, "a folder, not a file")
    if not stat.S_ISREG(mode):
        raise OSError(errno.EINVAL, "not a regular file")
    if roots is None:
        return
    try:
        actual = os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return  # no /proc (not Linux): the resolved path was checked just before opening
    if not _inside(Path(actual), roots):
        raise PathRefused(OUTSIDE_ROOTS)
