"""For the migration tests: what a migrated database differs in from the models."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel

from models.db import get_engine


def schema_differences(url: str, about: str) -> list[Any]:
    """Alembic's differences between the database at `url` and the models, those naming
    `about` (a table or column name); [] when the migrations build what the models declare."""
    with get_engine(url).connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, SQLModel.metadata)
    return [diff for diff in differences if about in str(diff)]
