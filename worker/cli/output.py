"""What every command prints with: the consoles, tables, times and log lines."""

from __future__ import annotations

import logging
from collections.abc import Collection, Sequence
from datetime import datetime

from rich.console import Console
from rich.table import Table

console = Console()
err = Console(stderr=True)


def table(title: str, columns: Sequence[str], *, right: Collection[str] = ()) -> Table:
    """An empty table with these columns; those named in `right` (counts) align right."""
    shown = Table(title=title)
    for column in columns:
        shown.add_column(column, justify="right" if column in right else "left")
    return shown


def when(moment: datetime | None) -> str:
    return f"{moment:%Y-%m-%d %H:%M}" if moment else "-"


def setup_logging(verbose: bool = False) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
