"""Notes (issue 23): a researcher's markdown note on a search and on a trial (NULL: none).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-08
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for table in ("convnas_searches", "convnas_trials"):
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("note", sa.Text(), nullable=True))


def downgrade() -> None:
    for table in ("convnas_trials", "convnas_searches"):
        with op.batch_alter_table(table) as batch:
            batch.drop_column("note")
