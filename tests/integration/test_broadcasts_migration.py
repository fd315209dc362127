"""Migration 0012: broadcast runs and each delivery's run and A/B variant as the models declare
them, down and up again."""

from __future__ import annotations

from alembic import command

from models import migrate
from tests.support.migrations import schema_differences


def test_the_migration_builds_broadcast_runs_and_the_delivery_columns_as_declared(
    database_url: str,
) -> None:
    assert schema_differences(database_url, "broadcast") == []
    assert schema_differences(database_url, "ab_variant") == []
    assert schema_differences(database_url, "deliveries") == []


def test_the_migration_goes_down_and_up_again(empty_url: str) -> None:
    migrate.upgrade(empty_url)
    command.downgrade(migrate.alembic_config(empty_url), "0011_predictions")
    assert migrate.current(empty_url) == "0011_predictions"
    assert schema_differences(empty_url, "broadcast_runs") != []  # gone
    migrate.upgrade(empty_url)
    assert schema_differences(empty_url, "broadcast") == []
