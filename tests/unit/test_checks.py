"""`ladder check`: the shipped files pass; a broken trigger is named with its line and a hint."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from worker.checks import run_checks
from worker.settings import Settings


def check(triggers_dir: Path | None = None) -> tuple[list[str], str]:
    settings = Settings() if triggers_dir is None else Settings(triggers_dir=triggers_dir)
    console = Console(record=True, width=300)
    problems = run_checks(settings, console)
    return problems, console.export_text()


def test_the_shipped_triggers_and_templates_pass() -> None:
    problems, text = check()
    assert problems == []
    for name in ("birthday", "holiday-card", "moved-up", "second-order", "bigger-basket"):
        assert name in text


def test_a_trigger_naming_an_unknown_variable_is_reported_with_file_line_and_hint(
    tmp_path: Path,
) -> None:
    (tmp_path / "typo.toml").write_text(
        'name = "typo"\nmessage = "thank_you"\non = "order.placed"\n'
        'when = "custmer.orders_count > 1"\n',
        encoding="utf-8",
    )
    problems, _ = check(tmp_path)
    assert problems == [
        f"{tmp_path / 'typo.toml'}:4: when: `when` reads custmer, which no trigger has: use"
        " before, customer, event, now, order, shop"
    ]


def test_a_message_without_templates_is_reported(tmp_path: Path) -> None:
    (tmp_path / "gift.toml").write_text(
        'name = "gift"\nmessage = "gift_card"\non = "order.placed"\n', encoding="utf-8"
    )
    problems, _ = check(tmp_path)
    assert problems == ["trigger message 'gift_card' has no templates/gift_card/default.html.j2"]


def test_every_broken_file_is_reported_not_only_the_first(tmp_path: Path) -> None:
    (tmp_path / "a.toml").write_text(
        'name = "a"\nmessage = "thank_you"\non = "order.placed"\nwait = "soon"\n',
        encoding="utf-8",
    )
    (tmp_path / "b.toml").write_text(
        'name = "b"\nmessage = "thank_you"\non = "order.placed"\nat = "25:00"\n',
        encoding="utf-8",
    )
    problems, _ = check(tmp_path)
    assert [problem.split(": ")[0] for problem in problems] == [
        f"{tmp_path / 'a.toml'}:4",
        f"{tmp_path / 'b.toml'}:4",
    ]
