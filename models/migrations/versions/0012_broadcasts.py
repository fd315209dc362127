"""broadcasts: their runs, and each delivery's run and A/B variant

Revision ID: 0012_broadcasts
Revises: 0011_predictions
Create Date: 2026-12-02 19:30:00

A broadcast run is resolved into one delivery per customer of its audience; the unique index
on (run, customer) makes a second resolve (a crash, a second clock) insert nothing.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import models.types

revision: str = "0012_broadcasts"
down_revision: str | None = "0011_predictions"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "broadcast_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("broadcast", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("occurs_on", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("resolve_at", models.types.UTCDateTime(), nullable=False),
        sa.Column("created_at", models.types.UTCDateTime(), nullable=False),
        sa.Column("resolved_at", models.types.UTCDateTime(), nullable=True),
        sa.Column("cancelled_at", models.types.UTCDateTime(), nullable=True),
        sa.Column("reached", sa.Integer(), nullable=False, server_default="0"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("broadcast", "occurs_on"),
    )
    op.create_index(
        "ix_broadcast_runs_status_resolve_at", "broadcast_runs", ["status", "resolve_at"]
    )
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("broadcast_run_id", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("ab_variant", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True)
        )
        batch_op.create_foreign_key(
            "fk_deliveries_broadcast_run_id", "broadcast_runs", ["broadcast_run_id"], ["id"]
        )
        batch_op.create_index(
            "ux_deliveries_broadcast_customer", ["broadcast_run_id", "customer_id"], unique=True
        )


def downgrade() -> None:
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_index("ux_deliveries_broadcast_customer")
        batch_op.drop_constraint("fk_deliveries_broadcast_run_id", type_="foreignkey")
        batch_op.drop_column("ab_variant")
        batch_op.drop_column("broadcast_run_id")
    op.drop_index("ix_broadcast_runs_status_resolve_at", table_name="broadcast_runs")
    op.drop_table("broadcast_runs")
