"""A trigger condition that fails at run time (a name its context lacks, which `ladder check`
would have refused) is logged with ids only, counted with its reason by plain `ladder status`,
and shown as failed by `ladder explain`, whether it fails when matched or when sent."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from models import DeliveryStatus
from worker.demo.time_machine import time_machine
from worker.runtime import Runtime

T0 = datetime(2026, 6, 1, 10, 0, tzinfo=UTC)
TRIGGERS = {
    "typo": 'when = "customer.ordrs_count >= 2"',  # fails when the order comes in
    "late": 'wait = "1h"\nsend_if = "customer.segmnt == \'loyal\'"',  # fails when sent
}


def ladder(*args: str, folder: Path) -> str:
    """The real `ladder` command, 80 columns wide, on this test's database."""
    env = {**os.environ, "TRIGGERS_DIR": str(folder), "COLUMNS": "80"}
    done = subprocess.run(
        [sys.executable, "-c", "from worker.cli import main; main()", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout


def test_a_condition_failing_at_run_time_is_logged_counted_and_explained(
    runtime: Runtime,  # noqa: ARG001
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    folder = tmp_path / "triggers"
    folder.mkdir()
    for name, extra in TRIGGERS.items():
        text = f'name = "{name}"\nmessage = "thank_you"\non = "order.placed"\n{extra}\n'
        (folder / f"{name}.toml").write_text(text, encoding="utf-8")
    caplog.set_level(logging.WARNING)
    with time_machine(T0, settings={"TRIGGERS_DIR": str(folder)}) as machine:
        machine.happen(machine.order_placed("ana@example.com", first_name="Ana"))
        machine.advance(timedelta(hours=2))
        rows = {d.trigger: d for d in machine.deliveries("ana@example.com")}
        event_id, customer_id = rows["typo"].cause_event_id, rows["typo"].customer_id
        delivery_id = rows["late"].id

    assert {name: row.status for name, row in rows.items()} == {
        "typo": DeliveryStatus.FAILED,
        "late": DeliveryStatus.FAILED,
    }
    assert rows["typo"].reason is not None and "ordrs_count" in rows["typo"].reason
    logged = [r.getMessage() for r in caplog.records if "raised" in r.getMessage()]
    assert (
        f"event {event_id}, customer {customer_id}: trigger typo `when` raised UndefinedError;"
        " delivery recorded as failed"
    ) in logged
    assert (
        f"delivery {delivery_id} failed at send time: trigger late `send_if` raised"
        " UndefinedError" in logged
    )
    assert not any("ana" in line.lower() for line in logged)

    status = ladder("status", folder=folder)
    assert "deliveries failed by a trigger's condition" in status
    rows_shown = [line for line in status.splitlines() if "│ typo" in line or "│ late" in line]
    assert [line.split("│")[2].strip() for line in rows_shown] == ["1", "1"]
    assert "ordrs_count" in status and "segmnt" in status
    assert max(len(line) for line in status.splitlines()) <= 80

    explained = ladder("explain", "ana@example.com", folder=folder)
    assert "typo: failed" in explained and "late: failed" in explained
    assert "typo: matched" not in explained and "late: matched" not in explained
