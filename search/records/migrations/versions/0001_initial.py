"""Searches, trials and per-epoch trial metrics.

Revision ID: 0001
Revises:
Create Date: 2026-11-28
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _ts(name: str, nullable: bool = True) -> sa.Column[datetime]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "convnas_searches",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("spec", JSON, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("requested_trials", sa.Integer(), nullable=False),
        sa.Column("study_name", sa.String(200), nullable=False),
        _ts("created_at", nullable=False),
        _ts("started_at"),
        _ts("finished_at"),
        _ts("updated_at", nullable=False),
        _ts("heartbeat_at"),
        sa.Column("runner", sa.String(200)),
        sa.Column("ray_address", sa.String(500)),
        sa.Column("run_dir", sa.String(1000)),
        sa.Column("cancel_requested", sa.Boolean(), nullable=False),
        sa.Column("error", sa.Text()),
        sa.UniqueConstraint("study_name", name="uq_convnas_searches_study_name"),
    )
    op.create_index("ix_convnas_searches_name", "convnas_searches", ["name"])
    op.create_index("ix_convnas_searches_status", "convnas_searches", ["status"])

    op.create_table(
        "convnas_trials",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "search_id",
            sa.Integer(),
            sa.ForeignKey("convnas_searches.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("optuna_trial_id", sa.Integer()),
        sa.Column("tune_trial_id", sa.String(100)),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("arch", JSON, nullable=False),
        sa.Column("arch_hash", sa.String(32), nullable=False),
        sa.Column("config_hash", sa.String(32), nullable=False),
        sa.Column("params", JSON, nullable=False),
        sa.Column("values", JSON),
        sa.Column("n_params", sa.BigInteger()),
        sa.Column("flops", sa.BigInteger()),
        sa.Column("activation_memory", sa.BigInteger()),
        sa.Column("best_val_acc", sa.Float()),
        sa.Column("last_val_acc", sa.Float()),
        sa.Column("epochs", sa.Integer(), nullable=False),
        sa.Column("train_seconds", sa.Float()),
        sa.Column("node", sa.String(200)),
        _ts("created_at", nullable=False),
        _ts("started_at"),
        _ts("finished_at"),
        _ts("heartbeat_at"),
        sa.Column("error", sa.Text()),
        sa.Column("duplicate_of", sa.Integer()),
        sa.Column("pareto", sa.Boolean(), nullable=False),
        sa.Column("checkpoint", sa.String(1000)),
        sa.UniqueConstraint("search_id", "number", name="uq_convnas_trials_search_number"),
    )
    op.create_index("ix_convnas_trials_arch_hash", "convnas_trials", ["arch_hash"])
    op.create_index(
        "ix_convnas_trials_search_status_acc",
        "convnas_trials",
        ["search_id", "status", "best_val_acc"],
    )
    op.create_index("ix_convnas_trials_search_acc", "convnas_trials", ["search_id", "best_val_acc"])
    op.create_index("ix_convnas_trials_search_params", "convnas_trials", ["search_id", "n_params"])
    op.create_index("ix_convnas_trials_search_flops", "convnas_trials", ["search_id", "flops"])
    op.create_index("ix_convnas_trials_search_pareto", "convnas_trials", ["search_id", "pareto"])
    op.create_index(
        "ix_convnas_trials_search_config", "convnas_trials", ["search_id", "config_hash"]
    )

    op.create_table(
        "convnas_trial_metrics",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "trial_id",
            sa.Integer(),
            sa.ForeignKey("convnas_trials.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("epoch", sa.Integer(), nullable=False),
        sa.Column("train_loss", sa.Float()),
        sa.Column("val_loss", sa.Float()),
        sa.Column("val_acc", sa.Float()),
        sa.Column("val_acc_per_step", JSON),
        sa.Column("images_per_sec", sa.Float()),
        sa.Column("elapsed", sa.Float()),
        sa.Column("extra", JSON, nullable=False),
        _ts("recorded_at", nullable=False),
        sa.UniqueConstraint("trial_id", "epoch", name="uq_convnas_trial_metrics_trial_epoch"),
    )


def downgrade() -> None:
    op.drop_table("convnas_trial_metrics")
    op.drop_table("convnas_trials")
    op.drop_table("convnas_searches")
