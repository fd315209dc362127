"""Migration 0021: the memberships table and a reward's own amount, as the models declare
them, down and up again."""

from __future__ import annotations

from alembic import command

from models import migrate
from tests.support.migrations import schema_differences


def test_the_migration_builds_the_memberships_as_declared(database_url: str) -> None:
    assert schema_differences(database_url, "loyalty_memberships") == []
    assert schema_differences(database_url, "value_minor") == []


def test_the_migration_goes_down_and_up_again(empty_url: str) -> None:
    migrate.upgrade(empty_url)
    command.downgrade(migrate.alembic_config(empty_url), "0020_loyalty_actions")
    assert migrate.current(empty_url) == "0020_loyalty_actions"
    assert schema_differences(empty_url, "loyalty_memberships") != []  # gone
    assert schema_differences(empty_url, "value_minor") != []
    migrate.upgrade(empty_url)
    assert schema_differences(empty_url, "loyalty_memberships") == []
    assert schema_differences(empty_url, "value_minor") == []
