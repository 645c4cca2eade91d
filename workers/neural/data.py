"""``load_neural``: a neural data set (``neural:PATH``, an .npz file, never unpickled) checked
array by array, every problem a :class:`NeuralDataError` naming the array (``neural.responses:
contains NaN at [0, 3, 7, 1]``).

Arrays:

- ``stimuli``: uint8 ``[N,H,W]`` or ``[N,H,W,C]`` (C in 1, 3, 4), the images shown;
- ``responses``: float ``[reps, N, neurons, bins]`` (repetitions kept: the ceiling is computed
  from them, at least 2) or ``[N, neurons, bins]`` (trial averages: a ceiling must be given).
  With repetitions, NaN marks a missing one (recordings rarely repeat every image equally
  often): the fit averages what is there, the ceiling correlates the images both halves saw
  (per neuron). Every image needs one finite repetition per neuron and bin; infinity is refused;
- ``regions`` (optional): ``[neurons]`` unicode strings (dtype ``U``; object arrays are pickles
  and are refused), e.g. ``V4``, ``IT``; absent: every neuron is in region ``all``;
- ``bin_ms`` (optional): ``[bins]`` the bins' times after stimulus onset in ms (for display);
- ``labels`` (optional): ``[N]`` integers or strings, the object of each image (the folds are
  then stratified by it, see :mod:`workers.neural.fit`).
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np

from space.paths import PathRefused, Roots, open_confined
from space.spec import neural_path
from workers.data.files import ArrayHeader, _member_header, check_pixels, memory_bytes
from workers.errors import DatasetError

ARRAYS = ("stimuli", "responses", "regions", "bin_ms", "labels")
REQUIRED = ("stimuli", "responses")
# The region of every neuron when the file names none.
ALL_REGION = "all"
# Region names are short labels (V4, pIT); a 1 kB "name" is a mistake or an attack.
MAX_NAME_CHARS = 64


class NeuralDataError(DatasetError):
    """A neural data set that cannot be used: the field is ``neural`` or ``neural.<array>``."""


@dataclass(frozen=True)
class NeuralData:
    """A checked neural data set. ``responses`` is always ``[reps, N, neurons, bins]`` float64
    (a file without repetitions has ``reps == 1`` and ``repeated`` false)."""

    path: str
    stimuli: np.ndarray
    responses: np.ndarray
    regions: np.ndarray
    bin_ms: np.ndarray | None
    labels: np.ndarray | None
    repeated: bool

    @property
    def reps(self) -> int:
        return int(self.responses.shape[0])

    @property
    def n_images(self) -> int:
        return int(self.responses.shape[1])

    @property
    def neurons(self) -> int:
        return int(self.responses.shape[2])

    @property
    def bins(self) -> int:
        return int(self.responses.shape[3])

    @property
    def region_names(self) -> list[str]:
        """Regions in order of first appearance."""
        return list(dict.fromkeys(str(r) for r in self.regions))

    def region_index(self, region: str) -> np.ndarray:
        """Indices of the neurons of ``region``."""
        return np.flatnonzero(self.regions == region)

    def mean_responses(self) -> np.ndarray:
        """``[N, neurons, bins]``: the average over the repetitions there are (what the model
        is fit to; NaN marks a missing repetition)."""
        return np.asarray(np.nanmean(self.responses, axis=0))

    def bin_label(self, b: int) -> float | None:
        return None if self.bin_ms is None else float(self.bin_ms[b])

    def describe(self) -> dict[str, object]:
        return {
            "path": self.path,
            "images": self.n_images,
            "neurons": self.neurons,
            "bins": self.bins,
            "reps": self.reps if self.repeated else None,
            "regions": {r: len(self.region_index(r)) for r in self.region_names},
            "stimuli": list(self.stimuli.shape),
            "labels": self.labels is not None,
        }


def _err(name: str, message: str, value: object = None) -> NeuralDataError:
    return NeuralDataError(f"neural.{name}" if name else "neural", message, value)


def open_neural(path: str, roots: Roots | None = None) -> IO[bytes]:
    """The neural data file, open for reading; confined to ``roots`` when they are given (the
    path resolved inside them as it is opened: :mod:`space.paths`)."""
    try:
        return open_confined(path, roots)
    except PathRefused as exc:
        raise _err("", str(exc), path) from None
    except FileNotFoundError:
        raise _err("", "no such file (a neural data set is an .npz file)", path) from None
    except (OSError, ValueError) as exc:  # a folder, no permission, an embedded NUL byte
        raise _err("", f"not a readable npz file: {exc}", path) from None


def _headers(file: IO[bytes], path: str) -> dict[str, ArrayHeader]:
    """Shapes and dtypes from the npy headers (before any array is read): pickled arrays,
    unknown or missing arrays and sizes beyond memory are refused here."""
    try:
        file.seek(0)
        with zipfile.ZipFile(file) as archive:
            members = [n.removesuffix(".npy") for n in archive.namelist()]
            unknown = [n for n in members if n not in ARRAYS]
            if unknown:
                raise _err(
                    "",
                    f"unknown array {unknown[0]!r}; a neural data set holds {', '.join(ARRAYS)}",
                    str(path),
                )
            missing = [n for n in REQUIRED if n not in members]
            if missing:
                raise _err(missing[0], "is missing from the file", str(path))
            headers = {}
            for name in members:
                try:
                    headers[name] = _member_header(archive, name)
                except ValueError as exc:
                    if "Python objects" in str(exc):
                        raise _err(
                            name,
                            "is a pickled (object) array, which is never loaded; save strings "
                            "as unicode (numpy dtype 'U') and numbers as numeric arrays",
                        ) from None
                    raise
    except NeuralDataError:
        raise
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise _err("", f"not a readable npz file: {exc}", str(path)) from None
    _check_sizes(headers)
    return headers


def _check_sizes(headers: dict[str, ArrayHeader]) -> None:
    for name, array in headers.items():
        if array.stored < array.nbytes:
            raise _err(name, f"claims {array.nbytes} bytes but holds {array.stored}", str(array))
    total, memory = sum(a.nbytes for a in headers.values()), memory_bytes()
    # responses are converted to float64: count them at 8 bytes an element
    total += int(np.prod(headers["responses"].shape)) * 8
    if memory and total > memory // 2:
        raise _err(
            "",
            f"the arrays take {total / 2**30:.1f} GiB, more than half this machine's memory",
        )


def _read(file: IO[bytes], path: str) -> dict[str, np.ndarray]:
    try:
        file.seek(0)
        with np.load(file, allow_pickle=False) as f:
            return {name: np.asarray(f[name]) for name in f.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise _err("", f"not a readable npz file: {exc}", str(path)) from None


def _desc(a: np.ndarray) -> str:
    return f"{a.dtype} {list(a.shape)}"


def _check_stimuli(x: np.ndarray) -> None:
    if x.dtype != np.uint8 or x.ndim not in (3, 4):
        raise _err("stimuli", "must be uint8 [N,H,W] or [N,H,W,C] (0..255)", _desc(x))
    if x.ndim == 4 and x.shape[3] not in (1, 3, 4):
        raise _err("stimuli", "must have 1, 3 or 4 channels (last axis)", _desc(x))
    if min(x.shape[:3]) < 1:
        raise _err("stimuli", "holds no images (or images of no pixels)", _desc(x))
    check_pixels(x.shape[2], x.shape[1], "neural.stimuli", "each image", _desc(x))


def _first_bad(a: np.ndarray) -> str | None:
    """``contains NaN at [r, i, n, b]`` (or infinity) for the first non-finite element."""
    bad = ~np.isfinite(a)
    if not bad.any():
        return None
    where = np.unravel_index(int(np.argmax(bad)), a.shape)
    what = "NaN" if np.isnan(a[where]) else "infinity"
    return f"contains {what} at {[int(i) for i in where]}"


def _check_responses(r: np.ndarray, n_images: int) -> np.ndarray:
    if r.dtype.kind not in "fiu" or r.ndim not in (3, 4):
        raise _err(
            "responses",
            "must be a float array [reps, N, neurons, bins] or [N, neurons, bins]",
            _desc(r),
        )
    r4 = r[None] if r.ndim == 3 else r
    if r4.shape[1] != n_images:
        raise _err(
            "responses",
            f"must hold {n_images} images (stimuli has {n_images}) on the "
            f"{'first' if r.ndim == 3 else 'second'} axis",
            _desc(r),
        )
    if r4.shape[2] < 1 or r4.shape[3] < 1 or r4.shape[0] < 1:
        raise _err("responses", "holds no neurons, bins or repetitions", _desc(r))
    out = r4.astype(np.float64)
    if r.ndim == 4 and out.shape[0] >= 2:  # NaN marks a missing repetition
        missing = np.isnan(out)
        problem = _first_bad(np.where(missing, 0.0, out))  # infinity only
        none_left = missing.all(axis=0)
        if problem is None and none_left.any():
            where = np.argwhere(none_left)[0]
            problem = f"has no finite repetition at [:, {', '.join(str(int(i)) for i in where)}]"
    else:
        problem = _first_bad(out if r.ndim == 4 else out[0])
    if problem:
        raise _err("responses", problem)
    return out


def _check_regions(regions: np.ndarray | None, neurons: int) -> np.ndarray:
    if regions is None:
        return np.full(neurons, ALL_REGION)
    if regions.dtype.kind not in "US" or regions.shape != (neurons,):
        raise _err(
            "regions",
            f"must be {neurons} unicode strings (dtype 'U'), one per neuron of responses",
            _desc(regions),
        )
    names = regions.astype(str) if regions.dtype.kind == "U" else np.char.decode(regions)
    names = np.char.strip(names)
    empty = np.flatnonzero(np.char.str_len(names) == 0)
    if len(empty):
        raise _err("regions", f"neuron {int(empty[0])} has an empty region name")
    if int(np.char.str_len(names).max()) > MAX_NAME_CHARS:
        raise _err("regions", f"region names must be at most {MAX_NAME_CHARS} characters")
    return names


def _check_bins(bin_ms: np.ndarray | None, bins: int) -> np.ndarray | None:
    if bin_ms is None:
        return None
    if bin_ms.dtype.kind not in "fiu" or bin_ms.shape != (bins,):
        raise _err("bin_ms", f"must be {bins} numbers, one per bin of responses", _desc(bin_ms))
    out = bin_ms.astype(np.float64)
    problem = _first_bad(out)
    if problem:
        raise _err("bin_ms", problem)
    return out


def _check_labels(labels: np.ndarray | None, n_images: int) -> np.ndarray | None:
    if labels is None:
        return None
    if labels.dtype.kind not in "iuUS" or labels.shape != (n_images,):
        raise _err(
            "labels",
            f"must be {n_images} integers or strings, the object of each image",
            _desc(labels),
        )
    return labels


def load_neural(
    path: str | Path,
    *,
    ceiling: float | None = None,
    folds: int = 5,
    roots: Roots | None = None,
) -> NeuralData:
    """Read and check the neural data set at ``path`` (``neural:`` prefix allowed).

    ``ceiling`` is the one the user gives (settings.ceiling): without it the responses must have
    at least two repetitions. ``folds``: at least ``2 * folds`` images are needed so that every
    held-out fold has two images and every training split at least ``folds`` (PLS, Pearson r).
    ``roots``: the data roots of a search submitted to a server (None: unconfined).
    """
    try:
        plain = neural_path(str(path))
    except ValueError as exc:
        raise _err("", str(exc), str(path)) from None
    with open_neural(plain, roots) as file:
        return read_neural(file, plain, ceiling=ceiling, folds=folds)


def read_neural(
    file: IO[bytes], path: str, *, ceiling: float | None = None, folds: int = 5
) -> NeuralData:
    """:func:`load_neural` of a file already open (``path`` names it in messages)."""
    _headers(file, path)
    arrays = _read(file, path)
    _check_stimuli(arrays["stimuli"])
    n = int(arrays["stimuli"].shape[0])
    responses = _check_responses(arrays["responses"], n)
    repeated = arrays["responses"].ndim == 4 and responses.shape[0] >= 2
    if not repeated and ceiling is None:
        reps = "one repetition" if arrays["responses"].ndim == 4 else "no repetitions axis"
        raise _err(
            "responses",
            f"{reps} per image, so the ceiling cannot be computed: keep the repetitions "
            "([reps, N, neurons, bins], at least 2) or give the ceiling (ceiling: / --ceiling)",
            _desc(arrays["responses"]),
        )
    if n < 2 * folds:
        raise _err(
            "stimuli",
            f"too few images for {folds}-fold cross-validation: need at least {2 * folds}",
            n,
        )
    neurons, bins = int(responses.shape[2]), int(responses.shape[3])
    return NeuralData(
        path=path,
        stimuli=arrays["stimuli"],
        responses=responses,
        regions=_check_regions(arrays.get("regions"), neurons),
        bin_ms=_check_bins(arrays.get("bin_ms"), bins),
        labels=_check_labels(arrays.get("labels"), n),
        repeated=repeated,
    )
