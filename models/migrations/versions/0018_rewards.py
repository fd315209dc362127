"""loyalty rewards (unlocked, redeemed, expired, refused with the reason), code pools, the
fingerprints fair play compares, and when a customer's birthday was given and who referred them

Revision ID: 0018_rewards
Revises: 0017_rungs
Create Date: 2026-12-03 06:20:00

Customers whose birthday was recorded before this revision have no `birthday_set_at`: their
birthday counts as given long ago (it was there before the rewards were).
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

from models.types import UTCDateTime

revision: str = "0018_rewards"
down_revision: str | None = "0017_rungs"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Text = sqlmodel.sql.sqltypes.AutoString


def upgrade() -> None:
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("birthday_set_at", UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column("referred_by", Text(length=320), nullable=True))
    op.create_table(
        "loyalty_rewards",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("customer_id", sa.Integer(), sa.ForeignKey("customers.id"), nullable=False),
        sa.Column("reward", Text(length=64), nullable=False),
        sa.Column("cause", Text(length=300), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("reason", Text(length=500), nullable=True),
        sa.Column("points", sa.Integer(), nullable=False),
        sa.Column("code", Text(length=255), nullable=True),
        sa.Column("code_source", Text(length=16), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=True),
        sa.Column("redeemed_at", UTCDateTime(), nullable=True),
        sa.Column("order_id", sa.Integer(), sa.ForeignKey("orders.id"), nullable=True),
        sa.Column("issue_attempts", sa.Integer(), nullable=False),
        sa.Column("issue_error", Text(length=500), nullable=True),
        sa.UniqueConstraint("cause"),
        sa.UniqueConstraint("code"),
    )
    op.create_index("ix_loyalty_rewards_customer_id", "loyalty_rewards", ["customer_id"])
    op.create_table(
        "loyalty_codes",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("reward", Text(length=64), nullable=False),
        sa.Column("code", Text(length=255), nullable=False),
        sa.Column("source", Text(length=16), nullable=False),
        sa.Column("imported_at", UTCDateTime(), nullable=False),
        sa.Column("reward_id", sa.Integer(), sa.ForeignKey("loyalty_rewards.id"), nullable=True),
        sa.UniqueConstraint("code"),
        sa.UniqueConstraint("reward_id"),
    )
    op.create_index("ix_loyalty_codes_reward", "loyalty_codes", ["reward"])
    op.create_table(
        "loyalty_fingerprints",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("customer_id", sa.Integer(), sa.ForeignKey("customers.id"), nullable=False),
        sa.Column("kind", Text(length=16), nullable=False),
        sa.Column("digest", Text(length=64), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("customer_id", "kind", "digest"),
    )
    op.create_index("ix_loyalty_fingerprints_customer_id", "loyalty_fingerprints", ["customer_id"])
    op.create_index("ix_loyalty_fingerprints_digest", "loyalty_fingerprints", ["digest"])


def downgrade() -> None:
    op.drop_index("ix_loyalty_fingerprints_digest", table_name="loyalty_fingerprints")
    op.drop_index("ix_loyalty_fingerprints_customer_id", table_name="loyalty_fingerprints")
    op.drop_table("loyalty_fingerprints")
    op.drop_index("ix_loyalty_codes_reward", table_name="loyalty_codes")
    op.drop_table("loyalty_codes")
    op.drop_index("ix_loyalty_rewards_customer_id", table_name="loyalty_rewards")
    op.drop_table("loyalty_rewards")
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.drop_column("referred_by")
        batch_op.drop_column("birthday_set_at")
