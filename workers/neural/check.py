"""The neural data file's check at validation (issue 14), beside the dataset's
(:mod:`workers.data.check`): from the npz headers and the small ``regions`` array, never the
stimuli or responses themselves, with numpy alone (the service calls it; torch is never
imported). The loader (:mod:`workers.neural.data`) checks everything else (NaN, too few images)
and a trial fails with its named error.
"""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Any

import numpy as np

from space.errors import Problem
from space.paths import PathRefused, Roots, open_confined
from space.spec import NeuralFitSettings, SearchSpec

# The arrays of a neural data file and the ranks each may have.
_NEURAL_ARRAYS = {"stimuli": (3, 4), "responses": (3, 4), "regions": (1,), "bin_ms": (1,)}
_HEADER_READERS = {
    (1, 0): np.lib.format.read_array_header_1_0,
    (2, 0): np.lib.format.read_array_header_2_0,
}
# Longest region name read from the file (a header claiming more is not a region list).
_MAX_REGION_BYTES = 4 * 256
# The regions array is read this many bytes at a time (a 389 kB file of repeated names once
# expanded to a gigabyte when read whole), and at most this much of it is read in all.
_REGION_CHUNK_BYTES = 1 << 20
_MAX_REGIONS_BYTES = 64 << 20
Headers = dict[str, tuple[tuple[int, ...], np.dtype[Any]]]


class _Bad(Exception):
    """One problem with the neural file: (path, message, value)."""

    def __init__(self, path: str, message: str, value: Any):
        super().__init__(message)
        self.problem = Problem(path, message, value)


def neural_data_problems(spec: SearchSpec, roots: Roots | None = None) -> list[Problem]:
    """Problems of the spec's neural data file (none without a ``neural:`` block): it exists,
    is an npz of the documented arrays (no pickles), has repetitions or a given ceiling, names
    the objective's region, and its time bins fit in the model's steps.

    ``roots`` (a server's data roots; None: unconfined): the file is opened only once its path
    resolves inside them (:func:`space.paths.open_confined`); a refusal says nothing about it.
    """
    settings = spec.neural
    if settings is None:
        return []
    region = spec.neural_region()
    try:
        with _open_neural(settings.path, roots) as file:
            headers = _neural_headers(file, settings.path)
            _check_neural_shapes(headers, settings)
            if region.name is not None:
                _check_region(file, headers, region.name, region.field)
        _check_bins(headers["responses"][0], settings, spec)
    except _Bad as bad:
        return [bad.problem]
    return []


@contextmanager
def _open_neural(path: str, roots: Roots | None) -> Iterator[IO[bytes]]:
    where, shown = "neural.data", path
    try:
        file = open_confined(path, roots)
    except PathRefused as refused:
        raise _Bad(where, str(refused), shown) from None
    except FileNotFoundError:
        raise _Bad(where, "no such file: the neural data set must be an .npz file", shown) from None
    except (OSError, ValueError) as exc:  # a folder, a FIFO, no permission, a NUL byte
        raise _Bad(where, f"not a readable .npz file ({exc})", shown) from None
    with file:
        yield file


def _neural_headers(file: IO[bytes], path: str) -> Headers:
    where = "neural.data"
    try:
        with zipfile.ZipFile(file) as archive:
            members = {n.removesuffix(".npy"): n for n in archive.namelist()}
            missing = [k for k in ("stimuli", "responses") if k not in members]
            if missing:
                raise _Bad(where, f"the npz file lacks array(s) {', '.join(missing)}", path)
            headers = {}
            for key in (k for k in _NEURAL_ARRAYS if k in members):
                with archive.open(members[key]) as f:
                    headers[key] = _array_header(f)
            return headers
    except _Bad:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise _Bad(where, f"not a readable .npz file ({exc})", path) from None


def _array_header(f: IO[bytes]) -> tuple[tuple[int, ...], np.dtype[Any]]:
    version = np.lib.format.read_magic(f)
    read = _HEADER_READERS.get(version)
    if read is None:
        raise ValueError(f"npy format version {version} is not supported")
    shape, _, dtype = read(f)
    return tuple(int(n) for n in shape), dtype


def _check_neural_shapes(headers: Headers, settings: NeuralFitSettings) -> None:
    for key, (shape, dtype) in headers.items():
        if dtype.hasobject:
            raise _Bad(f"neural.{key}", "holds Python objects (a pickle): refused", str(dtype))
        if len(shape) not in _NEURAL_ARRAYS[key]:
            ranks = " or ".join(str(r) for r in _NEURAL_ARRAYS[key])
            raise _Bad(f"neural.{key}", f"must have {ranks} dimensions", list(shape))
    stimuli, responses = headers["stimuli"][0], headers["responses"][0]
    if headers["stimuli"][1] != np.uint8:
        raise _Bad(
            "neural.stimuli", "must be uint8 [N,H,W] or [N,H,W,C]", str(headers["stimuli"][1])
        )
    images = responses[-3]
    if images != stimuli[0]:
        raise _Bad(
            "neural.responses",
            f"must hold one response per stimulus ({stimuli[0]} images)",
            list(responses),
        )
    reps = responses[0] if len(responses) == 4 else 1
    if reps < 2 and settings.ceiling is None:
        raise _Bad(
            "neural.ceiling",
            f"the responses have {reps} repetition(s), too few to compute the ceiling: keep "
            "the repetitions ([reps, N, neurons, bins]) or give neural.ceiling",
            None,
        )
    if "regions" in headers and headers["regions"][0][0] != responses[-2]:
        raise _Bad(
            "neural.regions",
            f"must name the region of each of the {responses[-2]} neurons",
            list(headers["regions"][0]),
        )


def _check_region(file: IO[bytes], headers: Headers, region: str, where: str) -> None:
    """The objective's region is named in the file's ``regions`` array, read a chunk at a time
    (bounded memory and work). The names in the file are never shown: a message echoes only
    what the client wrote."""
    if "regions" not in headers:
        raise _Bad(where, "the neural data file names no regions (no 'regions' array)", region)
    (count,), dtype = headers["regions"]
    if dtype.kind not in "US":
        raise _Bad("neural.regions", "must be unicode strings (dtype 'U'), one per neuron", None)
    if dtype.itemsize > _MAX_REGION_BYTES:
        raise _Bad("neural.regions", "region names are too long", str(dtype))
    if count * dtype.itemsize > _MAX_REGIONS_BYTES:
        message = f"the regions array is larger than {_MAX_REGIONS_BYTES >> 20} MiB"
        raise _Bad("neural.regions", message, None)
    try:
        found = _names_region(file, dtype, count, region)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise _Bad("neural.regions", f"cannot be read ({exc})", None) from None
    if not found:
        raise _Bad(where, "no such region in the neural data file", region)


def _names_region(file: IO[bytes], dtype: np.dtype[Any], count: int, region: str) -> bool:
    """Whether ``region`` is one of the ``count`` names of the file's ``regions`` array."""
    step = max(1, _REGION_CHUNK_BYTES // dtype.itemsize)
    file.seek(0)
    with zipfile.ZipFile(file) as archive:
        member = next(n for n in archive.namelist() if n.removesuffix(".npy") == "regions")
        with archive.open(member) as f:
            _array_header(f)
            for start in range(0, count, step):
                n = min(step, count - start)
                data = f.read(n * dtype.itemsize)
                if len(data) != n * dtype.itemsize:
                    raise EOFError("the regions array is shorter than its header says")
                names = np.frombuffer(data, dtype=dtype)
                text = names.astype(str) if dtype.kind == "U" else np.char.decode(names)
                if bool((np.char.strip(text) == region).any()):
                    return True
    return False


def _check_bins(responses: tuple[int, ...], settings: NeuralFitSettings, spec: SearchSpec) -> None:
    steps = spec.time.steps
    if not isinstance(steps, int) or isinstance(steps, bool):
        return  # a searched step count: each trial's fit checks its own
    bins = responses[-1]
    needed = settings.offset + bins * settings.steps_per_bin
    if needed > steps:
        raise _Bad(
            "neural.steps_per_bin",
            f"{bins} time bins at offset {settings.offset} and {settings.steps_per_bin} step(s) "
            f"per bin need {needed} model steps, but time.steps is {steps}",
            settings.steps_per_bin,
        )
