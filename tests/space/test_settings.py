"""One settings class (issue 19): every ``CONVNAS_*`` variable is a field of
:class:`space.settings.Settings`, declared once, in the section of the process that reads it;
each process refuses a bad value it would use and ignores those meant for other processes."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from space.settings import (
    SECTIONS,
    ClientSettings,
    Settings,
    SettingsError,
    StoreSettings,
    WorkerSettings,
    env_name,
    load_settings,
    own_fields,
)

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("space", "search", "workers", "api")
NAME = re.compile(r"^CONVNAS_[A-Z0-9_]+$")


def named_in_packages() -> dict[str, str]:
    """Every ``CONVNAS_*`` name the packages spell out as a whole string, and one module."""
    found: dict[str, str] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                value = node.value if isinstance(node, ast.Constant) else None
                if isinstance(value, str) and NAME.match(value):
                    found.setdefault(value, str(path.relative_to(ROOT)))
    return found


def test_every_variable_the_packages_name_is_a_setting() -> None:
    fields = {env_name(name) for name in Settings.model_fields}
    unknown = {name: where for name, where in named_in_packages().items() if name not in fields}
    assert not unknown, f"add these to space.settings: {unknown}"


def test_each_field_is_declared_in_exactly_one_section() -> None:
    declared = [name for section in SECTIONS for name in own_fields(section)]
    assert len(declared) == len(set(declared))
    assert set(declared) == set(Settings.model_fields)


def test_env_name_refuses_a_name_that_is_no_setting() -> None:
    assert env_name("api_token") == "CONVNAS_API_TOKEN"
    with pytest.raises(KeyError):
        env_name("api_tokn")


def test_a_process_refuses_only_what_it_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    # A worker node has neither the server's auth nor its data roots.
    monkeypatch.setenv("CONVNAS_API_READ", "token")
    monkeypatch.setenv("CONVNAS_DATA_ROOTS", "/no/such/root")
    for section in (StoreSettings, ClientSettings, WorkerSettings):
        load_settings(section)
    with pytest.raises(SettingsError, match="CONVNAS_DATA_ROOTS='/no/such/root'"):
        load_settings(Settings)


def test_worker_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("CONVNAS_THREADS", "CONVNAS_DATA_DIR", "CONVNAS_FAULT_OOM_AT_STEP"):
        monkeypatch.setenv(name, " ")  # blank: as if unset
    settings = load_settings(WorkerSettings)
    assert settings.threads is None and settings.fault_oom_at_step is None
    assert settings.cache_dir() == Path.home() / ".cache" / "convnas" / "data"
    monkeypatch.setenv("CONVNAS_DATA_DIR", str(tmp_path))
    assert load_settings(WorkerSettings).cache_dir() == tmp_path


@pytest.mark.parametrize(
    ("name", "value", "said"),
    [
        ("CONVNAS_THREADS", "0", "greater than or equal to 1"),
        ("CONVNAS_THREADS", "four", "a valid integer"),
        ("CONVNAS_FAULT_OOM_BELOW_SHARE", "half", "a valid number"),
    ],
)
def test_a_bad_worker_setting_is_refused_by_name(
    name: str, value: str, said: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError, match=f"{name}='{value}': .*{said}"):
        load_settings(WorkerSettings)


def test_client_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONVNAS_API_TOKEN", "  ")  # the server refuses it; a client sends none
    monkeypatch.setenv("CONVNAS_SERVER", " http://h:8000 ")
    monkeypatch.setenv("CONVNAS_DEBUG", "yes")
    settings = load_settings(ClientSettings)
    assert settings.token() is None and settings.server_url() == "http://h:8000"
    assert settings.debug
    for off in ("", "0", "False", "no"):
        monkeypatch.setenv("CONVNAS_DEBUG", off)
        assert not load_settings(ClientSettings).debug
