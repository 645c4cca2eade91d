"""The space core stays light: importing it never drags in torch or the service stack."""

from __future__ import annotations

import pkgutil
import subprocess
import sys
from pathlib import Path

import space

HEAVY = ("torch", "optuna", "ray", "sqlalchemy", "fastapi")


def _core_modules() -> list[str]:
    root = Path(space.__file__).parent
    names = ["space"]
    for info in pkgutil.walk_packages([str(root)], prefix="space."):
        if not info.name.startswith("space.nn"):
            names.append(info.name)
    return names


def test_space_core_modules_do_not_import_heavy_packages() -> None:
    modules = _core_modules()
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout
    assert len(modules) >= 5
