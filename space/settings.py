"""Every ``CONVNAS_*`` environment variable: the fields of one pydantic-settings class.

:class:`Settings` holds every variable convnas reads. It is made of sections, one per kind of
process, and each process loads only the section it reads, so that it refuses to start on a bad
value it would use, never on one meant for another machine (a worker node lacks the server's
tokens file and data roots):

- :class:`StoreSettings`: the database, the Ray cluster and Tune's storage (every process)
- :class:`ServerSettings`: auth, data roots and request limits (``convnas serve``)
- :class:`ClientSettings`: the server a ``convnas`` command talks to, its token, tracebacks
- :class:`WorkerSettings`: the dataset cache, threads and test-only faults (Ray workers)

The class lives in ``space`` because every layer may import it (workers may import neither
``search`` nor ``api``); it needs pydantic-settings and the standard library only. It is read
through :func:`load_settings`, never at import time, so tests and the API inject their own
values. A field's description is its line in the operations guide (``docs/settings_table.py``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, TypeVar

from pydantic import (
    BeforeValidator,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticUseDefault
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from space.document import MAX_DOCUMENT_BYTES
from space.errors import ConvnasError

ENV_PREFIX = "CONVNAS_"
DEFAULT_DATABASE_URL = "sqlite:///convnas.db"
# Pixels of a dataset as loaded (images x side x side x channels): 2**32 is 4 GiB of uint8, 1,000
# times the largest shipped example (pathfinder, 4,000 images of 32 px) and digits at 224 px RGB
# 16 times over; 1,000,000 shapes of 1024 px (1.05T pixels, a terabyte) are refused.
DEFAULT_MAX_DATASET_PIXELS = 2**32
_S = TypeVar("_S", bound=BaseSettings)


def _blank_is_unset(value: Any) -> Any:
    # `X= cmd` and compose's `${X:-}` are how shells spell "unset"; for a setting with a safe
    # default that is what a blank value means (a blank token, by contrast, refuses to start).
    if isinstance(value, str) and not value.strip():
        raise PydanticUseDefault
    return value


def _flag(value: Any) -> Any:
    # Anything but a blank, 0, false or no turns a switch on (CONVNAS_DEBUG=yes, =on, =2).
    if isinstance(value, str):
        return value.strip().lower() not in ("", "0", "false", "no")
    return value


BlankIsUnset = BeforeValidator(_blank_is_unset)


class _Section(BaseSettings):
    """The variables one kind of process reads; ``readers`` names it in the guide's table."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore")
    readers: ClassVar[str]


class StoreSettings(_Section):
    """Where the records live and where trials run: read by every process."""

    readers: ClassVar[str] = "all"

    database_url: str = Field(
        default=DEFAULT_DATABASE_URL,
        description="Where searches, trials and the Optuna studies live: "
        "`postgresql://USER:PASSWORD@HOST:5432/DB` for more than one process or machine, else a "
        "SQLite file. `--db` overrides it.",
    )
    database_url_file: Path | None = Field(
        default=None,
        description="A file holding the database URL (a Docker or Kubernetes secret), read in "
        "place of `CONVNAS_DATABASE_URL`, which must then be unset; unreadable or empty "
        "refuses to start.",
    )
    ray_address: str | None = Field(
        default=None,
        description="The Ray cluster to run trials on (`HOST:6379`); unset: each search starts "
        "a private local Ray. `--address` overrides it.",
    )
    log_format: Literal["text", "json"] = Field(
        default="text",
        description="`json`: the API, runners and drivers log one JSON object a line (time, "
        "level, logger, message, search_id, trial) on stderr; `text`: Python's default.",
    )
    runs_dir: str = Field(
        default="convnas_runs",
        min_length=1,
        description="Ray Tune's run files and the trials' checkpoints (Tune's storage path): a "
        "folder, or `s3://bucket/prefix` (credentials and `AWS_ENDPOINT_URL` from the standard "
        "AWS environment, never in the URI). On a cluster every node must reach it: the same "
        "path on a shared volume, or the bucket.",
    )

    @model_validator(mode="after")
    def _url_from_file(self) -> StoreSettings:
        """The URL from ``database_url_file``: a secret's password stays out of the process's
        environment (and out of every container that does not need it)."""
        if self.database_url_file is None:
            return self
        name = f"{ENV_PREFIX}DATABASE_URL_FILE"
        if "database_url" in self.model_fields_set:
            raise ValueError(f"{name} and {ENV_PREFIX}DATABASE_URL are both set: keep one")
        try:
            url = self.database_url_file.read_text(encoding="utf-8").strip()
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
            raise ValueError(f"{name}: cannot read {self.database_url_file} ({reason})") from None
        if not url:
            raise ValueError(f"{name}: {self.database_url_file} is empty")
        self.database_url = url
        return self


class TokenSettings(_Section):
    """The API token: the one the server accepts, and the one the CLI sends."""

    readers: ClassVar[str] = "API, CLI"

    api_token: SecretStr | None = Field(
        default=None,
        description="Server: a bearer token accepted on changes (submit, cancel, delete), taken "
        "literally (a `#` is part of it); set but empty refuses to start. CLI with `--server`: "
        "the token it sends.",
    )


class ServerSettings(TokenSettings):
    """Auth, data roots and request limits of ``convnas serve``.

    Data roots: a spec submitted over HTTP may name a file dataset (``npz``, ``imagefolder``)
    only inside one of them. With none, file datasets are refused over HTTP (the built-in
    generated ones still work): checking that a dataset exists reads the server's file system,
    so an open default would let any client probe, and have the runner read, any path the
    server can. Binding to loopback does not make that safe (other local users, a reverse
    proxy), so the default does not depend on the bind address.
    """

    readers: ClassVar[str] = "API"

    api_tokens_file: Path | None = Field(
        default=None,
        description="Server: a file of accepted tokens, one a line (`#` comments); unreadable "
        "or holding no token refuses to start, never an open server.",
    )
    api_read: Literal["open", "token"] = Field(
        default="open",
        description="`open`: anyone who reaches the server may read; `token`: reads need a "
        "token too (and the web pages are off); `token` without a token refuses to start.",
    )
    data_roots: Annotated[list[Path], NoDecode] = Field(
        default_factory=list,
        description="Folders a spec submitted over HTTP may name a file in (`:`- or "
        "comma-separated, each an existing folder); unset: file datasets are refused over HTTP.",
    )
    max_body_bytes: int = Field(
        default=MAX_DOCUMENT_BYTES, ge=1, description="Largest request body the server reads."
    )
    body_timeout: float = Field(
        default=30.0, gt=0, description="Seconds a client has to send a whole request body"
    )
    allowed_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Host names the server answers to besides IP addresses (comma list; * "
        "for any); none: the loopback names and the address it listens on",
    )
    max_trials: int = Field(
        default=10_000, ge=1, description="Most trials a submitted search may ask for."
    )
    max_layers: int = Field(default=64, ge=1, description="Most layers a submitted space may have.")
    max_input_size: int = Field(
        default=1024, ge=1, description="Largest input image side a submitted spec may use."
    )
    # The smallest architecture of a submitted space must fit these (analytic cost, per image):
    # far above any shipped preset, low enough that a runner never starts a hopeless search.
    max_params: int = Field(
        default=2_000_000_000,
        ge=1,
        description="A submitted space's smallest architecture must have at most this many "
        "parameters.",
    )
    max_flops: int = Field(
        default=1_000_000_000_000,
        ge=1,
        description="... and at most this many multiply-adds per image.",
    )
    max_activation_memory: int = Field(
        default=64 * 1024**3,
        ge=1,
        description="... and at most this many bytes of activations per image.",
    )
    max_dataset_pixels: int = Field(
        default=DEFAULT_MAX_DATASET_PIXELS,
        ge=1,
        description="Most pixels (images x side x side x channels, at the larger of the "
        "generated and the input size) a submitted spec's dataset may hold, where its image "
        "count is known before reading a file: the built-in kinds, an image folder with "
        "`max_per_class`.",
    )

    _tokens: list[str] = PrivateAttr(default_factory=list)

    @field_validator("allowed_hosts", mode="before")
    @classmethod
    def _split_hosts(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip().lower() for part in value.split(",") if part.strip()]
        return value

    @field_validator("data_roots", mode="before")
    @classmethod
    def _split_roots(cls, value: Any) -> Any:
        if isinstance(value, str):
            parts = value.replace(",", os.pathsep).split(os.pathsep)
            named = [part.strip() for part in parts if part.strip()]
            if not named:  # set, yet no folder: unset it to refuse file datasets over HTTP
                raise ValueError("set but names no folder")
            return named
        return value

    @field_validator("data_roots")
    @classmethod
    def _roots_exist(cls, roots: list[Path]) -> list[Path]:
        # A mistyped root would refuse every file dataset for reasons no client could see.
        for root in roots:
            if not Path(root).expanduser().is_dir():
                raise ValueError(f"{root} is not an existing folder")
        return roots

    @field_validator("api_token")
    @classmethod
    def _literal_token(cls, value: SecretStr | None) -> SecretStr | None:
        # Taken literally: a '#' is part of the token (comments belong to the tokens file).
        if value is not None:
            check_token(value.get_secret_value())
        return value

    @model_validator(mode="after")
    def _fail_closed(self) -> ServerSettings:
        """Auth that is asked for but yields no token refuses to start, never serves open."""
        self._tokens = [self.api_token.get_secret_value()] if self.api_token else []
        if self.api_tokens_file is not None:
            self._tokens += tokens_in_file(self.api_tokens_file)
        if self.api_read == "token" and not self._tokens:
            raise ValueError(
                f"{ENV_PREFIX}API_READ=token needs a token: set {ENV_PREFIX}API_TOKEN or "
                f"{ENV_PREFIX}API_TOKENS_FILE"
            )
        return self

    def tokens(self) -> list[str]:
        """Every accepted token (empty: no auth was asked for)."""
        return list(self._tokens)

    def resolved_roots(self) -> list[Path]:
        return [Path(root).expanduser().resolve() for root in self.data_roots]


class ClientSettings(TokenSettings):
    """What the ``convnas`` command reads besides the store: never refuses to start (a blank
    token or server is as good as unset, as a shell's ``X= convnas ...`` means)."""

    readers: ClassVar[str] = "CLI"

    server: str | None = Field(
        default=None,
        description="The server to talk to instead of a database (`--server`); unset: the "
        "database.",
    )
    debug: Annotated[bool, BeforeValidator(_flag)] = Field(
        default=False, description="`1`: print tracebacks of unexpected errors (`--debug`)."
    )

    def server_url(self) -> str | None:
        return (self.server or "").strip() or None

    def token(self) -> str | None:
        """The token to send, or None (unset or blank)."""
        secret = self.api_token.get_secret_value() if self.api_token else ""
        return secret.strip() or None


class WorkerSettings(_Section):
    """What a Ray worker reads: set these on the worker nodes, where Ray starts the trials."""

    readers: ClassVar[str] = "Ray workers"

    data_dir: Annotated[Path, BlankIsUnset] = Field(
        default=Path("~/.cache/convnas/data"), description="The cache of generated datasets."
    )
    threads: Annotated[int | None, BlankIsUnset] = Field(
        default=None,
        ge=1,
        description="Torch threads per trial; unset: the CPUs Ray gave the trial, at most 16.",
    )
    fault_oom_at_step: Annotated[int | None, BlankIsUnset] = Field(
        default=None,
        ge=1,
        description="Tests only, never in production: every trial raises a CUDA out-of-memory "
        "error at this optimizer step (1 = the first), to exercise the `out_of_memory` path "
        "without a GPU.",
    )
    fault_oom_below_share: Annotated[float | None, BlankIsUnset] = Field(
        default=None,
        description="Tests only: with the above, only trials whose GPU share is below this "
        "fail; unset: any share.",
    )

    def cache_dir(self) -> Path:
        return self.data_dir.expanduser()


class Settings(StoreSettings, ServerSettings, ClientSettings, WorkerSettings):
    """Every ``CONVNAS_*`` variable. ``convnas serve`` loads it all (it runs the API, a runner
    and, on a local Ray, the workers); other processes load their section."""


# The sections in the order of the guide's table; each field is declared in exactly one.
SECTIONS: tuple[type[_Section], ...] = (
    StoreSettings,
    TokenSettings,
    ServerSettings,
    WorkerSettings,
    ClientSettings,
)


def own_fields(section: type[_Section]) -> list[str]:
    """The fields ``section`` declares itself (not those of the sections it extends)."""
    inherited = {name for base in section.__bases__ for name in getattr(base, "model_fields", {})}
    return [name for name in section.model_fields if name not in inherited]


def env_name(field: str) -> str:
    """``api_token`` -> ``CONVNAS_API_TOKEN``; a KeyError for a name that is no setting."""
    if field not in Settings.model_fields:  # a typo fails here, not as an unread variable
        raise KeyError(f"{field!r} is not a setting")
    return f"{ENV_PREFIX}{field.upper()}"


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


def check_token(token: str) -> None:
    """A token must be something a client can send: not empty, no spaces or control
    characters (a header value cannot carry them intact)."""
    if not token.strip():
        raise ValueError("set but empty; unset it for a server without auth, or give a token")
    if any(ch.isspace() or not ch.isprintable() for ch in token):
        raise ValueError("a token must not hold spaces or control characters")


def tokens_in_file(path: Path) -> list[str]:
    """The tokens of a tokens file: one a line; blank lines and ``#`` comments skipped."""
    name = f"{ENV_PREFIX}API_TOKENS_FILE"
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise ValueError(f"{name}: cannot read {path} ({reason})") from None
    lines = [line.strip() for line in text.splitlines()]
    found = [line for line in lines if line and not line.startswith("#")]
    if not found:
        raise ValueError(f"{name}: {path} holds no token (only blank lines or # comments)")
    for number, token in enumerate(found, 1):
        try:
            check_token(token)
        except ValueError as exc:
            raise ValueError(f"{name}: {path}, token {number}: {exc}") from None
    return found
