"""the studio's people: accounts with a role, their sessions, failed login attempts

Revision ID: 0023_studio_people
Revises: 0022_studio_versions
Create Date: 2026-12-03 14:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

from models.types import UTCDateTime

revision: str = "0023_studio_people"
down_revision: str | None = "0022_studio_versions"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Text = sqlmodel.sql.sqltypes.AutoString


def upgrade() -> None:
    op.create_table(
        "studio_accounts",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("email", Text(length=320), nullable=False),
        sa.Column("password_hash", Text(length=255), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("disabled_at", UTCDateTime(), nullable=True),
        sa.Column("last_login_at", UTCDateTime(), nullable=True),
        sa.UniqueConstraint("email"),
    )
    op.create_table(
        "studio_sessions",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("token_digest", Text(length=64), nullable=False),
        sa.Column("account_id", sa.Integer(), sa.ForeignKey("studio_accounts.id"), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("last_seen_at", UTCDateTime(), nullable=False),
        sa.UniqueConstraint("token_digest"),
    )
    op.create_index("ix_studio_sessions_account_id", "studio_sessions", ["account_id"])
    op.create_table(
        "studio_login_attempts",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("email_digest", Text(length=64), nullable=False),
        sa.Column("client_digest", Text(length=64), nullable=False),
    )
    op.create_index("ix_studio_login_attempts_at", "studio_login_attempts", ["at"])
    op.create_index(
        "ix_studio_login_attempts_email_digest", "studio_login_attempts", ["email_digest"]
    )
    op.create_index(
        "ix_studio_login_attempts_client_digest", "studio_login_attempts", ["client_digest"]
    )


def downgrade() -> None:
    op.drop_index("ix_studio_login_attempts_client_digest", table_name="studio_login_attempts")
    op.drop_index("ix_studio_login_attempts_email_digest", table_name="studio_login_attempts")
    op.drop_index("ix_studio_login_attempts_at", table_name="studio_login_attempts")
    op.drop_table("studio_login_attempts")
    op.drop_index("ix_studio_sessions_account_id", table_name="studio_sessions")
    op.drop_table("studio_sessions")
    op.drop_table("studio_accounts")
