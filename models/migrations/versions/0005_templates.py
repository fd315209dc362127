"""product recommendations for templates

Revision ID: 0005_templates
Revises: 0004_triggers
Create Date: 2026-11-30 02:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0005_templates"
down_revision: str | None = "0004_triggers"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "product_recommendations",
        sa.Column("anchor", sqlmodel.sql.sqltypes.AutoString(length=210), nullable=False),
        sa.Column("product_id", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("kind", sa.Integer(), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("title", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column("category", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True),
        sa.Column("price", sa.Integer(), nullable=False),
        sa.Column("currency", sqlmodel.sql.sqltypes.AutoString(length=3), nullable=False),
        sa.PrimaryKeyConstraint("anchor", "product_id"),
    )


def downgrade() -> None:
    op.drop_table("product_recommendations")
