"""Snapshots of rendered emails: a change to a layout, partial or message shows up in review.

After an intended change, refresh them and review the diff:

    make snapshots        # UPDATE_SNAPSHOTS=1 pytest tests/unit/test_snapshots.py
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from worker.authoring.sample_customers import sample_context
from worker.rendering.renderer import Renderer
from worker.settings import PROJECT_ROOT, Settings

SNAPSHOTS = Path(__file__).parent / "snapshots"
UPDATE = os.environ.get("UPDATE_SNAPSHOTS") == "1"
# Every message shipped in templates/: a new one fails here until its snapshots are reviewed.
MESSAGES = Renderer(PROJECT_ROOT / "templates", "en").messages()

CASES = [
    ("champions", "en"),
    ("default", "es"),
    ("new", "es_MX"),
    ("at_risk", "de"),
    ("loyal", "ru"),
    ("champions", "zh"),
]


def settings() -> Settings:
    """Fixed values, whatever the developer's environment or .env says."""
    return Settings(
        _env_file=None,
        templates_dir=PROJECT_ROOT / "templates",
        shop_name="Ladder Tea Co.",
        postal_address="Calle Mayor 1, 28013 Madrid",
        shop_url="https://tea.example",
        public_url="https://ladder.tea.example",
        default_locale="en",
        default_currency="EUR",
    )


def compare(path: Path, actual: str) -> None:
    if UPDATE:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(actual, encoding="utf-8")
        return
    assert path.exists(), f"no snapshot {path.name}: run `make snapshots` and review the files"
    expected = path.read_text(encoding="utf-8")
    assert actual == expected, f"{path.name} changed: if intended, run `make snapshots`"


@pytest.mark.parametrize("message", MESSAGES)
@pytest.mark.parametrize(("segment", "locale"), CASES)
def test_the_rendered_email_matches_its_snapshot(message: str, segment: str, locale: str) -> None:
    config = settings()
    renderer = Renderer(config.templates_dir, config.default_locale)
    context = sample_context(config, segment=segment, locale=locale)
    email = renderer.render(
        message, segment=segment, locale=locale, context=context, campaign=message
    )
    stem = f"{message}.{segment}.{locale}"
    header = (
        f"Variant: {email.variant}\nLocale: {email.locale}\n"
        f"Subject: {email.subject}\nPreheader: {email.preheader}\n\n"
    )
    compare(SNAPSHOTS / f"{stem}.txt", header + email.text)
    compare(SNAPSHOTS / f"{stem}.html", email.html)
