"""broadcast runs: a test-then-winner's winner_at, winner and winner_note

Revision ID: 0016_broadcast_winner
Revises: 0015_clv_fits
Create Date: 2026-12-03 07:10:00

A run of a broadcast with a [test] is `testing` once its test share has deliveries, until the
clock picks the winner at `winner_at` and resolves the rest.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import models.types

revision: str = "0016_broadcast_winner"
down_revision: str | None = "0015_clv_fits"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("broadcast_runs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("winner_at", models.types.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column("winner", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("winner_note", sa.String(length=500), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("broadcast_runs", schema=None) as batch_op:
        batch_op.drop_column("winner_note")
        batch_op.drop_column("winner")
        batch_op.drop_column("winner_at")
