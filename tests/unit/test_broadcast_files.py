"""Broadcast files: parsed strictly, their audience said in SQL or refused by `ladder check`
with the file, line and field, their dates and A/B split as the marketer wrote them."""

from __future__ import annotations

import shutil
from collections import Counter
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy.dialects import postgresql

from triggers import TriggerError
from triggers.broadcast import load_broadcast
from triggers.series import load_series
from worker.authoring.broadcast_checks import broadcast_problems, series_problems
from worker.authoring.checks import run_checks
from worker.rendering.renderer import Renderer
from worker.rendering.sandbox import make_environment
from worker.scheduling import ab_split
from worker.scheduling.audience_sql import AudienceError, compile_audience
from worker.settings import PROJECT_ROOT, Settings

NOW = datetime(2027, 1, 4, tzinfo=UTC)
GOOD = 'name = "news"\nmessage = "whats_new"\ndate = 2027-01-05\n'


def written(tmp_path: Path, text: str) -> Path:
    folder = tmp_path / "broadcasts"
    folder.mkdir(exist_ok=True)
    path = folder / "news.toml"
    path.write_text(text)
    return path


def sql(audience: str) -> str:
    condition = compile_audience(
        make_environment(PROJECT_ROOT / "templates"), audience, now=NOW, currency="EUR"
    )
    compiled = condition.compile(
        dialect=postgresql.dialect(),  # type: ignore[no-untyped-call]
        compile_kwargs={"literal_binds": True},
    )
    return str(compiled).replace("\n", " ")


def test_an_audience_compiles_to_one_sql_condition_over_the_customers() -> None:
    assert sql("customer.segment in ['loyal', 'champions'] and customer.locale == 'de'") == (
        "customers.segment IN ('loyal', 'champions') AND customers.locale = 'de'"
    )
    assert sql("customer.total_spent >= 100") == "customers.total_spent >= 10000"  # cents
    assert "order_lines.category = 'tea'" in sql("'tea' in customer.categories")
    assert sql("customer.days_since_last_order > 90") == (
        "customers.last_order_at <= '2026-10-05 00:00:00'"
    )
    assert sql("not customer.rfm is none") == "customers.rfm IS NOT NULL"


@pytest.mark.parametrize(
    ("audience", "says"),
    [
        ("customer.segmnt == 'loyal'", "customer.segmnt is not a fact an audience can read"),
        ("order.total > 5", "order.total compared with 5: compare one customer fact"),
        ("customer.segment|length > 2", "a filter compared with 2"),
        ("customer.orders_count > customer.total_spent", "compare one customer fact with"),
        ("customer.segment ==", "not a valid expression"),
    ],
)
def test_an_audience_sql_cannot_say_is_refused_saying_what_to_write(
    audience: str, says: str
) -> None:
    with pytest.raises(AudienceError, match=says):
        sql(audience)


def test_ladder_check_names_the_file_and_line_of_a_bad_audience(tmp_path: Path) -> None:
    path = written(tmp_path, GOOD + "audience = \"customer.segmnt == 'loyal'\"\n")
    settings = Settings(broadcasts_dir=path.parent)
    renderer = Renderer(PROJECT_ROOT / "templates", "en")
    ok, problems = broadcast_problems(settings, renderer)
    assert ok == []
    assert problems == [
        f"{path}:4: audience: customer.segmnt is not a fact an audience can read: use"
        " accepts_marketing, average_order_value, birthday, categories, currency,"
        " days_since_last_order, id, locale, orders_count, previous_segment, rfm, segment,"
        " timezone, total_spent"
    ]


def test_ladder_check_names_a_variant_whose_message_has_no_templates(tmp_path: Path) -> None:
    text = GOOD + '[[variants]]\nname = "a"\nshare = 0.5\n\n[[variants]]\nname = "b"\n'
    path = written(tmp_path, text + 'share = 0.5\nmessage = "whats_nu"\n')
    renderer = Renderer(PROJECT_ROOT / "templates", "en")
    _, problems = broadcast_problems(Settings(broadcasts_dir=path.parent), renderer)
    assert problems == [
        f"{path}:11: variants.message: 'whats_nu' has no templates/whats_nu/default.html.j2"
    ]


def test_a_file_with_shares_not_adding_up_is_refused_naming_the_field(tmp_path: Path) -> None:
    path = written(tmp_path, GOOD + '[[variants]]\nname = "a"\nshare = 0.4\n')
    with pytest.raises(TriggerError, match=r"the variants' shares add up to 0\.4, not 1"):
        load_broadcast(path)


def test_a_misspelt_key_is_refused_on_its_line(tmp_path: Path) -> None:
    path = written(tmp_path, GOOD + 'audiense = "true"\n')
    with pytest.raises(TriggerError) as refused:
        load_broadcast(path)
    assert str(refused.value).startswith(f"{path}:4: audiense: Extra inputs are not permitted")


def test_a_monthly_broadcast_goes_out_on_its_day_or_the_last_of_a_shorter_month(
    tmp_path: Path,
) -> None:
    path = written(tmp_path, GOOD.replace("2027-01-05", "2027-01-31") + 'repeat = "monthly"\n')
    broadcast = load_broadcast(path)
    assert broadcast.occurrence(date(2027, 1, 1)) == date(2027, 1, 31)
    assert broadcast.occurrence(date(2027, 2, 1)) == date(2027, 2, 28)
    assert broadcast.occurrence(date(2027, 3, 1)) == date(2027, 3, 31)
    assert broadcast.next_after(date(2027, 2, 28)) == date(2027, 3, 31)
    assert broadcast.next_after(date(2026, 9, 30)) == date(2026, 10, 31)  # before its first


def test_the_ab_split_is_deterministic_and_follows_the_shares() -> None:
    shares = [("a", 0.2), ("b", 0.8)]
    first = [ab_split.variant_of("t", shares, n) for n in range(1, 5001)]
    assert first == [ab_split.variant_of("t", shares, n) for n in range(1, 5001)]
    counts = Counter(first)
    assert 900 < counts["a"] < 1100
    other = [ab_split.variant_of("u", [("a", 0.5), ("b", 0.5)], n) for n in range(1, 5001)]
    same = sum(x == y for x, y in zip(first, other, strict=True))
    assert 0.3 < same / 5000 < 0.7  # another test splits the customers differently


def test_ladder_check_refuses_a_broadcast_template_reading_the_order_it_has_none_of(
    tmp_path: Path,
) -> None:
    templates = tmp_path / "templates"
    for folder in ("layouts", "partials", "whats_new"):
        shutil.copytree(PROJECT_ROOT / "templates" / folder, templates / folder)
    english = templates / "whats_new" / "default.html.j2"
    english.write_text(
        english.read_text().replace("<p>A tip", "<p>{{ order.total }}</p>\n<p>A tip")
    )
    path = written(tmp_path, GOOD)
    (tmp_path / "triggers").mkdir()
    settings = Settings(
        templates_dir=templates, triggers_dir=tmp_path / "triggers", broadcasts_dir=path.parent
    )
    report = run_checks(settings)
    assert [p for p in report.problems if "order" in p] == [
        "whats_new/default.html.j2:9: reads order.total, but a broadcast gets no order"
        " (trigger 'broadcast:news' sends whats_new)"
    ]


def test_ladder_check_names_the_line_of_a_series_step_without_templates(tmp_path: Path) -> None:
    folder = tmp_path / "series"
    folder.mkdir()
    path = folder / "tips.toml"
    path.write_text('name = "tips"\nsteps = [\n  "whats_new",\n  "tea_tipz",\n]\nevery = "30d"\n')
    renderer = Renderer(PROJECT_ROOT / "templates", "en")
    ok, problems = series_problems(Settings(series_dir=folder), renderer)
    assert ok == []
    assert problems == [f"{path}:4: steps: 'tea_tipz' has no templates/tea_tipz/default.html.j2"]


def test_a_series_stepping_more_often_than_daily_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "tips.toml"
    path.write_text('name = "tips"\nsteps = ["whats_new"]\nevery = "12h"\n')
    with pytest.raises(TriggerError, match=r"tips.toml:3: every: .*at least a day"):
        load_series(path)
