"""The cell families, torch-free: one module per ``kind``, registered in :data:`FAMILIES`.

A family is two files and one line:

- ``space/cells/<kind>.py``: its frozen model, a :class:`~space.cells.base.CellModel` subclass
  bound to ``MODEL``, whose hooks give its parameters (inventory), its kept tensors (cost), its
  init rules and its sampling repairs; ``space.spec.twins`` builds its searchable twin;
- ``space/nn/cells/<kind>.py``: its torch module, registered with
  ``@space.nn.registry.register_cell("<kind>")`` (``space.nn`` imports it by that name);
- its ``kind`` in :data:`FAMILIES` below.

``tests/nn/test_nn_cells.py`` checks every registered family against the DSL unions, the
inventory, the cost model and the torch builders.
"""

from __future__ import annotations

import importlib

from space.cells.base import CellModel

#: every family, in the order of the DSL's ``kind`` union (and of ``CELL_KINDS``, which the API
#: and the CLI list): a family's module is ``space.cells.<kind>``
FAMILIES: tuple[str, ...] = (
    "none",
    "timedecay",
    "simplernn",
    "gru",
    "lstm",
    "ugrnn",
    "intersectionrnn",
    "rgc",
)


def _load(kind: str) -> type[CellModel]:
    model = importlib.import_module(f"space.cells.{kind}").MODEL
    if not (isinstance(model, type) and issubclass(model, CellModel)):
        raise TypeError(f"space.cells.{kind}.MODEL is not a CellModel subclass: {model!r}")
    if model.model_fields["kind"].default != kind:
        raise TypeError(f"space.cells.{kind}.MODEL has kind {model.model_fields['kind'].default!r}")
    return model


#: the frozen model of every family, by kind
CELL_MODELS: dict[str, type[CellModel]] = {kind: _load(kind) for kind in FAMILIES}
CELL_KINDS: tuple[str, ...] = tuple(CELL_MODELS)

__all__ = ["CELL_KINDS", "CELL_MODELS", "FAMILIES", "CellModel"]
