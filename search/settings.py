"""The records' settings: the database URL and the folder for Ray Tune's run files.

The variables themselves (``CONVNAS_DATABASE_URL``, ``CONVNAS_RAY_ADDRESS``,
``CONVNAS_RUNS_DIR``) are fields of :class:`space.settings.StoreSettings`, the section of the one
settings class that every process reads; this module reads it through :func:`get_settings`,
never at import time, and spells out the URLs users type.
"""

from __future__ import annotations

from space.settings import StoreSettings, load_settings

SQLITE_SUFFIXES = (".db", ".sqlite", ".sqlite3")


def get_settings() -> StoreSettings:
    """The store's settings from the environment; a SettingsError naming each bad variable."""
    return load_settings(StoreSettings)


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
