"""Leaderboard indexes that answer from the index alone: one per sort key (see
search.records.db.BOARD_INDEXES; a search's trials in the key's natural order, then by number,
then every column a leaderboard filters on), and the (search, status) index widened to every sort
key and filter for the counts.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

# Sort key -> (column, natural goal): the leaderboard indexes as this revision made them.
BOARD = {
    "acc": ("best_val_acc", "max"),
    "last_acc": ("last_val_acc", "max"),
    "params": ("n_params", "min"),
    "flops": ("flops", "min"),
    "memory": ("activation_memory", "min"),
    "seconds": ("train_seconds", "min"),
    "epochs": ("epochs", "max"),
    "number": ("number", "min"),
}
FILTERS = ("status", "cell_kinds", "n_params", "flops")
# The two-column leaderboard indexes of 0001 that these replace (under the same names).
REPLACED = {"acc": "best_val_acc", "params": "n_params", "flops": "flops"}
# Counts of one status: every sort key and filter after (search_id, status), so that counting
# a leaderboard's matches reads this index alone.
STATUS_INDEX = "ix_convnas_trials_search_status_acc"
STATUS_COLUMNS = [
    *("search_id", "status", "best_val_acc", "number", "cell_kinds", "n_params", "flops"),
    *("last_val_acc", "activation_memory", "train_seconds", "epochs"),
]


def board_columns(column: str, goal: str) -> list[Any]:
    key = sa.text(f"{column} DESC") if goal == "max" else column
    tie = ["number"] if column != "number" else []
    return ["search_id", key, *tie, *(c for c in FILTERS if c != column)]


def upgrade() -> None:
    for name in REPLACED:
        op.drop_index(f"ix_convnas_trials_search_{name}", table_name="convnas_trials")
    op.drop_index(STATUS_INDEX, table_name="convnas_trials")
    op.create_index(STATUS_INDEX, "convnas_trials", STATUS_COLUMNS)
    for name, (column, goal) in BOARD.items():
        op.create_index(
            f"ix_convnas_trials_search_{name}", "convnas_trials", board_columns(column, goal)
        )


def downgrade() -> None:
    for name in BOARD:
        op.drop_index(f"ix_convnas_trials_search_{name}", table_name="convnas_trials")
    for name, column in REPLACED.items():
        op.create_index(f"ix_convnas_trials_search_{name}", "convnas_trials", ["search_id", column])
    op.drop_index(STATUS_INDEX, table_name="convnas_trials")
    op.create_index(STATUS_INDEX, "convnas_trials", ["search_id", "status", "best_val_acc"])
