"""Migrations 0010 and 0011: a job's request time on leases, and each customer's predicted
future and ABC class, as the models declare them, down and up again."""

from __future__ import annotations

from alembic import command

from models import migrate
from tests.support.migrations import schema_differences


def test_the_migrations_build_the_columns_as_declared(database_url: str) -> None:
    assert schema_differences(database_url, "leases") == []
    assert schema_differences(database_url, "customers") == []


def test_the_migrations_go_down_and_up_again(empty_url: str) -> None:
    migrate.upgrade(empty_url)
    command.downgrade(migrate.alembic_config(empty_url), "0009_failures")
    assert migrate.current(empty_url) == "0009_failures"
    assert schema_differences(empty_url, "customers") != []  # p_alive, clv, abc gone
    migrate.upgrade(empty_url)
    assert schema_differences(empty_url, "customers") == []
    assert schema_differences(empty_url, "leases") == []
