"""`ladder check`: every trigger file on its own, and every message x segment x language rendered
and linted, each problem with its file and line."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

from rich.console import Console

from worker.authoring.checks import check_templates, run_checks
from worker.authoring.sample_customers import sample_context
from worker.cli.authoring import print_check
from worker.rendering.renderer import Renderer
from worker.settings import PROJECT_ROOT, Settings

HEAD = '{% extends "layouts/base.html.j2" %}\n'


def shop(tmp_path: Path, *messages: str) -> Path:
    """A copy of the shipped templates for a test to break: the layouts, the partials and the
    given messages (every message when none is named). A check renders each message for every
    segment and language; a test about one message's variant need not wait for all eight."""
    root = tmp_path / "templates"
    shipped = PROJECT_ROOT / "templates"
    if not messages:
        shutil.copytree(shipped, root)
        return root
    for folder in ("layouts", "partials", *messages):
        shutil.copytree(shipped / folder, root / folder)
    return root


def problems_in(templates: Path) -> list[str]:
    _, problems = check_templates(Settings(templates_dir=templates))
    return [str(problem) for problem in problems]


def add(templates: Path, name: str, body: str, subject: str = "Hello") -> None:
    (templates / name).write_text(
        f"{HEAD}{{% block subject %}}{subject}{{% endblock %}}\n"
        f"{{% block body %}}\n{body}\n{{% endblock %}}\n",
        encoding="utf-8",
    )


def test_the_shipped_templates_pass_for_every_segment_and_language() -> None:
    renditions, problems = check_templates(Settings())
    assert [str(p) for p in problems] == []
    messages = {r.message for r in renditions}
    assert messages == {
        "bigger_basket",
        "birthday",
        "holiday_card",
        "moved_up",
        "nps_survey",
        "points_earned",
        "second_order",
        "thank_you",
        "thank_you_b",  # its A/B test's subject
        "tier_up",
        "reward_unlocked",
        "membership_renewal",
        "points_expiring",
        "tier_at_risk",
        "loyalty_welcome",
        "upsell",
        "win_back",
        "win_back_at_risk",
        "whats_new",  # the monthly broadcast, and its A/B variant
        "whats_new_b",
        "coffee_tips_1",  # the coffee tips series
        "coffee_tips_2",
        "coffee_tips_3",
        "review_ask",  # a promoter's review ask
        "shop_detractor",  # to the shop, about a detractor
    }
    assert {r.locale for r in renditions} == {"de", "en", "es", "ru", "zh"}
    assert {"champions", "loyal", "at_risk", "new", "prospect", "default"} <= {
        r.segment for r in renditions
    }
    assert all(r.email is not None for r in renditions)


def test_an_email_to_the_shop_must_not_carry_the_customers_unsubscribe_link(
    tmp_path: Path,
) -> None:
    templates = shop(tmp_path, "shop_detractor")
    assert problems_in(templates) == []  # nor needs it, nor the postal address
    path = templates / "shop_detractor" / "default.es.html.j2"
    body, end = path.read_text(encoding="utf-8").rsplit("{% endblock %}", 1)
    link = '<a href="{{ unsubscribe_url }}">x</a>\n'
    path.write_text(f"{body}{link}{{% endblock %}}{end}", encoding="utf-8")
    assert problems_in(templates) == [
        "shop_detractor/default.es.html.j2:15: an email to the shop carries the customer's"
        " unsubscribe link"
    ]


def test_an_undefined_name_is_reported_with_its_file_and_line(tmp_path: Path) -> None:
    templates = shop(tmp_path, "win_back")
    add(
        templates, "win_back/champions.de.html.j2", "<p>Hallo</p>\n<p>{{ customer.frist_name }}</p>"
    )
    assert any(
        p.startswith("win_back/champions.de.html.j2:5: ") and "frist_name" in p
        for p in problems_in(templates)
    )


def test_an_email_without_the_unsubscribe_link_or_address_is_refused(tmp_path: Path) -> None:
    templates = shop(tmp_path, "thank_you")
    footer = templates / "partials" / "footer.html.j2"
    text = footer.read_text(encoding="utf-8")
    text = text.replace('<a href="{{ unsubscribe_url }}">{{ words[1] }}</a> · ', "")
    footer.write_text(text.replace("{{ shop.postal_address }}", ""), encoding="utf-8")
    problems = problems_in(templates)
    assert "thank_you/default.html.j2:1: no unsubscribe link ({{ unsubscribe_url }})" in problems
    assert "thank_you/default.html.j2:1: no postal address ({{ shop.postal_address }})" in problems


def test_a_template_without_a_subject_is_refused(tmp_path: Path) -> None:
    templates = shop(tmp_path, "upsell")
    (templates / "upsell" / "loyal.de.html.j2").write_text(
        HEAD + "{% block body %}<p>Hallo</p>{% endblock %}", encoding="utf-8"
    )
    assert "upsell/loyal.de.html.j2:1: declares no {% block subject %}" in problems_in(templates)


def test_an_empty_subject_is_refused(tmp_path: Path) -> None:
    templates = shop(tmp_path, "upsell")
    add(templates, "upsell/loyal.de.html.j2", "<p>Hallo</p>", subject="{{ '' }}")
    assert "upsell/loyal.de.html.j2:1: renders an empty subject" in problems_in(templates)


def test_relative_and_non_http_links_are_refused_with_their_line(tmp_path: Path) -> None:
    templates = shop(tmp_path, "win_back")
    body = (
        '<p>Hallo</p>\n<p><a href="/sale">Sale</a></p>\n'
        '<p><a href="mailto:hi@shop.example">Mail</a></p>'
    )
    add(templates, "win_back/at_risk.de.html.j2", body)
    problems = problems_in(templates)
    assert "win_back/at_risk.de.html.j2:5: link '/sale' is not an absolute http(s) URL" in problems
    assert (
        "win_back/at_risk.de.html.j2:6: link 'mailto:hi@shop.example' is not an absolute "
        "http(s) URL" in problems
    )


def test_an_image_without_alt_text_is_refused_with_its_line(tmp_path: Path) -> None:
    templates = shop(tmp_path, "win_back")
    body = '<p>Hallo</p>\n<img src="https://shop.example/a.png" alt="Tea">\n<img src="https://shop.example/b.png">'
    add(templates, "win_back/at_risk.de.html.j2", body)
    problems = problems_in(templates)
    assert (
        "win_back/at_risk.de.html.j2:6: image 'https://shop.example/b.png' has no alt text"
        in problems
    )
    assert not any("a.png" in p for p in problems)


def test_html_over_102_kb_is_refused(tmp_path: Path) -> None:
    templates = shop(tmp_path, "win_back")
    add(templates, "win_back/at_risk.de.html.j2", "<p>" + "Hallo " * 20_000 + "</p>")
    assert any(
        p.startswith("win_back/at_risk.de.html.j2:1: HTML is ") and "Gmail clips" in p
        for p in problems_in(templates)
    )


def test_a_language_missing_a_message_the_others_have_is_refused(tmp_path: Path) -> None:
    templates = shop(tmp_path, "upsell", "thank_you")
    for path in (templates / "upsell").glob("*.ru.html.j2"):
        path.unlink()
    problems = problems_in(templates)
    assert (
        "upsell/: no variant in 'ru', which other messages have: add upsell/default.ru.html.j2"
        in problems
    )


def test_a_missing_first_name_that_would_read_none_is_refused(tmp_path: Path) -> None:
    templates = shop(tmp_path, "win_back")
    add(templates, "win_back/at_risk.de.html.j2", "<p>Hallo {{ customer.first_name }},</p>")
    assert any(
        p.startswith("win_back/at_risk.de.html.j2:1: the email reads 'None'")
        for p in problems_in(templates)
    )


def test_a_marketer_adds_a_german_champions_variant_and_a_german_champion_gets_it(
    tmp_path: Path,
) -> None:
    templates = shop(tmp_path, "win_back")
    add(
        templates,
        "win_back/champions.de.html.j2",
        "<p>{{ greeting }},</p>\n<p>Ihr Gutschein über {{ 15|money }} wartet.</p>",
        subject="Wir vermissen Sie",
    )
    assert problems_in(templates) == []
    settings = Settings(templates_dir=templates)
    renderer = Renderer(templates, "en")
    context = sample_context(settings, segment="champions", locale="de_DE")
    email = renderer.render("win_back", segment="champions", locale="de_DE", context=context)
    assert email.variant == "win_back/champions.de.html.j2"
    assert "Ihr Gutschein über 15,00\xa0€ wartet." in email.text


def test_run_checks_prints_each_variant_and_returns_the_problems(tmp_path: Path) -> None:
    templates = shop(tmp_path)
    add(templates, "win_back/at_risk.de.html.j2", "<p>{{ nope }}</p>")
    out = io.StringIO()
    report = run_checks(Settings(templates_dir=templates))
    print_check(report, Console(file=out, width=200), verbose=True)
    assert report.problems == ["win_back/at_risk.de.html.j2:4: 'nope' is undefined"]
    printed = out.getvalue()
    assert "win_back/champions.de.html.j2" in printed and "Ihre Lieblingsstücke" in printed
    assert "'nope' is undefined" in printed
    # Problems first: no ok row scrolls them away.
    assert printed.index("'nope' is undefined") < printed.index("win_back/champions.de.html.j2")


def test_check_lists_the_ok_rows_only_with_verbose_and_fits_80_columns(tmp_path: Path) -> None:
    templates = shop(tmp_path)
    add(templates, "win_back/at_risk.de.html.j2", "<p>{{ nope }}</p>")
    report = run_checks(Settings(templates_dir=templates))
    quiet, verbose = Console(record=True, width=80), Console(record=True, width=80)
    print_check(report, quiet)
    print_check(report, verbose, verbose=True)
    short, long = quiet.export_text(), verbose.export_text()
    assert "win_back/at_risk.de.html.j2:4: 'nope' is undefined" in short
    assert "win_back/champions.de.html.j2" not in short
    assert "(--verbose lists them)" in short
    assert "win_back/champions.de.html.j2" in long
    assert "…" not in long


def check(triggers_dir: Path | None = None) -> tuple[list[str], str]:
    """`ladder check` on the shipped shop, or on trigger files of a test's own in `triggers_dir`
    beside the one message they send (thank_you), with the shipped ladder and no goals (the
    shipped goals name shipped triggers)."""
    if triggers_dir is None:
        settings = Settings()
    else:
        templates = shop(triggers_dir / "shop", "thank_you")
        measurement = triggers_dir / "measurement"
        measurement.mkdir(exist_ok=True)
        shutil.copyfile(PROJECT_ROOT / "measurement" / "rungs.toml", measurement / "rungs.toml")
        settings = Settings(
            triggers_dir=triggers_dir, templates_dir=templates, measurement_dir=measurement
        )
    console = Console(record=True, width=300)
    report = run_checks(settings)
    print_check(report, console, verbose=True)
    return report.problems, console.export_text()


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


def test_a_template_that_would_exhaust_a_worker_is_reported_with_its_file_and_line(
    tmp_path: Path,
) -> None:
    templates = shop(tmp_path, "win_back")
    add(templates, "win_back/champions.html.j2", "<p>Hi</p>\n<p>{{ ('a' * 10**9)|length }}</p>")
    assert "win_back/champions.html.j2:5: the template builds a value of 1,000,000,000 " + (
        "characters or items"
    ) in problems_in(templates)


def write_trigger(folder: Path, name: str, body: str) -> Path:
    path = folder / f"{name}.toml"
    path.write_text(f'name = "{name}"\nmessage = "thank_you"\n{body}\n', encoding="utf-8")
    return path


def test_an_event_type_that_is_not_one_ladder_receives_is_refused_with_the_one_meant(
    tmp_path: Path,
) -> None:
    on = write_trigger(tmp_path, "placd", 'on = "order.placd"')
    unless = write_trigger(tmp_path, "refundd", 'on = "order.placed"\nunless = ["order.refundd"]')
    write_trigger(tmp_path, "custom", 'on = "custom.gift_card.redeemed"')

    problems, _ = check(tmp_path)

    assert problems == [
        f"{on}:3: on: Value error, 'order.placd' is not an event type Ladder receives"
        " (hint: did you mean 'order.placed'?)",
        f"{unless}:4: unless: Value error, 'order.refundd' is not an event type Ladder"
        " receives (hint: did you mean 'order.refunded'?)",
    ]


def test_a_condition_reading_a_fact_the_customer_does_not_have_is_refused(
    tmp_path: Path,
) -> None:
    path = write_trigger(
        tmp_path,
        "typo",
        'on = "order.placed"\nwhen = "customer.ordrs_count >= 2"\ndedupe = "order.idd"',
    )

    problems, text = check(tmp_path)

    assert problems == [
        f"{path}:4: when: reads customer.ordrs_count, which is not there"
        " (did you mean 'orders_count'?)",
        f"{path}:5: dedupe: reads order.idd, which is not there (did you mean 'id'?)",
    ]
    # Problems are listed; the trigger is never called ok (ok rows show only with --verbose).
    assert not [line for line in text.splitlines() if "typo" in line and " ok " in line], text


def test_a_date_trigger_reading_an_order_it_never_gets_is_refused_in_its_templates(
    tmp_path: Path,
) -> None:
    path = write_trigger(tmp_path, "card", 'on = "date:12-20"\nwhen = "order.total > 10"')

    problems, _ = check(tmp_path)

    # Its condition, and the thank-you templates it sends, read the order.
    assert problems[0] == (
        f"{path}:4: when: reads order.total, but a trigger on date:12-20 gets no order"
    )
    assert (
        "thank_you/default.html.j2:7: reads order.placed_at, but a trigger on date:12-20"
        " gets no order (trigger 'card' sends thank_you)" in problems
    )
    assert (
        "partials/order_lines.html.j2:3: reads order.lines, but a trigger on date:12-20"
        " gets no order (trigger 'card' sends thank_you)" in problems
    )


def test_a_template_reading_a_key_no_context_has_is_refused_even_in_a_branch_not_rendered(
    tmp_path: Path,
) -> None:
    templates = shop(tmp_path, "win_back")
    add(
        templates,
        "win_back/champions.html.j2",
        "<p>Hi</p>\n{% if customer.orders_count > 100 %}{{ customer.frist_name }}\n"
        "{% for line in order.lines %}{{ line.titel }}{% endfor %}{% endif %}",
    )
    report = run_checks(Settings(templates_dir=templates))
    assert (
        "win_back/champions.html.j2:5: reads customer.frist_name, which is not there"
        " (did you mean 'first_name'?) (trigger 'win-back' sends win_back)" in report.problems
    )
    assert (
        "win_back/champions.html.j2:6: reads line.titel, which is not there"
        " (did you mean 'title'?) (trigger 'win-back' sends win_back)" in report.problems
    )
