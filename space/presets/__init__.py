"""The shipped reference architectures: one YAML arch file per preset, next to this module.

``{family}_shallow`` / ``{family}_intermediate`` reproduce the released models of Nayebi et al.
(neuroailab/convrnns) for the seven cell families; ``ff_shallow`` / ``ff_intermediate`` are the
feedforward baselines of the two backbones. Each file carries ``meta.description`` and
``meta.source``; ``meta`` is not part of the arch hash.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

from space.arch import Arch, load_arch
from space.document import read_document
from space.errors import Problem, SpecError

PRESET_DIR = Path(__file__).resolve().parent


@dataclass(frozen=True)
class PresetInfo:
    name: str
    description: str
    path: Path


def preset_names() -> list[str]:
    """Names of the shipped presets, sorted."""
    return sorted(path.stem for path in PRESET_DIR.glob("*.yaml"))


def list_presets() -> list[PresetInfo]:
    """Every shipped preset with its one-line description (read from ``meta.description``)."""
    infos = []
    for name in preset_names():
        path = PRESET_DIR / f"{name}.yaml"
        data, _ = read_document(path)
        meta = data.get("meta", {}) if isinstance(data, dict) else {}
        infos.append(PresetInfo(name, str(meta.get("description", "")), path))
    return infos


def preset_path(name: str) -> Path:
    """The file of preset ``name``; an unknown name is a SpecError listing the valid names."""
    path = PRESET_DIR / f"{name}.yaml"
    if not name or "/" in name or "\\" in name or not path.is_file():
        valid = ", ".join(preset_names())
        raise SpecError([Problem("preset", f"unknown preset; valid presets: {valid}", name)])
    return path


@cache
def _load(name: str) -> Arch:
    return load_arch(preset_path(name))


def load_preset(name: str) -> Arch:
    """The frozen :class:`Arch` of preset ``name`` (cached: presets are immutable)."""
    return _load(name)


def resolve_arch(name_or_path: str) -> Arch:
    """A preset name or the path of an arch file (YAML/JSON, exported files included).

    An existing file wins over a preset of the same name; something that is neither a file nor
    a preset is an error that lists the presets.
    """
    path = Path(name_or_path)
    if path.is_file():
        _refuse_search_spec(path)
        return load_arch(path)
    looks_like_path = path.suffix in (".yaml", ".yml", ".json") or len(path.parts) > 1
    if looks_like_path:
        raise SpecError(
            [
                Problem(
                    "arch",
                    "no such arch file (and not a preset name; valid presets: "
                    f"{', '.join(preset_names())})",
                    name_or_path,
                )
            ]
        )
    return load_preset(name_or_path)


# Keys only a search spec has (an arch has none of them), and the leaf forms of a searched value.
_SPEC_KEYS = ("search", "objectives", "cells", "constraints", "dataset")
_LEAF_KEYS = ("choice", "int", "float", "bool", "one_of")


def _refuse_search_spec(path: Path) -> None:
    """A search spec handed where an arch is expected gets one clear error, not a page of
    validation errors: it has to be sampled into an arch first."""
    data, _ = read_document(path)
    if isinstance(data, dict) and "arch" in data and "format" not in data:
        data = data["arch"]  # an exported file with provenance
    if not isinstance(data, dict):
        return
    is_spec = str(data.get("format", "")).startswith("convnas.spec/")
    searched = _has_leaf({k: v for k, v in data.items() if k != "meta"})  # meta is free-form
    if is_spec or any(key in data for key in _SPEC_KEYS) or searched:
        raise SpecError(
            [
                Problem(
                    "",
                    "this is a search spec, not an architecture; sample an architecture first: "
                    f"convnas space sample {path} > arch.yaml",
                    source=str(path),
                )
            ]
        )


def _has_leaf(value: object) -> bool:
    if isinstance(value, dict):
        if len(value) <= 3 and any(key in value for key in _LEAF_KEYS):
            return True
        return any(_has_leaf(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_leaf(v) for v in value)
    return False
