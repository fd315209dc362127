"""sendgrid: provider events, preferences, sending pauses

Revision ID: 0003_sendgrid
Revises: 0002_inbox
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import models.types

revision: str = "0003_sendgrid"
down_revision: str | None = "0002_inbox"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "provider_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("provider", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column(
            "provider_event_id", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False
        ),
        sa.Column("type", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("delivery_id", sa.Integer(), nullable=True),
        sa.Column("occurred_at", models.types.UTCDateTime(), nullable=False),
        sa.Column("received_at", models.types.UTCDateTime(), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("applied_at", models.types.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("provider", "provider_event_id"),
    )
    with op.batch_alter_table("provider_events", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_provider_events_delivery_id"), ["delivery_id"], unique=False
        )
    op.create_table(
        "preferences",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.Integer(), nullable=False),
        sa.Column("message_class", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("opted_out", sa.Boolean(), nullable=False),
        sa.Column("source", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("changed_at", models.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("customer_id", "message_class"),
    )
    op.create_table(
        "sending_pauses",
        sa.Column("provider", sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("paused_at", models.types.UTCDateTime(), nullable=False),
        sa.Column("probe_at", models.types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("provider"),
    )


def downgrade() -> None:
    op.drop_table("sending_pauses")
    op.drop_table("preferences")
    with op.batch_alter_table("provider_events", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_provider_events_delivery_id"))
    op.drop_table("provider_events")
