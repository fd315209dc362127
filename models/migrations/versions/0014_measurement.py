"""attribution: each order credited to the email that earned it, and each delivery's rule

Revision ID: 0014_measurement
Revises: 0013_loyalty
Create Date: 2026-12-02 19:30:00

Deliveries scheduled before this revision take the default rule: `received`, five days.
Orders placed before it are not attributed: reports count from the upgrade on.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import models.types

revision: str = "0014_measurement"
down_revision: str | None = "0013_loyalty"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("attribution", sa.String(8), nullable=False, server_default="received")
        )
        batch_op.add_column(
            sa.Column("attribution_window_s", sa.Integer(), nullable=False, server_default="432000")
        )
    op.create_table(
        "attributions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("delivery_id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("trigger", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("rule", sa.String(8), nullable=False),
        sa.Column("window_s", sa.Integer(), nullable=False),
        sa.Column("touched_at", models.types.UTCDateTime(), nullable=False),
        sa.Column("attributed_at", models.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"]),
        sa.ForeignKeyConstraint(["delivery_id"], ["deliveries.id"]),
        sa.ForeignKeyConstraint(["order_id"], ["orders.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("order_id"),
    )
    op.create_index("ix_attributions_delivery", "attributions", ["delivery_id"])
    op.create_index("ix_attributions_customer_id", "attributions", ["customer_id"])


def downgrade() -> None:
    op.drop_index("ix_attributions_customer_id", table_name="attributions")
    op.drop_index("ix_attributions_delivery", table_name="attributions")
    op.drop_table("attributions")
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_column("attribution_window_s")
        batch_op.drop_column("attribution")
