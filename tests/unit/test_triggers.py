"""Trigger files: durations, and errors that name the file, the line and the field."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from jinja2.sandbox import SandboxedEnvironment

from triggers import TriggerError, format_duration, load_trigger, load_triggers, parse_duration
from worker.rendering.sandbox import make_environment
from worker.settings import PROJECT_ROOT

SHIPPED = PROJECT_ROOT / "triggers"

VALID = """\
name    = "win-back"
message = "win_back"
on      = "order.placed"
wait    = "60d"
unless  = ["order.placed"]
when    = "customer.segment in ['champions', 'loyal']"
cooldown = "90d"
"""


@pytest.fixture
def env(tmp_path: Path) -> SandboxedEnvironment:
    return make_environment(tmp_path)


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2h", timedelta(hours=2)),
        ("60d", timedelta(days=60)),
        ("1d12h", timedelta(days=1, hours=12)),
        ("90m", timedelta(minutes=90)),
        ("2w", timedelta(weeks=2)),
        ("1d 12h", timedelta(days=1, hours=12)),
        ("0", timedelta(0)),
    ],
)
def test_parse_duration_reads_what_a_marketer_writes(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "2", "2 days", "1.5h", "-2h", "h", "2y", "soon", "2h!"])
def test_parse_duration_refuses_anything_else_and_shows_the_format(text: str) -> None:
    with pytest.raises(ValueError, match=r"is not a duration: write e\.g\. '2h', '60d' or '1d12h'"):
        parse_duration(text)


def test_format_duration_writes_back_what_parse_duration_reads() -> None:
    for text in ("2h", "60d", "1d12h", "1h30m", "0"):
        assert format_duration(parse_duration(text)) == text


def test_a_valid_trigger_file_loads_with_its_durations(
    tmp_path: Path, env: SandboxedEnvironment
) -> None:
    trigger = load_trigger(write(tmp_path, "win_back.toml", VALID), env)
    assert trigger.name == "win-back"
    assert trigger.on == "order.placed"
    assert trigger.wait == timedelta(days=60)
    assert trigger.cooldown == timedelta(days=90)
    assert trigger.unless == ("order.placed",)
    assert trigger.enabled


def test_the_shipped_seed_triggers_load(env: SandboxedEnvironment) -> None:
    triggers = {trigger.name: trigger for trigger in load_triggers(SHIPPED, env)}
    assert set(triggers) == {
        "points-earned",
        "points-expiring",
        "tier-up",
        "tier-at-risk",
        "loyalty-welcome",
        "reward-unlocked",
        "membership-renewal",
        "thank-you",
        "nps-survey",
        "second-order",
        "upsell",
        "bigger-basket",
        "win-back",
        "win-back-at-risk",
        "birthday",
        "holiday-card",
        "moved-up",
        "detractor-alert",
        "detractor-comment",
        "review-ask",
    }
    assert triggers["detractor-alert"].to_shop and not triggers["review-ask"].to_shop
    assert triggers["detractor-alert"].attribution == "none"  # an alert earns nothing
    assert triggers["thank-you"].wait == timedelta(hours=2)
    assert triggers["upsell"].cooldown == timedelta(days=30)
    assert triggers["win-back-at-risk"].on == "rung.down"
    assert triggers["win-back"].unless == ("order.placed",)
    assert triggers["win-back"].wait_for_gap == 2.0
    assert triggers["birthday"].on == "date:customer.birthday"
    assert triggers["holiday-card"].on == "date:12-20"
    assert triggers["moved-up"].on == "segment.entered"
    assert triggers["membership-renewal"].on == "membership.renewal_due"
    assert triggers["points-expiring"].unless == ("order.placed",)
    assert triggers["tier-at-risk"].on == "tier.at_risk"
    assert triggers["loyalty-welcome"].on == "loyalty.joined"
    assert triggers["bigger-basket"].dedupe == "order.id"


def test_a_misspelt_field_suggests_the_one_meant(tmp_path: Path, env: SandboxedEnvironment) -> None:
    path = write(tmp_path, "typo.toml", VALID.replace("cooldown", "cooldwn"))
    with pytest.raises(
        TriggerError,
        match=r"cooldwn: Extra inputs are not permitted \(hint: did"
        r" you mean 'cooldown'\?\)",
    ):
        load_trigger(path, env)


def test_a_bad_wait_names_the_file_the_line_and_the_format(
    tmp_path: Path, env: SandboxedEnvironment
) -> None:
    path = write(tmp_path, "late.toml", VALID.replace('wait    = "60d"', 'wait    = "two months"'))
    with pytest.raises(TriggerError) as caught:
        load_trigger(path, env)
    assert (caught.value.path, caught.value.line, caught.value.field) == (path, 4, "wait")
    assert str(caught.value).startswith(f"{path}:4: wait: ")
    assert "'two months' is not a duration" in str(caught.value)


def test_an_unknown_field_is_named_with_its_line(tmp_path: Path, env: SandboxedEnvironment) -> None:
    path = write(tmp_path, "colour.toml", VALID + 'colour = "red"\n')
    with pytest.raises(TriggerError) as caught:
        load_trigger(path, env)
    assert (caught.value.line, caught.value.field) == (8, "colour")
    assert str(caught.value).startswith(f"{path}:8: colour: Extra inputs are not permitted")


def test_a_misspelt_on_points_at_the_line_with_the_typo(
    tmp_path: Path, env: SandboxedEnvironment
) -> None:
    path = write(tmp_path, "typo.toml", VALID.replace("on      =", "onn     ="))
    with pytest.raises(TriggerError) as caught:
        load_trigger(path, env)
    assert (caught.value.line, caught.value.field) == (3, "onn")
    message = str(caught.value)
    assert message.startswith(f"{path}:3: onn: Extra inputs are not permitted")
    assert "on: Field required" in message


def test_an_event_type_that_is_not_dotted_lower_case_is_refused(
    tmp_path: Path, env: SandboxedEnvironment
) -> None:
    path = write(
        tmp_path, "shout.toml", VALID.replace('"order.placed"\nwait', '"Order Placed"\nwait')
    )
    with pytest.raises(TriggerError) as caught:
        load_trigger(path, env)
    assert (caught.value.line, caught.value.field) == (3, "on")
    assert "'Order Placed' is not an entry: write an event type" in str(caught.value)


def test_invalid_toml_names_the_file_and_the_line(
    tmp_path: Path, env: SandboxedEnvironment
) -> None:
    path = write(tmp_path, "broken.toml", VALID.replace('"60d"', "60d"))
    with pytest.raises(TriggerError) as caught:
        load_trigger(path, env)
    assert caught.value.line == 4
    assert str(caught.value).startswith(f"{path}:4: not valid TOML")


def test_a_when_that_is_not_an_expression_names_the_when_line(
    tmp_path: Path, env: SandboxedEnvironment
) -> None:
    broken = VALID.replace(
        "when    = \"customer.segment in ['champions', 'loyal']\"",
        'when    = "customer.orders_count =="',
    )
    path = write(tmp_path, "half.toml", broken)
    with pytest.raises(TriggerError) as caught:
        load_trigger(path, env)
    assert (caught.value.line, caught.value.field) == (6, "when")
    assert str(caught.value).startswith(f"{path}:6: when: not a valid expression")


def test_two_files_with_the_same_name_name_the_second_file_and_the_first(
    tmp_path: Path, env: SandboxedEnvironment
) -> None:
    first = write(tmp_path, "a.toml", VALID)
    second = write(tmp_path, "b.toml", VALID)
    with pytest.raises(TriggerError) as caught:
        load_triggers(tmp_path, env)
    assert (caught.value.path, caught.value.line, caught.value.field) == (second, 1, "name")
    assert f"name 'win-back' is already used by {first}" in str(caught.value)


def test_load_triggers_reads_every_toml_file_in_name_order(
    tmp_path: Path, env: SandboxedEnvironment
) -> None:
    write(tmp_path, "b.toml", VALID.replace('"win-back"', '"second"'))
    write(tmp_path, "a.toml", VALID.replace('"win-back"', '"first"'))
    write(tmp_path, "notes.txt", "not a trigger")
    assert [trigger.name for trigger in load_triggers(tmp_path, env)] == ["first", "second"]


def test_a_trigger_is_marketing_unless_it_says_transactional(
    tmp_path: Path, env: SandboxedEnvironment
) -> None:
    plain = load_trigger(write(tmp_path, "a.toml", VALID), env)
    receipt = load_trigger(write(tmp_path, "b.toml", VALID + 'class = "transactional"\n'), env)

    assert (plain.message_class, receipt.message_class) == ("marketing", "transactional")


ALERT = """\
name    = "detractor"
message = "shop_detractor"
on      = "survey.answered"
to      = "shop"
"""


@pytest.mark.parametrize(
    ("text", "said"),
    [
        (ALERT, "an alert to the shop (to = 'shop') needs class = 'transactional'"),
        (ALERT + 'class = "transactional"\nholdout = 0.1\n', "has no holdout and no variants"),
        (ALERT + 'class = "transactional"\nattribution = "received"\n', "earns nothing"),
        (
            ALERT.replace("shop_detractor", "win_back") + 'class = "transactional"\n',
            "sends a message named shop_…",
        ),
        (
            ALERT.replace('to      = "shop"\n', ""),
            "message 'shop_detractor' is written for the shop: a trigger sending it needs"
            " to = 'shop'",
        ),
    ],
)
def test_an_alert_to_the_shop_is_transactional_whole_and_sends_a_shop_message(
    tmp_path: Path, env: SandboxedEnvironment, text: str, said: str
) -> None:
    with pytest.raises(TriggerError, match=re.escape(said)):
        load_trigger(write(tmp_path, "alert.toml", text), env)
    fine = load_trigger(write(tmp_path, "ok.toml", ALERT + 'class = "transactional"\n'), env)
    assert (fine.to, fine.attribution, fine.is_marketing) == ("shop", "none", False)


def test_an_unknown_message_class_is_named_with_its_line(
    tmp_path: Path, env: SandboxedEnvironment
) -> None:
    path = write(tmp_path, "class.toml", VALID + 'class = "promo"\n')
    with pytest.raises(TriggerError) as caught:
        load_trigger(path, env)
    assert (caught.value.line, caught.value.field) == (8, "class")
    assert "'marketing' or 'transactional'" in str(caught.value)


TIMED = """\
name         = "birthday"
message      = "birthday"
on           = "date:customer.birthday"
at           = "10:00"
days         = ["mon", "tue", "wed", "thu", "fri"]
class        = "marketing"
priority     = 5
holdout      = 0.1
once         = false
max_lateness = "1d"
"""


def test_timing_classes_and_holdouts_read_as_a_marketer_writes_them(
    tmp_path: Path, env: SandboxedEnvironment
) -> None:
    trigger = load_trigger(write(tmp_path, "birthday.toml", TIMED), env)
    assert trigger.is_dated and trigger.is_marketing
    assert trigger.weekdays == frozenset(range(5))
    assert (trigger.at.hour, trigger.priority, trigger.holdout) == (10, 5, 0.1)  # type: ignore[union-attr]
    assert trigger.max_lateness == timedelta(days=1)


@pytest.mark.parametrize(
    ("line", "field", "message"),
    [
        ('at = "25:00"', "at", "'25:00' is not a time of day: write e.g. '10:00'"),
        ('days = ["mon", "someday"]', "days", "Input should be 'mon'"),
        ('class = "promo"', "class", "Input should be 'marketing' or 'transactional'"),
        ("holdout = 0.9", "holdout", "less than or equal to 0.5"),
        ('max_lateness = "soon"', "max_lateness", "'soon' is not a duration"),
        ('on = "date:13-45"', "on", "is not a calendar date: write month-day"),
        ('dedupe = "order.id +"', "dedupe", "not a valid expression"),
        ('when = "custmer.orders_count > 1"', "when", "`when` reads custmer, which no trigger"),
    ],
)
def test_a_bad_new_field_names_its_line_and_says_how_to_write_it(
    tmp_path: Path, env: SandboxedEnvironment, line: str, field: str, message: str
) -> None:
    text = "\n".join(
        row for row in VALID.splitlines() if not row.startswith(field.split(".")[0] + " ")
    )
    path = write(tmp_path, "bad.toml", text + "\n" + line + "\n")
    with pytest.raises(TriggerError) as caught:
        load_trigger(path, env)
    assert caught.value.line == len(text.splitlines()) + 1
    assert caught.value.field.split(".")[0] == field
    assert message in str(caught.value)


@pytest.mark.parametrize(
    ("days", "expected"),
    [
        ('"mon-fri"', range(5)),
        ('"fri-mon"', (4, 5, 6, 0)),
        ('["Sat", "sunday"]', (5, 6)),
    ],
)
def test_days_read_as_a_list_or_a_range(
    tmp_path: Path, env: SandboxedEnvironment, days: str, expected: tuple[int, ...]
) -> None:
    trigger = load_trigger(write(tmp_path, "t.toml", VALID + f"days = {days}\n"), env)
    assert trigger.weekdays == frozenset(expected)
