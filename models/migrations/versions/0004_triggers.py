"""triggers: delivery class, priority and first due time; a customer's previous segment

Revision ID: 0004_triggers
Revises: 0003_sendgrid
Create Date: 2026-11-30 02:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import models.types

revision: str = "0004_triggers"
down_revision: str | None = "0003_sendgrid"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("due_at", models.types.UTCDateTime(), nullable=True))
        batch_op.add_column(
            sa.Column(
                "message_class", sa.String(length=16), nullable=False, server_default="marketing"
            )
        )
        batch_op.add_column(sa.Column("priority", sa.Integer(), nullable=False, server_default="0"))
        batch_op.create_index(
            "ix_deliveries_customer_sent_at", ["customer_id", "sent_at"], unique=False
        )
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "previous_segment", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.drop_column("previous_segment")
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_index("ix_deliveries_customer_sent_at")
        batch_op.drop_column("priority")
        batch_op.drop_column("message_class")
        batch_op.drop_column("due_at")
