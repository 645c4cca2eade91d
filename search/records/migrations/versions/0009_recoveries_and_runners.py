"""Unattended recovery (issue 20): each time a search's driver lost its Ray cluster and the
search went back to the queue ({at, reason}, oldest first; NULL: never), the runners with
their state (driving, waiting for the cluster...) for /health and /metrics, and a trial's
reserved GPU memory peak beside its allocated one.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("convnas_searches") as batch:
        batch.add_column(sa.Column("recoveries", JSON, nullable=True))
    with op.batch_alter_table("convnas_trials") as batch:
        batch.add_column(sa.Column("peak_reserved", sa.BigInteger(), nullable=True))
    op.create_table(
        "convnas_runners",
        sa.Column("id", sa.String(200), primary_key=True),
        sa.Column("state", sa.String(40), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("searches", JSON, nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_convnas_runners_heartbeat_at", "convnas_runners", ["heartbeat_at"])


def downgrade() -> None:
    op.drop_index("ix_convnas_runners_heartbeat_at", table_name="convnas_runners")
    op.drop_table("convnas_runners")
    with op.batch_alter_table("convnas_trials") as batch:
        batch.drop_column("peak_reserved")
    with op.batch_alter_table("convnas_searches") as batch:
        batch.drop_column("recoveries")
