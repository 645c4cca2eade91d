"""Where a search's run files live: a local folder, or an S3 bucket (``s3://bucket/prefix``).

Ray Tune writes every trial's checkpoints under the runs location (its storage path) from the
node that ran the trial; the driver records each checkpoint there as a URI, and export, the
weights download and delete read or remove it through the same filesystem. A URI goes through
pyarrow's filesystems, which Ray Tune uses too, so one parse gives both the same place. A local
folder stays a plain absolute path (the records of earlier searches keep theirs).

S3-compatible stores (MinIO, Ceph, Cloudflare R2, Google Cloud Storage's XML API) are reached
with ``AWS_ENDPOINT_URL`` or ``?endpoint_override=host:port&scheme=http`` in the URI. Credentials
never go in the URI, which is recorded with every search and trial: each node and the API read
them from the standard AWS environment (``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``, a
profile or an instance role).
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, TypeVar, cast
from urllib.parse import parse_qsl, urlsplit

from search.errors import StorageUnavailable
from space.errors import ConvnasError

if TYPE_CHECKING:
    from pyarrow import fs as pafs

log = logging.getLogger(__name__)
A = TypeVar("A")
R = TypeVar("R")

REMOTE_SCHEMES = ("s3",)
# Query keys that would record a secret with every search and trial.
SECRET_KEYS = frozenset({"access_key", "secret_key", "session_token"})
CHUNK = 1 << 20
# The names workers.loop and workers.resume give the files of a trial's checkpoint folder.
WEIGHTS_FILE, RESUME_STATE_FILE = "weights.pt", "resume.pt"
WEIGHT_SUFFIXES = (".pt", ".pth", ".safetensors")
MAX_LISTED = 1000  # a checkpoint folder holds a handful of files; more is not one of ours


class RunsDirError(ConvnasError):
    """A runs location that is malformed, a file, or cannot be created or written."""


RunsDir = str | os.PathLike[str]


@dataclass(frozen=True)
class RunsLocation:
    """A place under the runs location: ``scheme`` None for a local absolute path, else the
    store's scheme, ``path`` its bucket/key (as pyarrow names it) and ``query`` its options."""

    scheme: str | None
    path: str
    query: str = ""

    @property
    def uri(self) -> str:
        if self.scheme is None:
            return self.path
        return f"{self.scheme}://{self.path}" + (f"?{self.query}" if self.query else "")

    def __str__(self) -> str:
        return self.uri

    @property
    def is_local(self) -> bool:
        return self.scheme is None

    @property
    def name(self) -> str:
        return self.path.rstrip("/").rsplit("/", 1)[-1]

    def child(self, name: str) -> RunsLocation:
        return self.at(f"{self.path.rstrip('/')}/{name}")

    def at(self, path: str) -> RunsLocation:
        """Another path on the same store (Ray Tune reports a checkpoint's path without the
        scheme)."""
        return RunsLocation(self.scheme, path, self.query)

    def filesystem(self) -> tuple[pafs.FileSystem, str]:
        """The filesystem and the path on it; StorageUnavailable when the store's options do
        not make one (e.g. an unknown region)."""
        from pyarrow import fs as pafs

        if self.scheme is None:
            return pafs.LocalFileSystem(), self.path
        try:
            store, _ = pafs.FileSystem.from_uri(self.uri)
        except (OSError, ValueError) as exc:
            raise StorageUnavailable(f"{self.uri}: {_reason(exc)}") from None
        return store, self.path


def runs_location(value: RunsDir | RunsLocation, field: str = "runs_dir") -> RunsLocation:
    """Parse a runs location: a local folder (absolute once resolved, ``~`` expanded, or
    ``file://``) or ``s3://bucket[/prefix][?options]``. RunsDirError names ``field`` and the
    value for another scheme, no bucket, or credentials in the URI."""
    if isinstance(value, RunsLocation):
        return value
    text = os.fspath(value)
    if "://" not in text:
        return RunsLocation(None, str(Path(text).expanduser().resolve()))
    parts = urlsplit(text)
    scheme = parts.scheme.lower()
    if scheme == "file" and not parts.netloc:
        return RunsLocation(None, str(Path(parts.path).resolve()))
    if "@" in parts.netloc or SECRET_KEYS & {k for k, _ in parse_qsl(parts.query)}:
        raise RunsDirError(
            f"{field}: {scheme}://{parts.hostname or ''}...: credentials in the URI would be "
            "recorded with every search; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in "
            "the environment instead"
        )
    if scheme not in REMOTE_SCHEMES:
        raise RunsDirError(
            f"{field}: {text!r}: {scheme}:// is not a runs location; use a local folder or "
            "s3://bucket/prefix (S3-compatible stores through AWS_ENDPOINT_URL)"
        )
    if not parts.netloc:
        raise RunsDirError(f"{field}: {text!r} names no bucket (s3://bucket/prefix)")
    return RunsLocation(scheme, f"{parts.netloc}{parts.path}".rstrip("/"), parts.query)


def check_runs_location(location: RunsLocation) -> RunsLocation:
    """The runs location, created if missing and proven writable (a probe written and removed);
    RunsDirError says why not."""
    if location.is_local:
        return _check_local(Path(location.path))
    try:
        store, path = location.filesystem()
        store.create_dir(path, recursive=True)
        probe = f"{path}/.convnas-probe-{uuid.uuid4().hex}"
        with store.open_output_stream(probe) as out:
            out.write(b"convnas")
        store.delete_file(probe)
    except (OSError, StorageUnavailable) as exc:
        raise RunsDirError(f"runs_dir: cannot write to {location} ({_reason(exc)})") from None
    return location


def _check_local(folder: Path) -> RunsLocation:
    if folder.exists() and not folder.is_dir():
        raise RunsDirError(f"runs_dir: {folder} is a file, not a folder; choose a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise RunsDirError(f"runs_dir: cannot write to {folder} ({reason})") from None
    return RunsLocation(None, str(folder.resolve()))


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else "") or type(exc).__name__


# --------------------------------------------------------------------------------------------
# The files a trial kept
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StoredFile:
    """One file under the runs location (a trial's weights)."""

    location: RunsLocation
    size: int

    @property
    def name(self) -> str:
        return self.location.name

    @property
    def suffix(self) -> str:
        return Path(self.name).suffix

    def chunks(self) -> Iterator[bytes]:
        """The file's bytes in blocks. The file is opened here, so a store that does not answer
        raises StorageUnavailable before the first block (before a response has begun)."""
        return self._blocks(_guarded(self.location, _open, self.location))

    def _blocks(self, stream: BinaryIO) -> Iterator[bytes]:
        with stream:
            while block := _guarded(self.location, stream.read, CHUNK):
                yield bytes(block)

    def read(self, limit: int) -> bytes | None:
        """The whole file, or None when it is larger than ``limit`` bytes."""
        if self.size > limit:
            return None
        data = bytearray()
        for block in self.chunks():
            data += block
            if len(data) > limit:
                return None
        return bytes(data)

    def copy_to(self, target: BinaryIO) -> str:
        """Write the file into ``target``; returns its SHA-256."""
        digest = hashlib.sha256()
        for block in self.chunks():
            digest.update(block)
            target.write(block)
        return digest.hexdigest()


def find_weights(checkpoint: str | None) -> StoredFile | None:
    """The weights file inside a trial's checkpoint (a file, or a folder holding one); None when
    there is none. StorageUnavailable when its store does not answer."""
    if not checkpoint:
        return None
    try:
        location = runs_location(checkpoint, "checkpoint")
    except RunsDirError:
        return None  # a record this version cannot read
    kind, size = _guarded(location, _stat, location)
    if kind == "file":
        return StoredFile(location, size)
    if kind != "dir":
        return None
    files = [
        (path, size)
        for path, size in sorted(_guarded(location, _files_under, location))
        if Path(path).suffix in WEIGHT_SUFFIXES
    ]
    # A worker's folder also holds where its run stood (workers.resume: weights and optimizer
    # state to continue training), which is not the best epoch's weights.
    best = [f for f in files if Path(f[0]).name == WEIGHTS_FILE]
    files = best or [f for f in files if Path(f[0]).name != RESUME_STATE_FILE]
    return StoredFile(location.at(files[0][0]), files[0][1]) if files else None


def sibling(file: StoredFile, name: str) -> StoredFile | None:
    """The file ``name`` in the same folder as ``file``, if there is one."""
    location = file.location.at(f"{file.location.path.rsplit('/', 1)[0]}/{name}")
    kind, size = _guarded(location, _stat, location)
    return StoredFile(location, size) if kind == "file" else None


# A local folder is read with pathlib (the API and the CLI need not load pyarrow for it); a
# store, through pyarrow's filesystem (imported when first needed).


def _guarded(location: RunsLocation, call: Callable[[A], R], arg: A) -> R:
    try:
        return call(arg)
    except OSError as exc:
        raise StorageUnavailable(f"{location}: {_reason(exc)}") from None


def _stat(location: RunsLocation) -> tuple[str | None, int]:
    """("file", size), ("dir", 0) or (None, 0) when nothing is there."""
    if location.is_local:
        path = Path(location.path)
        if path.is_file():
            return "file", path.stat().st_size
        return ("dir" if path.is_dir() else None), 0
    from pyarrow import fs as pafs

    store, path_in = location.filesystem()
    info = store.get_file_info(path_in)
    kinds = {pafs.FileType.File: "file", pafs.FileType.Directory: "dir"}
    return kinds.get(info.type), int(info.size or 0)


def _files_under(location: RunsLocation) -> list[tuple[str, int]]:
    """(path, size) of the first MAX_LISTED files below a folder."""
    if location.is_local:
        found = (p for p in Path(location.path).rglob("*") if p.is_file())
        return [(str(p), p.stat().st_size) for p in islice(found, MAX_LISTED)]
    from pyarrow import fs as pafs

    store, path = location.filesystem()
    listed = store.get_file_info(pafs.FileSelector(path, recursive=True))
    files = [f for f in listed if f.type == pafs.FileType.File]
    return [(f.path, int(f.size or 0)) for f in files[:MAX_LISTED]]


def _open(location: RunsLocation) -> BinaryIO:
    if location.is_local:
        return Path(location.path).open("rb")
    store, path = location.filesystem()
    return cast(BinaryIO, store.open_input_stream(path))


# --------------------------------------------------------------------------------------------
# A search's folder
# --------------------------------------------------------------------------------------------


def search_folder(runs: RunsLocation, search_id: int) -> RunsLocation:
    """The one folder under the runs location that holds every run of a search (its Tune
    experiments and checkpoints), recorded as ``Search.run_dir`` and removed with the search."""
    return runs.child(f"search-{search_id}")


def remove_search_folder(run_dir: str, search_id: int) -> str | None:
    """Remove a search's recorded folder; why it stays when it does. Only a folder named as the
    driver names it is removed: the column is never a path a client chose, and this keeps a
    damaged record from removing anything else."""
    try:
        location = runs_location(run_dir, "run_dir")
    except RunsDirError:
        return "not a search folder"
    if location.name != f"search-{search_id}":
        return "not a search folder"
    if location.is_local:
        folder = Path(location.path)
        if folder.is_symlink():
            return "not a search folder"
        try:
            shutil.rmtree(folder)
        except FileNotFoundError:
            return None  # never written, or on a machine this server does not reach
        except OSError as exc:
            return f"could not be removed: {exc.strerror}"
        return None
    try:
        store, path = location.filesystem()
        store.delete_dir(path)
    except FileNotFoundError:
        return None
    except (OSError, StorageUnavailable) as exc:
        return f"could not be removed: {_reason(exc)}"
    return None


def remove_checkpoint(location: RunsLocation) -> None:
    """Remove a trial's superseded checkpoint folder (Tune names them ``checkpoint_NNNNNN``);
    anything else, or one already gone, is left. Failures are logged, not raised: the next
    checkpoint still stands, and a leftover only takes space."""
    if not location.name.startswith("checkpoint_"):
        return
    try:
        if location.is_local:
            shutil.rmtree(location.path, ignore_errors=True)
            return
        store, path = location.filesystem()
        store.delete_dir(path)
    except FileNotFoundError:
        return
    except (OSError, StorageUnavailable) as exc:
        log.warning("could not remove the superseded checkpoint %s: %s", location, _reason(exc))
