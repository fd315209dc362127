"""The programme file's actions, causes and sweepstakes: the shipped example reads as written,
`ladder check` refuses a sweepstake whose disclosed odds fall below the floor at its file and
line, and a draw is the same whoever makes it from the seed and the entries."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from tests.unit.test_programme import programme_folder
from triggers.programme import ProgrammeError, load_programme, load_programme_file
from worker.authoring.checks import run_checks
from worker.loyalty.sweepstakes import Entry, draw_from, seed_of
from worker.settings import PROJECT_ROOT, Settings

PROGRAMME = load_programme(PROJECT_ROOT / "triggers", "points-and-causes")
SWEEPSTAKE = """name = "mine"

[[sweepstake]]
name              = "hamper"
prize             = "A hamper"
entries           = { "order.placed" = 1 }
draw_at           = 2026-08-31T18:00:00Z
winners           = {winners}
expected_entrants = {expected}
{extra}
"""


def sweepstake_file(tmp_path: Path, *, winners: int, expected: int, extra: str = "") -> Path:
    text = (
        SWEEPSTAKE.replace("{winners}", str(winners))
        .replace("{expected}", str(expected))
        .replace("{extra}", extra)
    )
    return programme_folder(tmp_path, text)


def test_the_shipped_programme_has_actions_causes_and_a_sweepstake_at_the_floor() -> None:
    assert PROGRAMME is not None
    review = PROGRAMME.action_on("review.posted")
    assert review is not None and review.points == 50 and str(review.limit) == "1 per 30d"
    assert [cause.name for cause in PROGRAMME.cause] == ["trees", "water"]
    [summer] = PROGRAMME.sweepstake
    assert summer.odds == Decimal("0.25") == summer.min_odds
    assert summer.entries == {"order.placed": 1, "review.posted": 2}


def test_ladder_check_refuses_odds_below_the_floor_at_the_sweepstake_s_line(
    tmp_path: Path,
) -> None:
    path = sweepstake_file(tmp_path, winners=1, expected=10)
    settings = Settings(triggers_dir=tmp_path, templates_dir=tmp_path / "none")

    report = run_checks(settings)

    assert [p for p in report.problems if "mine" in p] == [
        f"{path}:3: sweepstake.0: sweepstake 'hamper': its odds are 10.0% (1 winners among 10"
        " expected entrants), below the floor of 25%: give more winners or expect fewer entrants"
    ]


def test_a_shop_may_set_a_higher_floor_and_not_a_floor_of_nothing(tmp_path: Path) -> None:
    higher = sweepstake_file(tmp_path, winners=1, expected=3, extra="min_odds = 0.5")
    with pytest.raises(ProgrammeError, match=r"its odds are 33\.3%.*below the floor of 50%"):
        load_programme_file(higher)
    none = sweepstake_file(tmp_path, winners=1, expected=3, extra="min_odds = 0")
    with pytest.raises(ProgrammeError, match=r":10: sweepstake.0.min_odds: Input should be"):
        load_programme_file(none)
    assert load_programme_file(sweepstake_file(tmp_path, winners=1, expected=4)).sweepstake


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ('on = "review.posted"\npoints = 5\nlimit = "once a month"',
         "action.0.limit: 'once a month' is not a limit: write e.g. '1 per 30d'"),
        ('on = "order.placed"\npoints = 5',
         "action.0.on: 'order.placed' cannot earn action points"),
        ('on = "review.posted"\npoints = 0', "action.0.points: Input should be greater than 0"),
    ],
)  # fmt: skip
def test_a_bad_action_is_refused_at_its_line(tmp_path: Path, table: str, message: str) -> None:
    text = f'name = "mine"\n\n[[action]]\n{table}\n'
    path = programme_folder(tmp_path, text)
    field = message.split(":")[0].split(".")[-1]
    line = next(n for n, x in enumerate(text.splitlines(), 1) if x.startswith(f"{field} ="))

    with pytest.raises(ProgrammeError) as raised:
        load_programme_file(path)

    assert str(raised.value).startswith(f"{path}:{line}: {message}")


def test_two_actions_on_one_event_type_are_refused_at_the_first(tmp_path: Path) -> None:
    action = '[[action]]\non = "review.posted"\npoints = 5\n'
    path = programme_folder(tmp_path, f'name = "mine"\n\n{action}\n{action}')
    with pytest.raises(ProgrammeError, match=r":3: \(file\): one action per event type"):
        load_programme_file(path)


ENTRIES = [
    Entry("summer-hamper:1", 7, 1),
    Entry("summer-hamper:2", 8, 2),
    Entry("summer-hamper:3", 9, 1),
    Entry("summer-hamper:4", 7, 2),
]


def test_the_draw_is_the_same_from_the_seed_and_the_entries_in_any_order() -> None:
    assert PROGRAMME is not None
    [summer] = PROGRAMME.sweepstake
    summer = summer.model_copy(update={"winners": 2})

    first = draw_from(summer, ENTRIES)
    again = draw_from(summer, list(reversed(ENTRIES)))

    assert first == again
    assert (
        first.seed
        == hashlib.sha256(
            b"summer-hamper\n2027-08-31T18:00:00+00:00\n"
            b"summer-hamper:1\nsummer-hamper:2\nsummer-hamper:3\nsummer-hamper:4"
        ).hexdigest()
    )
    # By hand, as the README says: every ticket's score, lowest first, two different people.
    tickets = sorted(
        (hashlib.sha256(f"{first.seed}:{e.cause}#{n}".encode()).hexdigest(), e.customer_id, n, e)
        for e in ENTRIES
        for n in range(e.tickets)
    )
    people: list[int] = []
    for _, who, _, _ in tickets:
        if who not in people:
            people.append(who)
    assert [won["customer_id"] for won in first.winners] == people[:2]
    assert first.entries == 4


def test_one_entry_more_or_another_draw_time_changes_the_seed() -> None:
    assert PROGRAMME is not None
    [summer] = PROGRAMME.sweepstake
    later = summer.model_copy(update={"draw_at": summer.draw_at + timedelta(hours=1)})
    more = [*ENTRIES, Entry("summer-hamper:5", 10, 1)]

    seeds = {seed_of(summer, ENTRIES), seed_of(later, ENTRIES), seed_of(summer, more)}

    assert len(seeds) == 3
    assert summer.draw_at == datetime(2027, 8, 31, 18, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ('partner = "The Tea Museum"\ncodes = "shopify"',
         "a partner_offer's codes come from the partner's catalogue"),
        ('codes = "pool"', "partner is for partner_offer, which needs it"),
    ],
)  # fmt: skip
def test_a_partner_offer_needs_its_partner_and_a_pool(
    tmp_path: Path, fields: str, message: str
) -> None:
    reward = f'[[reward]]\nname = "museum"\nkind = "partner_offer"\npoints = 100\n{fields}\n'
    path = programme_folder(tmp_path, f'name = "mine"\n\n{reward}')
    with pytest.raises(ProgrammeError, match=f":3: reward.0: reward 'museum': {message}"):
        load_programme_file(path)
