"""The bench's figures: a rich table, bench/results/latest.json, and a snippet for the README."""

from __future__ import annotations

import json
import os
import platform
import subprocess
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from worker.settings import PROJECT_ROOT

RESULTS = PROJECT_ROOT / "bench" / "results" / "latest.json"
TARGET_EMAILS_PER_S = 400.0


@dataclass(frozen=True)
class Measurement:
    component: str
    unit: str
    items: int
    seconds: float
    # CPU time of the worker's consuming process over the same window, when it was measured:
    # unlike items/s, it hardly moves when other jobs share the machine.
    worker_cpu_s: float | None = None
    # The mean time of one provider request, where it was measured (the delivery bench).
    request_s: float | None = None

    @property
    def per_second(self) -> float:
        return self.items / self.seconds if self.seconds > 0 else float("inf")

    @property
    def cpu_ms_per_item(self) -> float | None:
        return None if self.worker_cpu_s is None else 1000 * self.worker_cpu_s / self.items


@dataclass(frozen=True)
class Row:
    measurement: Measurement
    ratio: float | None  # items/s over the no-op actor's messages/s; None: not a broker path


@dataclass(frozen=True)
class Machine:
    cpus: int
    cpu_model: str
    python: str
    redis: str
    postgres: str
    load_before: float  # 1-minute load average as the run started: other jobs skew items/s

    def describe(self) -> str:
        return (
            f"{self.cpus} CPUs ({self.cpu_model}), Python {self.python}, "
            f"Redis {self.redis}, PostgreSQL {self.postgres}"
        )


def this_machine(*, redis: str, postgres: str) -> Machine:
    return Machine(
        cpus=os.cpu_count() or 1,
        cpu_model=_cpu_model(),
        python=platform.python_version(),
        redis=redis,
        postgres=postgres,
        load_before=os.getloadavg()[0],
    )


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def rows(baseline: Measurement, compared: list[Measurement], apart: list[Measurement]) -> list[Row]:
    """The baseline (ratio 1), what goes through the broker, then what is measured apart."""
    found = [Row(baseline, 1.0)]
    found += [Row(m, m.per_second / baseline.per_second) for m in compared]
    found += [Row(m, None) for m in apart]
    return found


COLUMNS = (
    "component",
    "items",
    "seconds",
    "items/s",
    "ratio to bare Dramatiq",
    "worker CPU ms/item",
)


def _cells(row: Row) -> tuple[str, ...]:
    m = row.measurement
    ratio = "—" if row.ratio is None else f"{row.ratio:.3f}"
    cpu = "—" if m.cpu_ms_per_item is None else f"{m.cpu_ms_per_item:.2f}"
    per_s = f"{m.per_second:,.0f}"
    return m.component, f"{m.items:,} {m.unit}", f"{m.seconds:.2f}", per_s, ratio, cpu


def print_table(console: Console, found: list[Row], *, title: str, notes: list[str]) -> None:
    table = Table(title=title, caption="\n".join(notes), caption_justify="left")
    table.add_column(COLUMNS[0], no_wrap=True)
    for column in COLUMNS[1:]:
        table.add_column(column, justify="right")
    for row in found:
        table.add_row(*_cells(row))
    console.print(table)


def markdown(found: list[Row], *, heading: str) -> str:
    lines = [heading, ""]
    lines.append("| " + " | ".join(COLUMNS) + " |")
    lines.append("| --- |" + " ---: |" * (len(COLUMNS) - 1))
    lines += ["| " + " | ".join(_cells(row)) + " |" for row in found]
    return "\n".join(lines)


def write_json(found: list[Row], *, machine: Machine, extra: dict[str, Any]) -> Path:
    """Writes the figures to bench/results/latest.json (git-ignored); returns the path."""
    data = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": _commit(),
        "machine": asdict(machine),
        **extra,
        "results": [
            {
                "component": row.measurement.component,
                "unit": row.measurement.unit,
                "items": row.measurement.items,
                "seconds": round(row.measurement.seconds, 4),
                "per_second": round(row.measurement.per_second, 1),
                "ratio_to_bare_dramatiq": None if row.ratio is None else round(row.ratio, 4),
                "worker_cpu_s": row.measurement.worker_cpu_s,
            }
            for row in found
        ],
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    return RESULTS


def _commit() -> str | None:
    try:
        done = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
    except (OSError, subprocess.CalledProcessError):
        return None
    return done.stdout.strip() or None
