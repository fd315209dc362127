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
    done = subprocess.run(
        [sys.executable, "-c", "from worker.cli import main; main()", *command],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert "The database has no Ladder tables yet" in done.stderr
    assert "ladder db upgrade" in done.stderr
    assert "Traceback" not in done.stderr
