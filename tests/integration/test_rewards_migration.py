"""Migration 0016: rewards, code pools, fingerprints, and a customer's birthday_set_at and
referred_by, as the models declare them, down and up again."""

from __future__ import annotations

from alembic import command

from models import migrate
from tests.support.migrations import schema_differences

TABLES = ("loyalty_rewards", "loyalty_codes", "loyalty_fingerprints", "customers")


def test_the_migration_builds_the_tables_as_declared(database_url: str) -> None:
    for name in TABLES:
        assert schema_differences(database_url, name) == [], name


def test_the_migration_goes_down_and_up_again(empty_url: str) -> None:
    migrate.upgrade(empty_url)
    command.downgrade(migrate.alembic_config(empty_url), "0017_rungs")
    assert migrate.current(empty_url) == "0017_rungs"
    assert schema_differences(empty_url, "loyalty_rewards") != []  # gone
    assert schema_differences(empty_url, "referred_by") != []
    migrate.upgrade(empty_url)
    for name in TABLES:
        assert schema_differences(empty_url, name) == [], name
