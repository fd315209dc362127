"""the platform account of each platform id and privacy record (a shop's erasure stays in it)

Revision ID: 0006_privacy
Revises: 0005_templates
Create Date: 2026-12-02 09:45:00

Links made before this revision have no account (NULL): a shop's erasure counts them as the
configured shop's (SHOPIFY_SHOP_DOMAIN), and as nobody's when none is configured.
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = "0006_privacy"
down_revision: str | None = "0005_templates"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("customer_external_ids", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("account", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True)
        )
        batch_op.create_index("ix_customer_external_ids_source_account", ["source", "account"])
    with op.batch_alter_table("privacy_records", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("account", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("privacy_records", schema=None) as batch_op:
        batch_op.drop_column("account")
    with op.batch_alter_table("customer_external_ids", schema=None) as batch_op:
        batch_op.drop_index("ix_customer_external_ids_source_account")
        batch_op.drop_column("account")
