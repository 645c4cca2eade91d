"""Where and how a trial ran, and its neural fit: the GPU share it got, the memory estimate its
share was packed by, the measured peak memory, the neural fit objective (with its leaderboard
index, as search.records.db.BOARD_INDEXES makes it) and the full fit table.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
# The leaderboard index of the new sort key, as revision 0004 made the others: a search's
# trials best fit first, then by number, then every column a leaderboard filters on.
FIT_INDEX = "ix_convnas_trials_search_neural_fit"
FIT_COLUMNS: list[str | sa.TextClause] = [
    "search_id",
    sa.text("neural_fit DESC"),
    "number",
    *("status", "cell_kinds", "n_params", "flops"),
]


def upgrade() -> None:
    with op.batch_alter_table("convnas_trials") as batch:
        batch.add_column(sa.Column("gpu_share", sa.Float(), nullable=True))
        batch.add_column(sa.Column("memory_estimate", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("peak_memory", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("neural_fit", sa.Float(), nullable=True))
        batch.add_column(sa.Column("neural", JSON, nullable=True))
    op.create_index(FIT_INDEX, "convnas_trials", FIT_COLUMNS)


def downgrade() -> None:
    op.drop_index(FIT_INDEX, table_name="convnas_trials")
    with op.batch_alter_table("convnas_trials") as batch:
        for name in ("neural", "neural_fit", "peak_memory", "memory_estimate", "gpu_share"):
            batch.drop_column(name)
