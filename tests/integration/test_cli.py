"""The `ladder` command as an operator meets it: errors that say what to do."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.parametrize("command", [["status"], ["plan"], ["explain", "ana@example.com"]])
def test_a_database_without_tables_says_to_run_db_upgrade(
    tmp_path: Path, command: list[str]
) -> None:
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'fresh.db'}"}
    env.pop("REDIS_URL", None)
    env.pop("BROKER_URL", None)
    done = run_ladder(env, *command)
    assert done.returncode == 1
    assert "Error: the database has no Ladder tables yet" in done.stderr
    assert "ladder db upgrade" in done.stderr
    assert "Traceback" not in done.stderr


def run_ladder(env: dict[str, str], *command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from worker.cli import main; main()", *command],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_a_postgresql_deployment_with_the_demos_identity_refuses_to_start_naming_each(
    postgres_url: str,
) -> None:
    env = {**os.environ, "DATABASE_URL": postgres_url}
    env.pop("LADDER_ENV", None)  # tests/conftest.py sets development
    done = run_ladder(env, "status")
    assert done.returncode == 2
    for name in ("SHOP_NAME", "SENDER", "POSTAL_ADDRESS", "PUBLIC_URL", "SHOP_URL"):
        assert f"- {name} " in done.stderr, done.stderr
    assert "Traceback" not in done.stderr


def test_the_database_url_in_an_error_never_shows_its_password() -> None:
    env = {
        **os.environ,
        "DATABASE_URL": "postgresql://ladder:hunter2-secret@127.0.0.1:1/ladder",
        "LADDER_ENV": "development",
    }
    env.pop("REDIS_URL", None)
    env.pop("BROKER_URL", None)
    done = run_ladder(env, "status")
    assert done.returncode != 0
    assert "hunter2-secret" not in done.stdout + done.stderr
