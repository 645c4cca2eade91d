"""Where the records live: the database URL and the folder for Ray Tune's run files.

Read through :func:`get_settings` (environment variables ``CONVNAS_DATABASE_URL``,
``CONVNAS_RAY_ADDRESS``, ``CONVNAS_RUNS_DIR``), never at import time, so tests and the API can
inject their own values.
"""

from __future__ import annotations

from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATABASE_URL = "sqlite:///convnas.db"
SQLITE_SUFFIXES = (".db", ".sqlite", ".sqlite3")


class Settings(BaseSettings):
    """The service's settings from the environment (not the spec's ``search:`` block)."""

    model_config = SettingsConfigDict(env_prefix="CONVNAS_", extra="ignore")

    database_url: str = DEFAULT_DATABASE_URL
    ray_address: str | None = None
    runs_dir: Path = Path("convnas_runs")


def get_settings() -> Settings:
    return Settings()


def normalize_url(url: str) -> str:
    """Accept the spellings users type: a bare file path (``x.db``, ``dir/x``), ``postgres://``,
    ``postgresql://``.

    psycopg 3 is the PostgreSQL driver we ship; SQLAlchemy's default for a bare ``postgresql://``
    is psycopg2, which is not installed, so the driver is made explicit.
    """
    url = url.strip()
    if "://" not in url:
        # A bare value is a SQLite file only when it looks like one: ``--db bogus`` (a typo, a
        # missing scheme) is reported as not a URL rather than silently creating ./bogus.
        if url.endswith(SQLITE_SUFFIXES) or "/" in url or "\\" in url:
            return f"sqlite:///{url}"
        return url
    scheme, rest = url.split("://", 1)
    if scheme in ("postgres", "postgresql"):
        return f"postgresql+psycopg://{rest}"
    return url


def database_url(explicit: str | None = None) -> str:
    """``--db URL`` when given, else ``CONVNAS_DATABASE_URL``, else ``./convnas.db``."""
    return normalize_url(explicit or get_settings().database_url)
