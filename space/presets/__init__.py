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
from space.errors import Problem, SpecError, read_document

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
