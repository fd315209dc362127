"""`ladder check` on the copy itself: mistakes that render without an error but that a shop
cannot send, found in the template files as written.

- an offer code that differs between the languages of one message (the Russian champions
  once read CHEMPION20: only one code exists in the shop);
- a count written next to a noun without the `plural` filter, in a language with plural
  forms ("за 3 заказов");
- a `plural` call that leaves out a form the language needs (Russian needs one, few, many);
- a sentence ending on a date in a language whose dates end with a period ("2024 г..").

Each is a heuristic over the source (no rendering can show what a count of 3 would read for a
sample of 7); each problem names the file and line.
"""
# ruff: noqa: RUF002  (the docstrings quote Russian copy)

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from babel import dates

from worker.rendering.formatting import babel_locale
from worker.rendering.variants import SUFFIX, variant_locale


@dataclass(frozen=True)
class Problem:
    """As `checks.Problem` (which `ladder check` turns these into): file:line and what."""

    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


_CODE = re.compile(r'class="code"[^>]*>\s*([^<{\s]+)\s*<')
# `{{ customer.orders_count }} orders`: an expression with no filter, then a word.
_COUNT_THEN_WORD = re.compile(r"\{\{-?\s*([A-Za-z_][\w.]*)\s*-?\}\}[ \t\u00a0]+[^\W\d_]")
_COUNT_NAME = re.compile(r"(^|[._])(\w*count|n|quantity|days\w*)$")
_PLURAL_CALL = re.compile(r"\|\s*plural\(([^)]*)\)")
_FORM_NAME = re.compile(r"(\w+)\s*=")
_DATE_THEN_PERIOD = re.compile(r"\|\s*date(?:\(\s*[\"'](\w+)[\"']\s*\))?\s*-?\}\}\.")


def _variants(templates_dir: Path) -> list[str]:
    return sorted(
        str(path.relative_to(templates_dir))
        for path in templates_dir.glob(f"*/*{SUFFIX}")
        if path.parent.name not in ("layouts", "partials")
    )


def _lines(templates_dir: Path, name: str) -> list[str]:
    return (templates_dir / name).read_text(encoding="utf-8").splitlines()


def _plural_tags(language: str) -> frozenset[str]:
    """The CLDR plural forms a language uses for counts of orders, items or days, besides
    `other`: none for Chinese; not Spanish `many`, which is for millions ("1 millón de")."""
    rule = babel_locale(language).plural_form
    return frozenset(rule(n) for n in range(1000)) - {"other"}


def offer_code_problems(templates_dir: Path, default_locale: str) -> list[Problem]:
    """One offer, one code: each language of a message and segment shows the codes the shop
    default language's file shows (the first file when there is none)."""
    groups: dict[str, list[str]] = defaultdict(list)
    for name in _variants(templates_dir):
        groups[name.split(".")[0]].append(name)  # "win_back/champions"
    problems = []
    for names in groups.values():
        codes = {name: _codes(templates_dir, name) for name in names}
        reference = next(
            (n for n in names if variant_locale(n, default_locale) == default_locale), names[0]
        )
        expected = {code for code, _ in codes[reference]}
        for name in names:
            for code, line in codes[name]:
                if code not in expected and expected:
                    problems.append(
                        Problem(
                            f"{name}:{line}",
                            f"offer code {code!r} differs from {', '.join(sorted(expected))} in "
                            f"{reference}: one offer has one code in every language",
                        )
                    )
    return problems


def _codes(templates_dir: Path, name: str) -> list[tuple[str, int]]:
    return [
        (found, number)
        for number, line in enumerate(_lines(templates_dir, name), 1)
        for found in _CODE.findall(line)
    ]


def count_problems(templates_dir: Path, default_locale: str) -> list[Problem]:
    """A count followed by a noun with no `plural`, and `plural` calls missing a form the
    language needs (the missing form would silently read as `other`)."""
    problems = []
    for name in _variants(templates_dir):
        language = variant_locale(name, default_locale).split("_")[0]
        needed = _plural_tags(language)
        for number, line in enumerate(_lines(templates_dir, name), 1):
            where = f"{name}:{number}"
            if needed:
                for expression in _COUNT_THEN_WORD.findall(line):
                    if _COUNT_NAME.search(expression):
                        problems.append(
                            Problem(
                                where,
                                f"{{{{ {expression} }}}} is followed by a noun: write "
                                f"{{{{ {expression}|plural({_forms_hint(needed)}) }}}} so the "
                                f"noun agrees with the number in {language!r}",
                            )
                        )
            for arguments in _PLURAL_CALL.findall(line):
                given = set(_FORM_NAME.findall(arguments))
                missing = sorted((needed | {"other"}) - given)
                if missing:
                    problems.append(
                        Problem(
                            where,
                            f"plural() leaves out {', '.join(missing)}: {language!r} uses "
                            f"{_forms_hint(needed)}",
                        )
                    )
    return problems


def _forms_hint(tags: frozenset[str]) -> str:
    order = ("zero", "one", "two", "few", "many")
    return ", ".join([*(f'{tag}="…"' for tag in order if tag in tags), 'other="…"'])


def date_period_problems(templates_dir: Path, default_locale: str) -> list[Problem]:
    """A sentence ending on `|date` in a language whose date format already ends with a
    period: the email reads "15 мая 2024 г.."."""
    problems = []
    for name in _variants(templates_dir):
        language = variant_locale(name, default_locale).split("_")[0]
        for number, line in enumerate(_lines(templates_dir, name), 1):
            for format_name in _DATE_THEN_PERIOD.findall(line):
                shown = dates.format_date(
                    date(2024, 5, 15), format=format_name or "long", locale=babel_locale(language)
                )
                if shown.endswith("."):
                    problems.append(
                        Problem(
                            f"{name}:{number}",
                            f"the date ends with its own period in {language!r} ({shown!r}): "
                            "rephrase so the sentence does not end on the date",
                        )
                    )
    return problems


def copy_problems(templates_dir: Path, default_locale: str) -> list[Problem]:
    """Every copy problem in the templates, in file order within each rule."""
    return [
        *offer_code_problems(templates_dir, default_locale),
        *count_problems(templates_dir, default_locale),
        *date_period_problems(templates_dir, default_locale),
    ]
