"""`ladder demo` on a small shop: emails on disk, a page listing each of them, a summary."""

from __future__ import annotations

import email
import email.policy
import io
import os
import re
import subprocess
import sys
from datetime import UTC, datetime
from html import escape
from pathlib import Path

import pytest
from rich.console import Console

from worker.demo import run_demo


def test_the_demo_writes_emails_lists_each_one_and_summarises_every_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # var/ lands here
    console = Console(file=io.StringIO(), width=160, record=True)

    run = run_demo(customers=60, seed=7, console=console)

    outbox = tmp_path / "var" / "demo-outbox"  # its own: a real run's is var/outbox
    emails = sorted(outbox.glob("*.eml"))
    assert emails
    assert run.emails == len(emails)
    index = (outbox / "index.html").read_text(encoding="utf-8")
    for path in emails:
        message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
        # As a mail client shows it: the folded header unfolded, without the fold's whitespace.
        subject = " ".join(str(message["Subject"]).split())
        assert f">{escape(subject)}</a>" in index
        assert f'href="html/{path.stem}.html"' in index
        page = (outbox / "html" / f"{path.stem}.html").read_text(encoding="utf-8")
        assert page.startswith("<!doctype html>")
    summary = console.export_text()
    for name in ("thank_you", "upsell", "win_back"):
        assert name in summary
    # The sent table's total row counts exactly the emails written to the outbox.
    (total_row,) = [line for line in summary.splitlines() if re.match(r"^\W*all\b", line)]
    assert re.findall(r"\d+", total_row)[-1] == str(len(emails))
    assert str(outbox / "index.html") in summary
    # It ends with the report: what each trigger earned, and what its holdouts show (the demo's
    # shop holds nobody out yet: the report says how to start).
    assert "what they earned" in summary
    assert "No trigger held anyone out in this period" in summary
    report = (tmp_path / "var" / "demo-report.html").read_text(encoding="utf-8")
    assert report.startswith("<!doctype html>") and "thank-you" in report

    # The shop's history ends today, and the summary says how the other commands see it.
    assert run.end.date() == datetime.now(UTC).date()
    [line] = [line for line in summary.splitlines() if "export DATABASE_URL=" in line]
    variables = dict(part.split("=", 1) for part in line.split()[1:])
    env = {**os.environ, **variables}
    env.pop("REDIS_URL", None)
    status = subprocess.run(
        [sys.executable, "-c", "from worker.cli import main; main()", "status"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    sent_row = re.search(r"│ sent\s+│\s+(\d+) │", status.stdout)
    assert sent_row is not None, status.stdout
    assert int(sent_row.group(1)) == len(emails)
