"""The inbox tables as the migration builds them match the models, on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel

from models.db import get_engine


def test_the_migration_builds_the_inbox_and_privacy_tables_as_the_models_declare(
    database_url: str,
) -> None:
    with get_engine(database_url).connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, SQLModel.metadata)
    mine = [diff for diff in differences if "inbox" in str(diff) or "privacy" in str(diff)]
    assert mine == []
