"""On-disk cache of generated datasets: one ``.npz`` per parameter set, written atomically.

Only plain arrays are stored (no pickles); a corrupt or foreign file is regenerated.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from space.settings import WorkerSettings, load_settings

Arrays = tuple[np.ndarray, np.ndarray]


def data_dir() -> Path:
    """``$CONVNAS_DATA_DIR`` or ``~/.cache/convnas/data``."""
    return load_settings(WorkerSettings).cache_dir()


def cache_key(kind: str, params: Mapping[str, Any]) -> str:
    text = json.dumps({"kind": kind, **params}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _read(path: Path, params_json: str) -> Arrays | None:
    try:
        with np.load(path, allow_pickle=False) as f:
            if str(f["params"]) != params_json:
                return None  # a hash collision or a file from another version: rebuild
            return f["x"], f["y"]
    except (OSError, KeyError, ValueError):
        return None


def _write(path: Path, x: np.ndarray, y: np.ndarray, params_json: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # Write to a temporary file in the same folder, then rename: readers never see half a file,
    # and two workers generating the same dataset at once both end with a whole one.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.stem, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            np.savez_compressed(fh, x=x, y=y, params=np.array(params_json))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def cached(kind: str, params: Mapping[str, Any], build: Callable[[], Arrays]) -> Arrays:
    """Return the arrays for ``params``, generating and storing them on a miss."""
    params_json = json.dumps({"kind": kind, **params}, sort_keys=True)
    path = data_dir() / f"{kind}-{cache_key(kind, params)}.npz"
    if path.exists():
        hit = _read(path, params_json)
        if hit is not None:
            return hit
    x, y = build()
    # A read-only cache is no reason to fail: the data is in memory.
    with contextlib.suppress(OSError):
        _write(path, x, y, params_json)
    return x, y
