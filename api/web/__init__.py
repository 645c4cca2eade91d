"""The web pages: server-rendered Jinja2 templates on the service layer, assets in the package.

``install(app)`` adds the pages at ``/`` and the static files at ``/static``. Pages read through
:mod:`search.service` only (no query of their own); actions (cancel, resume, delete) are small
scripts calling the JSON API. Nothing here imports torch, Ray, the workers or the driver.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from api.web import vendor
from api.web.pages import STATIC, router


def install(app: FastAPI) -> None:
    """Serve the pages and their assets from ``app``."""
    app.include_router(router)
    app.include_router(vendor.router)  # before the /static mount, which would answer first
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
