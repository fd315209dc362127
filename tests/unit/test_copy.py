"""The shipped copy as a shop sends it: rendered through the real Renderer from templates/, and
the `ladder check` rules that catch what went wrong in it (issue 13, item 11)."""

# ruff: noqa: RUF001  (Russian and Chinese copy is the point of these tests)
from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from worker.authoring.checks import check_templates
from worker.authoring.copy_checks import copy_problems
from worker.authoring.sample_customers import sample_context
from worker.rendering.renderer import Renderer, RenderError
from worker.settings import PROJECT_ROOT, Settings

TEMPLATES = PROJECT_ROOT / "templates"
LANGUAGES = ("en", "es", "de", "ru", "zh")


def settings(templates: Path = TEMPLATES) -> Settings:
    return Settings(
        _env_file=None,
        templates_dir=templates,
        shop_name="Ladder Tea Co.",
        postal_address="Calle Mayor 1, 28013 Madrid",
        shop_url="https://tea.example",
        public_url="https://ladder.tea.example",
        default_locale="en",
        default_currency="EUR",
    )


def render(message: str, segment: str, locale: str, **customer: Any) -> str:
    config = settings()
    context = sample_context(config, segment=segment, locale=locale)
    context.update(customer.pop("_context", {}))
    context["customer"] = {**context["customer"], **customer}
    email = Renderer(TEMPLATES, "en").render(
        message, segment=segment, locale=locale, context=context
    )
    return f"{email.subject}\n{email.preheader}\n{email.text}"


@pytest.mark.parametrize(
    ("count", "nominative", "genitive"),
    [(1, "1 заказ", "1 заказа"), (3, "3 заказа", "3 заказов"), (5, "5 заказов", "5 заказов"),
     (21, "21 заказ", "21 заказа"), (12, "12 заказов", "12 заказов")],
)  # fmt: skip
def test_russian_counts_agree_with_their_noun(count: int, nominative: str, genitive: str) -> None:
    upsell = render("upsell", "champions", "ru", orders_count=count)
    assert f"Уже {nominative} вместе" in upsell
    assert f"уже {nominative}." in upsell
    win_back = render("win_back", "champions", "ru", orders_count=count)
    assert f"После {genitive} нам" in win_back
    assert f"за {nominative} (всего" in win_back
    moved_up = render("moved_up", "default", "ru", orders_count=count)
    assert f"Уже {nominative} —" in moved_up


@pytest.mark.parametrize(
    ("locale", "one", "two"),
    [("en", "1 order", "2 orders"), ("de", "1 Bestellung", "2 Bestellungen"),
     ("es", "1 pedido", "2 pedidos")],
)  # fmt: skip
def test_one_order_is_singular_in_every_message_that_counts_orders(
    locale: str, one: str, two: str
) -> None:
    for message, segment in (
        ("upsell", "champions"),
        ("win_back", "champions"),
        ("moved_up", "default"),
        ("bigger_basket", "default"),
    ):
        assert one in render(message, segment, locale, orders_count=1), message
        assert two in render(message, segment, locale, orders_count=2), message
        assert (
            re.search(rf"\b1 {two.split()[1]}\b", render(message, segment, locale, orders_count=1))
            is None
        )


def test_plural_needs_other_and_names_unknown_forms(tmp_path: Path) -> None:
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "default.html.j2").write_text(
        "{% block subject %}{{ 2|plural(one='order') }}{% endblock %}", encoding="utf-8"
    )
    (tmp_path / "m" / "other.html.j2").write_text(
        "{% block subject %}{{ 2|plural(one='a', lots='b', other='c') }}{% endblock %}",
        encoding="utf-8",
    )
    renderer = Renderer(tmp_path, "en")
    with pytest.raises(RenderError, match=r"m/default.html.j2:1: plural\(\) needs other="):
        renderer.render_variant("m/default.html.j2", {})
    with pytest.raises(RenderError, match="no form 'lots'"):
        renderer.render_variant("m/other.html.j2", {})


@pytest.mark.parametrize("segment", ["default", "at_risk", "champions", "loyal"])
def test_every_language_of_a_message_shows_the_same_offer_code(segment: str) -> None:
    for message in ("win_back", "upsell", "birthday", "second_order"):
        codes = {
            locale: re.findall(r"\b[A-Z][A-Z0-9]{4,}\b", render(message, segment, locale))
            for locale in LANGUAGES
        }
        assert len({tuple(found) for found in codes.values()}) == 1, (message, codes)


def test_no_russian_email_reads_a_double_period_after_a_date() -> None:
    for message in Renderer(TEMPLATES, "en").messages():
        for segment in ("default", "at_risk", "champions", "loyal", "new"):
            text = render(message, segment, "ru")
            assert "г.." not in text.replace("\u202f", " "), (message, segment)


def test_chinese_greetings_and_subjects_use_the_full_name_family_name_first() -> None:
    text = render("thank_you", "new", "zh", first_name="芳", last_name="王")
    subject, _, body = text.partition("\n")
    assert subject.startswith("王芳，")
    assert "王芳，您好！" in body
    assert "芳，您好" not in body.replace("王芳，您好", "")
    latin = render("thank_you", "new", "zh", first_name="Anna", last_name="Li")
    assert "Anna Li，您好！" in latin
    typed_in_full = render("thank_you", "new", "zh", first_name="王芳", last_name="王")
    assert "王芳，您好！" in typed_in_full and "王王芳" not in typed_in_full


@pytest.mark.parametrize("locale", LANGUAGES)
def test_the_thank_you_promises_no_shipping_email_that_nothing_sends(locale: str) -> None:
    text = render("thank_you", "new", locale).lower()
    for promise in ("on its way", "what happens next", "unterwegs", "wie es weitergeht",
                    "en cuanto salga", "próximos pasos", "отправится в путь", "что будет дальше",
                    "一发出", "后续安排"):  # fmt: skip
        assert promise not in text


@pytest.mark.parametrize("locale", LANGUAGES)
def test_a_transactional_email_carries_the_transactional_footer(locale: str) -> None:
    marketing = render("thank_you", "new", locale)
    transactional = render("thank_you", "new", locale, _context={"message_class": "transactional"})
    consent = {
        "en": "said yes to our news", "es": "aceptaste recibir", "de": "Neuigkeiten zugestimmt",
        "ru": "согласились получать", "zh": "同意接收",
    }[locale]  # fmt: skip
    assert consent in marketing
    assert consent not in transactional
    assert settings().postal_address in transactional


def test_check_catches_each_copy_mistake_naming_the_file_and_line(tmp_path: Path) -> None:
    templates = tmp_path / "templates"
    shutil.copytree(TEMPLATES, templates)
    assert copy_problems(templates, "en") == []

    def edit(name: str, old: str, new: str) -> None:
        path = templates / name
        text = path.read_text(encoding="utf-8")
        assert old in text
        path.write_text(text.replace(old, new), encoding="utf-8")

    edit("win_back/champions.ru.html.j2", "CHAMPION20", "CHEMPION20")
    edit(
        "moved_up/default.html.j2",
        '{{ customer.orders_count|plural(one="order", other="orders") }}',
        "orders",
    )
    edit("moved_up/default.ru.html.j2", 'few="заказа", ', "")
    edit("win_back/at_risk.ru.html.j2", "|date }}, и с тех пор мы давно не виделись.", "|date }}.")
    found = [str(p) for p in check_templates(settings(templates))[1]]
    assert any(
        p.startswith("win_back/champions.ru.html.j2:9: offer code 'CHEMPION20' differs")
        for p in found
    )
    assert any(
        p.startswith(
            "moved_up/default.html.j2:7: {{ customer.orders_count }} is followed by a noun"
        )
        for p in found
    )
    assert any(
        p.startswith("moved_up/default.ru.html.j2:8: plural() leaves out few") for p in found
    )
    assert any(
        p.startswith("win_back/at_risk.ru.html.j2:7: the date ends with its own period")
        for p in found
    )
