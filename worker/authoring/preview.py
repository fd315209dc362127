"""Previews: a message rendered for a sample or a real customer, as files or for the studio."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlmodel import Session, col

from models import Customer, Event, Order
from worker.authoring.sample_customers import sample_context
from worker.delivery.tokens import unsubscribe_token
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


def personal_links(settings: Settings, customer_id: int) -> dict[str, str]:
    """The unsubscribe and preferences links of one customer, as `deliver` builds them."""
    token = unsubscribe_token(settings.secret_key(), customer_id)
    base = settings.public_url.rstrip("/")
    return {
        "unsubscribe_url": f"{base}/unsubscribe/{token}",
        "preferences_url": f"{base}/u/{token}/preferences",
    }


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
    context.update(personal_links(settings, customer.id or 0))
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
) -> Preview:
    """`message` for the customer with `email` (their segment and language unless given), or
    for a sample customer of `segment` and `locale`. Raises RenderError or PreviewError."""
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
    rendered = renderer.render(message, segment=segment, locale=locale, context=context)
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
