"""Plotly's JavaScript, served from the installed ``plotly`` package (its bundled
``plotly.min.js``), never from a CDN nor a copy in this repository: the pages load nothing from
the network, and the file is the one the installed version ships."""

from __future__ import annotations

import importlib.util
from functools import cache
from pathlib import Path

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse

router = APIRouter(include_in_schema=False)
# The file changes only with the installed package: a day in the browser's cache, then its ETag.
CACHE = "public, max-age=86400"


@cache
def plotly_js() -> Path | None:
    """The installed package's bundle (found without importing the package), or None."""
    spec = importlib.util.find_spec("plotly")
    if spec is None or not spec.submodule_search_locations:
        return None
    found = Path(next(iter(spec.submodule_search_locations))) / "package_data" / "plotly.min.js"
    return found if found.is_file() else None


@router.get("/static/vendor/plotly.min.js", name="plotly_js")
def plotly() -> FileResponse:
    path = plotly_js()
    if path is None:  # the pages say the plots are unavailable; never a 500
        raise HTTPException(404, "plotly is not installed: pip install plotly")
    return FileResponse(path, media_type="text/javascript", headers={"Cache-Control": CACHE})
