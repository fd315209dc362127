"""The loyalty programme file: the shipped example reads as written, and each mistake a
marketer can make is refused by `ladder check` with its file, line and field."""

from __future__ import annotations

import shutil
from decimal import Decimal
from pathlib import Path

import pytest

from triggers.programme import ProgrammeError, load_programme, load_programme_file
from worker.authoring.checks import run_checks
from worker.settings import PROJECT_ROOT, Settings

SHIPPED = PROJECT_ROOT / "triggers" / "programmes" / "points_and_tiers.toml"


def programme_folder(tmp_path: Path, text: str, name: str = "mine.toml") -> Path:
    folder = tmp_path / "programmes"
    folder.mkdir(exist_ok=True)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def test_the_shipped_points_and_tiers_programme_earns_a_point_per_euro_with_three_tiers() -> None:
    programme = load_programme(PROJECT_ROOT / "triggers", "points-and-tiers")

    assert programme is not None
    assert programme.name == "points-and-tiers"
    assert [(tier.name, int(tier.threshold)) for tier in programme.tier] == [
        ("member", 0),
        ("silver", 250),
        ("gold", 750),
    ]
    assert (
        programme.points_for(12_345, digits=2, multiplier=Decimal(1)) == 123
    )  # €123.45, rounded down
    assert programme.points_for(12_345, digits=2, multiplier=Decimal("1.5")) == 185
    assert programme.tier_for(Decimal(300)).name == "silver"  # type: ignore[union-attr]


def test_a_misspelt_field_in_a_tier_is_refused_at_its_line_with_the_field_meant(
    tmp_path: Path,
) -> None:
    text = SHIPPED.read_text(encoding="utf-8").replace("multiplier = 1.25", "multiplyer = 1.25")
    path = programme_folder(tmp_path, text)
    line = text.splitlines().index("multiplyer = 1.25") + 1

    with pytest.raises(ProgrammeError) as raised:
        load_programme_file(path)

    assert str(raised.value) == (
        f"{path}:{line}: tier.1.multiplyer: Extra inputs are not permitted"
        " (hint: did you mean 'multiplier'?)"
    )


def test_tiers_out_of_order_are_refused_at_the_first_tier(tmp_path: Path) -> None:
    text = SHIPPED.read_text(encoding="utf-8").replace("from       = 750", "from       = 100")
    path = programme_folder(tmp_path, text)
    line = text.splitlines().index("[[tier]]") + 1

    with pytest.raises(ProgrammeError) as raised:
        load_programme_file(path)

    assert str(raised.value).startswith(f"{path}:{line}: (file): tiers must be listed lowest")


def test_ladder_check_names_the_line_of_a_bad_return_window_and_a_name_used_twice(
    tmp_path: Path,
) -> None:
    text = SHIPPED.read_text(encoding="utf-8")
    bad = programme_folder(tmp_path, text.replace('"30d"          # pending', '"a month" #'))
    settings = Settings(triggers_dir=tmp_path, templates_dir=tmp_path / "none")
    window = text.splitlines().index(next(x for x in text.splitlines() if "return_window" in x))

    report = run_checks(settings)

    assert [p for p in report.problems if "programme" in p or "mine" in p] == [
        f"{bad}:{window + 1}: earn.return_window: 'a month' is not a duration:"
        " write e.g. '2h', '60d' or '1d12h'"
    ]

    bad.write_text(text, encoding="utf-8")
    shutil.copy(bad, tmp_path / "programmes" / "other.toml")
    name_line = text.splitlines().index(next(x for x in text.splitlines() if x.startswith("name")))
    report = run_checks(settings)
    assert [p for p in report.problems if "programme" in p] == [
        f"{tmp_path / 'programmes' / 'other.toml'}:{name_line + 1}: name: name"
        " 'points-and-tiers' is already used by mine.toml"
    ]


def test_a_programme_chosen_by_a_name_no_file_has_is_refused_naming_those_there() -> None:
    with pytest.raises(ProgrammeError) as raised:
        load_programme(PROJECT_ROOT / "triggers", "points")

    assert str(raised.value).endswith(
        "LOYALTY_PROGRAMME is 'points', but no programme file has that name"
        " (they have: money-back, paid-membership, points-and-causes, points-and-tiers)"
    )
    assert load_programme(PROJECT_ROOT / "triggers", None) is None  # none chosen: none runs


MONEY_BACK = PROJECT_ROOT / "triggers" / "programmes" / "money_back.toml"


def test_the_shipped_money_back_programme_gives_five_off_every_35_and_checkpoints() -> None:
    programme = load_programme_file(MONEY_BACK)

    assert [(r.name, r.kind, r.value, r.unlock, r.codes) for r in programme.reward] == [
        ("five-back", "amount_off", Decimal(5), "every_spent", "shopify"),
        ("checkpoint", "percent_off", Decimal(10), "at_spent", "shopify"),
    ]
    assert programme.reward[0].every_spent == 35
    assert programme.reward[1].at_spent == (Decimal(1000), Decimal(5000))


def test_a_reward_unlocked_two_ways_is_refused_at_its_table(tmp_path: Path) -> None:
    text = SHIPPED.read_text(encoding="utf-8").replace(
        'on            = "birthday"', 'on            = "birthday"\npoints = 100'
    )
    path = programme_folder(tmp_path, text)
    line = text.splitlines().index("[[reward]]", text.splitlines().index("[[reward]]") + 1) + 1

    with pytest.raises(ProgrammeError) as raised:
        load_programme_file(path)

    assert str(raised.value) == (
        f"{path}:{line}: reward.1: reward 'birthday' needs exactly one of points, every_spent,"
        " at_spent or on (it has points, on)"
    )


def test_a_percentage_over_100_and_a_misspelt_reward_field_are_refused_at_their_lines(
    tmp_path: Path,
) -> None:
    shipped = SHIPPED.read_text(encoding="utf-8")
    over = shipped.replace("value         = 10\non", "value         = 150\non")
    path = programme_folder(tmp_path, over)
    with pytest.raises(ProgrammeError) as raised:
        load_programme_file(path)
    assert str(raised.value).endswith("reward.1: reward 'birthday': percent_off is at most 100")

    misspelt = shipped.replace('expires_after = "30d"', 'expires_afer = "30d"')
    path = programme_folder(tmp_path, misspelt, name="other.toml")
    line = misspelt.splitlines().index('expires_afer = "30d"') + 1
    with pytest.raises(ProgrammeError) as raised:
        load_programme_file(path)
    assert str(raised.value) == (
        f"{path}:{line}: reward.1.expires_afer: Extra inputs are not permitted"
        " (hint: did you mean 'expires_after'?)"
    )


def test_two_rewards_with_one_name_are_refused_at_the_first_reward(tmp_path: Path) -> None:
    text = SHIPPED.read_text(encoding="utf-8").replace(
        'name          = "referral"', 'name          = "five-off"'
    )
    path = programme_folder(tmp_path, text)
    line = text.splitlines().index("[[reward]]") + 1

    with pytest.raises(ProgrammeError) as raised:
        load_programme_file(path)

    assert str(raised.value) == (
        f"{path}:{line}: (file): reward names must be unique: ['five-off', 'birthday', 'five-off']"
    )
