"""What every command prints with: the consoles, tables, times and log lines."""

from __future__ import annotations

import logging
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import NoReturn

from rich.console import Console
from rich.table import Table
from rich.text import Text

from worker import logs

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


# Columns that hold a moment ("2026-05-01 10:00"): kept on one line, never cut.
WHEN_COLUMNS = frozenset({"when", "due", "send at", "sent", "oldest", "first", "last"})


def table(
    title: str,
    columns: Sequence[str],
    *,
    right: Collection[str] = (),
    show_header: bool = True,
    caption: str | None = None,
) -> Table:
    """An empty table with these columns; those named in `right` (counts) align right.

    Readable at 80 columns: text wraps at spaces and a name or path with none folds onto
    the next line, never cut to "…"; a time stays whole on one line."""
    shown = Table(title=title, show_header=show_header, caption=caption)
    for column in columns:
        moment = column in WHEN_COLUMNS
        shown.add_column(
            column,
            justify="right" if column in right else "left",
            overflow="fold",
            no_wrap=moment,
            min_width=len("2026-05-01 10:00") if moment else None,
        )
    return shown


def when(moment: datetime | None) -> str:
    return f"{moment:%Y-%m-%d %H:%M}" if moment else "-"


def setup_logging(verbose: bool = False) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logs.apply_format()  # LOG_FORMAT=json: one JSON object a line
