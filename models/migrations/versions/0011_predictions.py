"""each customer's predicted future and ABC class: p_alive, predicted_orders, clv, abc

Revision ID: 0011_predictions
Revises: 0010_job_requests
Create Date: 2026-12-04 13:00:00

Written by the weekly CLV refresh (worker/measurement/predictions.py, abc.py) for customers with
an order; NULL until the first fit, and for customers the models cannot say anything about.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011_predictions"
down_revision: str | None = "0010_job_requests"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("p_alive", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("predicted_orders", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("clv", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("abc", sa.String(length=1), nullable=True))
        batch_op.add_column(sa.Column("abc_score", sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.drop_column("abc_score")
        batch_op.drop_column("abc")
        batch_op.drop_column("clv")
        batch_op.drop_column("predicted_orders")
        batch_op.drop_column("p_alive")
