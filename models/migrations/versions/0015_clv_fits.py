"""clv_fits: each weekly fit of the CLV models, so that the report reads it instead of fitting

Revision ID: 0015_clv_fits
Revises: 0014_measurement
Create Date: 2026-12-03 06:40:00

Empty until the clock's next `predictions.refresh`; until then the report fits when asked.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import models.types

revision: str = "0015_clv_fits"
down_revision: str | None = "0014_measurement"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "clv_fits",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("horizon_days", sa.Integer(), nullable=False),
        sa.Column("customers", sa.Integer(), nullable=False),
        sa.Column("parameters", sa.JSON(), nullable=False),
        sa.Column("problem", sa.String(length=500), nullable=True),
        sa.Column("fitted_at", models.types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_clv_fits_as_of", "clv_fits", ["as_of"])


def downgrade() -> None:
    op.drop_index("ix_clv_fits_as_of", table_name="clv_fits")
    op.drop_table("clv_fits")
