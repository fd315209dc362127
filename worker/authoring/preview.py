"""Previews: a message rendered for a sample or a real customer, as files or for the studio."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from babel import Locale, UnknownLocaleError
from sqlalchemy import select
from sqlmodel import Session, col

from models import Customer, Event, Order
from triggers.schema import Trigger
from worker.audience.segments import PROSPECT, SEGMENTS
from worker.authoring.sample_customers import sample_context
from worker.delivery.composing import personal_links
from worker.rendering.renderer import RenderedEmail, Renderer
from worker.rendering.variables import build_context
from worker.settings import Settings


class PreviewError(Exception):
    """The preview cannot be made (an unknown customer); the message says why."""


@dataclass(frozen=True)
class Preview:
    email: RenderedEmail
    segment: str
    locale: str
    customer: str  # "sample" or the customer's e-mail address


# The segments a preview may name: those segmentation assigns, and "default" for the rest.
SEGMENT_NAMES = ("default", *(name for name, _, _ in SEGMENTS), PROSPECT)
# The languages the shipped templates are written in (any locale Babel knows is accepted).
LANGUAGES = ("en", "es", "de", "ru", "zh")


def check_choices(segment: str | None, locale: str | None) -> None:
    """Refuses a segment no customer can be in or a locale Babel does not know, naming the
    choices: a typo must not render a silent fallback that looks like the real email."""
    if segment is not None and segment not in SEGMENT_NAMES:
        raise PreviewError(f"unknown segment {segment!r}: choose one of {', '.join(SEGMENT_NAMES)}")
    if locale is not None:
        try:
            Locale.parse(locale.replace("-", "_"))
        except (UnknownLocaleError, ValueError) as exc:
            raise PreviewError(
                f"unknown locale {locale!r}: use a language such as {', '.join(LANGUAGES)}, "
                "optionally with a region (es_MX)"
            ) from exc


def sending_trigger(triggers: Sequence[Trigger], message: str) -> Trigger | None:
    """The first trigger (by name) that sends `message`: its name tags the preview's links and
    its class picks the footer, as sending does."""
    return next((t for t in sorted(triggers, key=lambda t: t.name) if t.message == message), None)


def customer_context(
    db: Session, settings: Settings, email: str, *, now: datetime
) -> tuple[dict[str, Any], Customer]:
    """The context `deliver` would build for this customer's latest event and order.

    Raises PreviewError when no customer has this address or they have no event yet.
    """
    customer = db.execute(
        select(Customer).where(col(Customer.email) == email.strip().lower())
    ).scalar_one_or_none()
    if customer is None:
        raise PreviewError(f"no customer with the address {email!r}")
    event = db.execute(
        select(Event)
        .where(col(Event.customer_id) == customer.id)
        .order_by(col(Event.occurred_at).desc(), col(Event.id).desc())
        .limit(1)
    ).scalar_one_or_none()
    if event is None:
        raise PreviewError(f"customer {customer.id} has no event to preview with")
    order = db.execute(
        select(Order)
        .where(col(Order.customer_id) == customer.id)
        .order_by(col(Order.placed_at).desc(), col(Order.id).desc())
        .limit(1)
    ).scalar_one_or_none()
    context = build_context(
        db, event=event, customer=customer, order=order, settings=settings, now=now
    )
    # The preview renders outside the session's life: read the lazy parts now.
    context["recommendations"] = list(context["recommendations"])
    return context, customer


def render_preview(
    renderer: Renderer,
    settings: Settings,
    message: str,
    *,
    segment: str | None,
    locale: str | None,
    db: Session | None = None,
    email: str | None = None,
    now: datetime,
    trigger: Trigger | None = None,
) -> Preview:
    """`message` for the customer with `email` (their segment and language unless given), or
    for a sample customer of `segment` and `locale`, as `trigger` would send it (its links and
    footer). Raises RenderError or PreviewError."""
    check_choices(segment, locale)
    message_class = trigger.message_class if trigger else "marketing"
    if email:
        if db is None:
            raise PreviewError("a database session is needed to preview for a customer")
        context, customer = customer_context(db, settings, email, now=now)
        segment = segment or customer.segment
        locale = locale or customer.locale
        who = customer.email
    else:
        locale = locale or settings.default_locale
        context = sample_context(settings, segment=segment or "default", locale=locale)
        who = "sample"
    customer_id = int(context["customer"]["id"] or 0)
    context.update(personal_links(settings, customer_id, message_class))
    context["message_class"] = message_class
    rendered = renderer.render(
        message,
        segment=segment,
        locale=locale,
        context=context,
        campaign=trigger.name if trigger else None,
    )
    return Preview(rendered, segment or "default", locale or settings.default_locale, who)


def write_preview(preview: Preview, out_dir: Path) -> tuple[Path, Path]:
    """Writes `<message>.<segment>.<locale>.html` and `.txt`; returns both paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    variant = preview.email.variant.removesuffix(".html.j2").replace("/", ".")
    stem = f"{variant.split('.')[0]}.{preview.segment}.{preview.locale}"
    html_path = out_dir / f"{stem}.html"
    text_path = out_dir / f"{stem}.txt"
    html_path.write_text(preview.email.html, encoding="utf-8")
    header = f"Subject: {preview.email.subject}\nPreheader: {preview.email.preheader}\n\n"
    text_path.write_text(header + preview.email.text, encoding="utf-8")
    return html_path, text_path
