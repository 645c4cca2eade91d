"""Search ids are never reused: SQLite's AUTOINCREMENT on the searches table (PostgreSQL's
sequence already never hands an id out twice). Without it, SQLite gives a new search the id of
the newest deleted one, and a link to the deleted search opens the new one.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

TABLE = "convnas_searches"


def _autoincrement(on: bool) -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    # SQLite cannot alter a key: batch mode copies the table into one created with the option
    # (sqlite_sequence then starts from the largest id in use).
    with op.batch_alter_table(TABLE, recreate="always", table_kwargs={"sqlite_autoincrement": on}):
        pass


def upgrade() -> None:
    _autoincrement(True)


def downgrade() -> None:
    _autoincrement(False)
