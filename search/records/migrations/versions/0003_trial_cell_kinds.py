"""The recurrent cell kinds a trial's arch uses (",rgc,lstm,"), backfilled from the stored arch.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# Rows read and updated per round trip: a database with 100k trials is backfilled without
# holding every arch document in memory.
BATCH = 1000

_trials = sa.table(
    "convnas_trials",
    sa.column("id", sa.Integer()),
    sa.column("arch", sa.JSON()),
    sa.column("cell_kinds", sa.String(200)),
)


def cell_kinds(arch: Any) -> str | None:
    """The encoding of ``search.records.db.encode_cells(arch_cell_kinds(arch))`` as it was at this
    revision (kept here so that the migration does not change when the models do)."""
    layers = arch.get("layers") if isinstance(arch, Mapping) else None
    if not isinstance(layers, list) or not layers:
        return None
    kinds: list[str] = []
    for layer in layers:
        cell = layer.get("cell") if isinstance(layer, Mapping) else None
        kind = cell.get("kind", "none") if isinstance(cell, Mapping) else "none"
        if kind != "none" and kind not in kinds:
            kinds.append(str(kind))
    return "," + ",".join(kinds) + "," if kinds else ""


def upgrade() -> None:
    with op.batch_alter_table("convnas_trials") as batch:
        batch.add_column(sa.Column("cell_kinds", sa.String(200), nullable=True))
    connection = op.get_bind()
    last = 0
    while True:
        rows = connection.execute(
            sa.select(_trials.c.id, _trials.c.arch)
            .where(_trials.c.id > last)
            .order_by(_trials.c.id)
            .limit(BATCH)
        ).all()
        if not rows:
            return
        last = rows[-1].id
        updates = [{"key": row.id, "kinds": cell_kinds(row.arch)} for row in rows]
        updates = [u for u in updates if u["kinds"] is not None]
        if updates:
            connection.execute(
                sa.update(_trials)
                .where(_trials.c.id == sa.bindparam("key"))
                .values(cell_kinds=sa.bindparam("kinds")),
                updates,
            )


def downgrade() -> None:
    with op.batch_alter_table("convnas_trials") as batch:
        batch.drop_column("cell_kinds")
