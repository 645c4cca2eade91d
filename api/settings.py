"""The HTTP service's settings, from ``CONVNAS_*`` environment variables.

Read through :func:`get_api_settings` (never at import time) so tests and ``convnas serve`` can
pass their own :class:`ApiSettings` to ``create_app``.

Data roots: a spec submitted over HTTP may name a file dataset (``npz``, ``imagefolder``) only
inside one of ``CONVNAS_DATA_ROOTS``. With no root configured, file datasets are refused over
HTTP (the built-in generated datasets still work): the check that a dataset exists reads the
server's file system, so an open default would let any client probe, and have the runner read,
any path the server can. Binding to loopback does not make that safe (other local users, a
reverse proxy), so the default does not depend on the bind address.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, PrivateAttr, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from search.service.policy import DEFAULT_MAX_DATASET_PIXELS, Limits
from search.settings import DEFAULT_DATABASE_URL, ENV_PREFIX, load_settings
from space.document import MAX_DOCUMENT_BYTES


class ApiSettings(BaseSettings):
    """Database, auth, data roots and request limits of the HTTP service."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore")

    database_url: str = DEFAULT_DATABASE_URL
    api_token: SecretStr | None = Field(
        default=None, description="Bearer token required on mutations (CONVNAS_API_TOKEN)"
    )
    api_tokens_file: Path | None = Field(
        default=None, description="A file of accepted tokens, one per line"
    )
    api_read: Literal["open", "token"] = Field(
        default="open", description="token: reads need a token too (CONVNAS_API_READ)"
    )
    data_roots: Annotated[list[Path], NoDecode] = Field(
        default_factory=list,
        description="Folders a submitted file dataset must lie in (os.pathsep or comma list)",
    )
    max_body_bytes: int = Field(default=MAX_DOCUMENT_BYTES, ge=1)
    body_timeout: float = Field(
        default=30.0, gt=0, description="Seconds a client has to send a whole request body"
    )
    allowed_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Host names the server answers to besides IP addresses (comma list; * "
        "for any); none: the loopback names and the address it listens on",
    )
    max_trials: int = Field(default=10_000, ge=1)
    max_layers: int = Field(default=64, ge=1)
    max_input_size: int = Field(default=1024, ge=1)
    # The smallest architecture of a submitted space must fit these (analytic cost, per image):
    # far above any shipped preset, low enough that a runner never starts a hopeless search.
    max_params: int = Field(default=2_000_000_000, ge=1)
    max_flops: int = Field(default=1_000_000_000_000, ge=1)
    max_activation_memory: int = Field(default=64 * 1024**3, ge=1)
    max_dataset_pixels: int = Field(
        default=DEFAULT_MAX_DATASET_PIXELS,
        ge=1,
        description="Most pixels (images x side x side x channels) a built-in dataset may hold",
    )

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

    _tokens: list[str] = PrivateAttr(default_factory=list)

    @field_validator("api_token")
    @classmethod
    def _literal_token(cls, value: SecretStr | None) -> SecretStr | None:
        # Taken literally: a '#' is part of the token (comments belong to the tokens file).
        if value is not None:
            check_token(value.get_secret_value())
        return value

    @model_validator(mode="after")
    def _fail_closed(self) -> ApiSettings:
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

    def limits(self) -> Limits:
        return Limits(
            max_trials=self.max_trials,
            max_layers=self.max_layers,
            max_input_size=self.max_input_size,
            max_params=self.max_params,
            max_flops=self.max_flops,
            max_activation_memory=self.max_activation_memory,
            max_dataset_pixels=self.max_dataset_pixels,
        )

    def resolved_roots(self) -> list[Path]:
        return [Path(root).expanduser().resolve() for root in self.data_roots]


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


def get_api_settings() -> ApiSettings:
    """The settings from the environment; a SettingsError naming each bad variable."""
    return load_settings(ApiSettings)
