"""What every command prints with: the consoles, tables, times and log lines."""

from __future__ import annotations

import logging
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import NoReturn

from rich.console import Console
from rich.table import Table
from rich.text import Text

console = Console()
err = Console(stderr=True)


def fail(message: str, *, hint: str = "", code: int = 1) -> NoReturn:
    """Every command's refusal, worded one way: "Error: what is wrong." on stderr, then what to
    do about it, and exit `code` (1 for a refused request, 2 for a refused set-up). The text is
    printed as given, never read as markup (it may quote the user's input)."""
    line = Text("Error: ", style="bold red")
    line.append(message.rstrip(".") + ".")
    if hint:
        line.append(" " + hint.strip())
    err.print(line, soft_wrap=True)
    raise SystemExit(code)


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
