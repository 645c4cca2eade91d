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

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from search.service.policy import Limits
from search.settings import DEFAULT_DATABASE_URL
from space.document import MAX_DOCUMENT_BYTES


class ApiSettings(BaseSettings):
    """Database, auth, data roots and request limits of the HTTP service."""

    model_config = SettingsConfigDict(env_prefix="CONVNAS_", extra="ignore")

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
    max_trials: int = Field(default=10_000, ge=1)
    max_layers: int = Field(default=64, ge=1)
    max_input_size: int = Field(default=1024, ge=1)
    # The smallest architecture of a submitted space must fit these (analytic cost, per image):
    # far above any shipped preset, low enough that a runner never starts a hopeless search.
    max_params: int = Field(default=2_000_000_000, ge=1)
    max_flops: int = Field(default=1_000_000_000_000, ge=1)
    max_activation_memory: int = Field(default=64 * 1024**3, ge=1)

    @field_validator("data_roots", mode="before")
    @classmethod
    def _split_roots(cls, value: Any) -> Any:
        if isinstance(value, str):
            parts = value.replace(",", os.pathsep).split(os.pathsep)
            return [part.strip() for part in parts if part.strip()]
        return value

    def tokens(self) -> list[str]:
        """Every accepted token (empty: no auth). An unreadable tokens file is an error at start,
        never an open server."""
        found = [self.api_token.get_secret_value().strip()] if self.api_token else []
        if self.api_tokens_file is not None:
            text = self.api_tokens_file.read_text(encoding="utf-8")
            found += [line.strip() for line in text.splitlines()]
        return [token for token in found if token and not token.startswith("#")]

    def limits(self) -> Limits:
        return Limits(
            max_trials=self.max_trials,
            max_layers=self.max_layers,
            max_input_size=self.max_input_size,
            max_params=self.max_params,
            max_flops=self.max_flops,
            max_activation_memory=self.max_activation_memory,
        )

    def resolved_roots(self) -> list[Path]:
        return [Path(root).expanduser().resolve() for root in self.data_roots]


def get_api_settings() -> ApiSettings:
    return ApiSettings()
