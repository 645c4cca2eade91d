"""The data roots a search is confined to: a search submitted to a server keeps the server's
resolved CONVNAS_DATA_ROOTS, and its workers confine every file they open to them (NULL: a
local search, unconfined).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("convnas_searches") as batch:
        batch.add_column(sa.Column("data_roots", JSON, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("convnas_searches") as batch:
        batch.drop_column("data_roots")
