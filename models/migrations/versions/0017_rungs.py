"""the customer ladder: each customer's rung, and every move between rungs

Revision ID: 0017_rungs
Revises: 0016_broadcast_winner
Create Date: 2026-12-03 06:30:00

No history is made up: customers have no rung until their next event or the first daily
refresh after the upgrade places them (a first placement is a move from no rung, and sends
no `rung.*` event). The migration matrix of a period counts from there.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import models.types

revision: str = "0017_rungs"
down_revision: str | None = "0016_broadcast_winner"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("rung", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True)
        )
        batch_op.add_column(sa.Column("rung_changed_at", models.types.UTCDateTime(), nullable=True))
        batch_op.add_column(
            sa.Column("previous_rung", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True)
        )
        batch_op.add_column(
            sa.Column("rung_version", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.create_index("ix_customers_rung_changed_at", ["rung_changed_at"])
    op.create_table(
        "ladder_moves",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("from_rung", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True),
        sa.Column("to_rung", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("moved_at", models.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("customer_id", "version"),
    )
    op.create_index("ix_ladder_moves_moved_at", "ladder_moves", ["moved_at"])


def downgrade() -> None:
    op.drop_index("ix_ladder_moves_moved_at", table_name="ladder_moves")
    op.drop_table("ladder_moves")
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.drop_index("ix_customers_rung_changed_at")
        batch_op.drop_column("rung_version")
        batch_op.drop_column("previous_rung")
        batch_op.drop_column("rung_changed_at")
        batch_op.drop_column("rung")
