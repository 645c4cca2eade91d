"""A trial's attempts: each time Ray Tune started it (a first run, then a retry after its worker
or node died), with the node, the times, the epochs it reached and how it ended (NULL: a trial
recorded before attempts were kept).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("convnas_trials") as batch:
        batch.add_column(sa.Column("attempts", JSON, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("convnas_trials") as batch:
        batch.drop_column("attempts")
