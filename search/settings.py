"""Where the records live: the database URL and the folder for Ray Tune's run files.

Read through :func:`get_settings` (environment variables ``CONVNAS_DATABASE_URL``,
``CONVNAS_RAY_ADDRESS``, ``CONVNAS_RUNS_DIR``), never at import time, so tests and the API can
inject their own values.
"""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

from pydantic import ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from space.errors import ConvnasError

DEFAULT_DATABASE_URL = "sqlite:///convnas.db"
ENV_PREFIX = "CONVNAS_"
_S = TypeVar("_S", bound=BaseSettings)
SQLITE_SUFFIXES = (".db", ".sqlite", ".sqlite3")


class Settings(BaseSettings):
    """The service's settings from the environment (not the spec's ``search:`` block)."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore")

    database_url: str = DEFAULT_DATABASE_URL
    ray_address: str | None = None
    runs_dir: Path = Path("convnas_runs")


class SettingsError(ConvnasError):
    """A setting that is present but unusable: the process refuses to start (exit 2, a usage
    error) rather than run with a default the operator did not choose."""

    exit_code = 2


def load_settings(cls: type[_S]) -> _S:
    """``cls`` from the environment; a :class:`SettingsError` naming every bad variable, its
    value and what it accepts."""
    try:
        return cls()
    except ValidationError as exc:
        raise SettingsError(settings_problems(exc, cls)) from None


def settings_problems(exc: ValidationError, cls: type[BaseSettings]) -> str:
    """One line per bad setting: ``CONVNAS_API_READ='Token': Input should be 'open' or ...``
    (a secret's value is never shown)."""
    lines = []
    for error in exc.errors():
        loc = [str(part) for part in error["loc"]]
        message = error["msg"].removeprefix("Value error, ")
        if not loc:  # a rule across settings: its message names the variables itself
            lines.append(message)
            continue
        field = cls.model_fields.get(loc[0])
        secret = field is not None and "Secret" in str(field.annotation)
        value = error.get("input")
        shown = f"={value!r}" if isinstance(value, str | int | float) and not secret else ""
        lines.append(f"{ENV_PREFIX}{loc[0].upper()}{shown}: {message}")
    return "; ".join(lines)


def get_settings() -> Settings:
    return load_settings(Settings)


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
