"""measurement/rungs.toml and goals.toml: the shipped files load, and a mistake is refused with
the file, line and field to fix, as `ladder check` prints it."""

from __future__ import annotations

from pathlib import Path

import pytest

from worker.audience.segments import segment_names
from worker.measurement.goals import load_goals
from worker.measurement.rung_scheme import SchemeError, load_scheme
from worker.settings import PROJECT_ROOT

SHIPPED = PROJECT_ROOT / "measurement"
LADDER = """\
[[rung]]
name = "prospect"

[[rung]]
name = "buyer"
orders_min = 1

[[rung]]
name = "quiet"
beside = true
days_since_last_order_min = 90
"""


def test_the_shipped_ladder_climbs_from_prospect_to_champion_with_two_rungs_beside() -> None:
    scheme = load_scheme(SHIPPED / "rungs.toml", segments=segment_names())

    assert scheme is not None
    assert scheme.line == ["prospect", "first_time", "repeat", "loyal", "champion"]
    assert scheme.beside == ["lapsing", "at_risk"]
    assert scheme.direction("loyal", "at_risk") == "down"
    assert scheme.direction("at_risk", "first_time") == "up"  # back on the line
    assert scheme.direction("lapsing", "at_risk") == "down"
    goals = load_goals(
        SHIPPED / "goals.toml", scheme, triggers={"win-back-at-risk", "second-order"}
    )
    assert [(g.from_rung, g.to_rung, g.share) for g in goals] == [
        ("at_risk", "loyal", 0.12), ("first_time", "repeat", 0.25),
    ]  # fmt: skip


def test_no_file_keeps_no_ladder(tmp_path: Path) -> None:
    assert load_scheme(tmp_path / "rungs.toml") is None
    assert load_goals(tmp_path / "goals.toml", None) == []


@pytest.mark.parametrize(
    ("change", "said"),
    [
        (("orders_min = 1", "orders_min = -1"), "rungs.toml:6: rung.orders_min: Input should be"),
        (
            ('name = "buyer"', 'name = "prospect"'),
            "rungs.toml:5: rung.name: rung 'prospect' is named twice",
        ),
        (
            ("orders_min = 1", "orders_min = 1\norders_max = 0"),
            "rungs.toml:4: rung: orders_min (1) is above orders_max (0)",
        ),
        (
            ('name = "prospect"', 'name = "prospect"\norders_max = 0'),
            "rungs.toml:1: rung: the line's first rung ('prospect') is its ground",
        ),
        (
            ("days_since_last_order_min = 90", "days_since = 90"),
            "rungs.toml:11: rung.days_since: Extra inputs are not permitted",
        ),
        (
            ("orders_min = 1", 'segments = ["champs"]'),
            "rungs.toml:6: segments: 'champs' is not a segment",
        ),
    ],
)
def test_a_mistake_in_the_ladder_names_its_line(
    tmp_path: Path, change: tuple[str, str], said: str
) -> None:
    path = tmp_path / "rungs.toml"
    path.write_text(LADDER.replace(*change, 1), encoding="utf-8")

    with pytest.raises(SchemeError) as refused:
        load_scheme(path, segments=segment_names())

    assert str(refused.value).startswith(f"{tmp_path}/{said}")


@pytest.mark.parametrize(
    ("goal", "said"),
    [
        ('from = "vip"', "goals.toml:4: from: 'vip' is not a rung (prospect, buyer, quiet)"),
        ("share = 1.5", "goals.toml:6: goal.share: Input should be less than or equal to 1"),
        ('triggers = ["nope"]', "goals.toml:8: triggers: no trigger is named 'nope'"),
        ('within = "30d"', "goals.toml:2: goal: set either deadline (a date) or within"),
    ],
)
def test_a_mistake_in_a_goal_names_its_line(tmp_path: Path, goal: str, said: str) -> None:
    (tmp_path / "rungs.toml").write_text(LADDER, encoding="utf-8")
    scheme = load_scheme(tmp_path / "rungs.toml")
    lines = {
        "from": 'from = "quiet"', "share": "share = 0.2", "triggers": 'triggers = ["win-back"]',
    }  # fmt: skip
    key = goal.split(" ")[0]
    body = "\n".join(goal if k == key else v for k, v in lines.items())
    extra = f"\n{goal}" if key not in lines else ""
    text = (
        f'\n[[goal]]\nname = "back"\n{body.split(chr(10))[0]}\nto = "buyer"\n'
        f"{chr(10).join(body.split(chr(10))[1:2])}\nstart = 2026-01-01\n"
        f"{chr(10).join(body.split(chr(10))[2:])}\ndeadline = 2026-03-01{extra}\n"
    )
    (tmp_path / "goals.toml").write_text(text, encoding="utf-8")

    with pytest.raises(SchemeError) as refused:
        load_goals(tmp_path / "goals.toml", scheme, triggers={"win-back"})

    assert str(refused.value).startswith(f"{tmp_path}/{said}")
