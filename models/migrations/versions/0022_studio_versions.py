"""the studio's versions of templates and trigger files, their publications, the audit log, and
the version each delivery was rendered from

Revision ID: 0022_studio_versions
Revises: 0021_memberships
Create Date: 2026-12-03 14:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

from models.types import UTCDateTime

revision: str = "0022_studio_versions"
down_revision: str | None = "0021_memberships"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Text = sqlmodel.sql.sqltypes.AutoString


def upgrade() -> None:
    op.create_table(
        "studio_versions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("path", Text(length=255), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("author", Text(length=320), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("note", Text(length=500), nullable=True),
        sa.Column("problems", sa.Text(), nullable=True),
        sa.UniqueConstraint("kind", "path", "number", name="uq_studio_versions_number"),
    )
    op.create_table(
        "studio_publications",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("path", Text(length=255), nullable=False),
        sa.Column("version_id", sa.Integer(), sa.ForeignKey("studio_versions.id"), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("published_by", Text(length=320), nullable=False),
        sa.Column("published_at", UTCDateTime(), nullable=False),
    )
    op.create_index("ix_studio_publications_file", "studio_publications", ["kind", "path", "id"])
    op.create_table(
        "studio_audit",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("actor", Text(length=320), nullable=False),
        sa.Column("action", Text(length=64), nullable=False),
        sa.Column("subject", Text(length=320), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
    )
    op.create_index("ix_studio_audit_at", "studio_audit", ["at"])
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.add_column(sa.Column("template_version", sa.Integer(), nullable=True))
    op.create_index("ix_deliveries_variant_id", "deliveries", ["variant", "id"])


def downgrade() -> None:
    op.drop_index("ix_deliveries_variant_id", table_name="deliveries")
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_column("template_version")
    op.drop_index("ix_studio_audit_at", table_name="studio_audit")
    op.drop_table("studio_audit")
    op.drop_index("ix_studio_publications_file", table_name="studio_publications")
    op.drop_table("studio_publications")
    op.drop_table("studio_versions")
