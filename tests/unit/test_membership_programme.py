"""The `[membership]` section of a programme file: the shipped paid membership reads as
written, and each mistake in it is refused by `ladder check` with its file, line and field."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from tests.unit.test_programme import programme_folder
from triggers.programme import ProgrammeError, load_programme, load_programme_file
from worker.authoring.checks import run_checks
from worker.settings import PROJECT_ROOT, Settings

SHIPPED = PROJECT_ROOT / "triggers" / "programmes" / "paid_membership.toml"


def refused(tmp_path: Path, old: str, new: str) -> tuple[str, int, Path]:
    """The shipped file with `old` replaced: the error, the line `new` is on, the file."""
    text = SHIPPED.read_text(encoding="utf-8")
    assert old in text
    text = text.replace(old, new)
    path = programme_folder(tmp_path, text)
    line = next(n for n, row in enumerate(text.splitlines(), 1) if row.startswith(new))
    with pytest.raises(ProgrammeError) as raised:
        load_programme_file(path)
    return str(raised.value), line, path


def test_the_shipped_paid_membership_doubles_points_ships_free_and_pays_a_tenth_back() -> None:
    programme = load_programme(PROJECT_ROOT / "triggers", "paid-membership")

    assert programme is not None and programme.membership is not None
    membership = programme.membership
    assert (membership.multiplier, membership.free_shipping) == (Decimal(2), True)
    assert (membership.renew_warn_before, membership.grace) == (
        timedelta(days=7),
        timedelta(days=7),
    )
    assert membership.dividend_share == Decimal("0.10")
    dividend = programme.named_reward("dividend")
    assert dividend is not None and (dividend.on, dividend.codes) == ("dividend", "shopify")


def test_a_misspelt_membership_field_is_refused_at_its_line_with_the_field_meant(
    tmp_path: Path,
) -> None:
    message, line, path = refused(tmp_path, "free_shipping     =", "free_shiping     =")
    assert message == (
        f"{path}:{line}: membership.free_shiping: Extra inputs are not permitted"
        " (hint: did you mean 'free_shipping'?)"
    )


def test_a_renewal_warning_of_nothing_is_refused_at_its_line(tmp_path: Path) -> None:
    message, line, path = refused(tmp_path, 'renew_warn_before = "7d"', 'renew_warn_before = "0"')
    assert message == (
        f"{path}:{line}: membership.renew_warn_before: must be longer than 0 (a renewal is"
        " announced ahead of it)"
    )


def test_a_dividend_share_above_the_whole_spend_is_refused_at_its_line(tmp_path: Path) -> None:
    message, line, path = refused(tmp_path, "dividend_share    = 0.10", "dividend_share    = 1.5")
    assert message.startswith(f"{path}:{line}: membership.dividend_share: ")
    assert "less than or equal to 1" in message


def test_a_dividend_share_without_its_reward_is_refused_at_the_share(tmp_path: Path) -> None:
    text = SHIPPED.read_text(encoding="utf-8")
    text = text[: text.index('[[reward]]\nname          = "dividend"')]
    path = programme_folder(tmp_path, text)
    line = next(n for n, row in enumerate(text.splitlines(), 1) if row.startswith("dividend_"))
    with pytest.raises(ProgrammeError) as raised:
        load_programme_file(path)
    assert str(raised.value) == (
        f'{path}:{line}: (file): membership.dividend_share needs a reward with `on = "dividend"`'
        " to pay it"
    )


def test_a_dividend_paid_from_a_pool_of_fixed_codes_is_refused_at_its_reward(
    tmp_path: Path,
) -> None:
    old = 'codes         = "shopify"        # each code created for its own amount'
    message, _, path = refused(tmp_path, old, 'codes         = "pool"')
    lines = path.read_text(encoding="utf-8").splitlines()
    second_reward = [n for n, row in enumerate(lines, 1) if row.startswith("[[reward]]")][1]
    assert message == (
        f"{path}:{second_reward}: reward.1: reward 'dividend': a dividend's amount is each"
        ' member\'s own, so its codes are created through the platform: codes = "shopify" or'
        ' "woocommerce"'
    )


def test_ladder_check_reports_a_bad_membership_section_with_its_file_and_line(
    tmp_path: Path,
) -> None:
    text = SHIPPED.read_text(encoding="utf-8").replace('grace             = "7d"', 'grace = "-1d"')
    bad = programme_folder(tmp_path, text)
    line = next(n for n, row in enumerate(text.splitlines(), 1) if row.startswith("grace ="))
    settings = Settings(triggers_dir=tmp_path, templates_dir=tmp_path / "none")

    report = run_checks(settings)

    assert [p for p in report.problems if "mine" in p] == [
        f"{bad}:{line}: membership.grace: '-1d' is not a duration: write e.g. '2h', '60d' or"
        " '1d12h'"
    ]
