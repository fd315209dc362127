"""Composing: the variant chosen for this person rendered into the email the provider sends,
with its unsubscribe link and headers."""

from __future__ import annotations

from datetime import datetime
from functools import cached_property
from typing import Any

from worker.delivery.claims import Claimed
from worker.delivery.tokens import (
    SURVEY_SCALES,
    loyalty_token,
    survey_token,
    unsubscribe_token,
)
from worker.providers import OutgoingEmail, delivery_key
from worker.rendering.renderer import RenderedEmail
from worker.runtime import Runtime
from worker.settings import Settings

# What composing adds to the context a template gets (`ladder check` reads the names here).
# `survey.nps[score]`, `survey.ces[score - 1]`: one-click answer links (worker/web/surveys.py);
# `loyalty_url`: the customer's loyalty page (worker/web/loyalty.py).
LINK_NAMES = ("unsubscribe_url", "preferences_url", "survey", "loyalty_url")
# What `compose` adds to a trigger's context besides the links (`ladder check` reads it).
COMPOSED_NAMES = (*LINK_NAMES, "message_class")


def compose(
    claimed: Claimed, context: dict[str, Any], *, now: datetime, runtime: Runtime
) -> tuple[OutgoingEmail, RenderedEmail]:
    """Renders the variant chosen for this person; returns the email and what was rendered
    (the variant's name and version).

    Raises RenderError for a missing or broken template.
    """
    settings = runtime.settings
    delivery, customer = claimed.delivery, claimed.customer
    compiled = runtime.triggers.by_name.get(delivery.trigger)
    # A broadcast's delivery carries its class on the row (its file is not a trigger).
    message_class = compiled.trigger.message_class if compiled else delivery.message_class
    # An alert to the shop: about the customer, in the shop's language, to the shop, and
    # without the customer's own links (one click there would unsubscribe them).
    to_shop = compiled is not None and compiled.trigger.to_shop
    links = {} if to_shop else personal_links(settings, customer.id, message_class, delivery.id)  # type: ignore[arg-type]
    context = {**context, **links, "message_class": message_class}
    rendered = runtime.renderer.render(
        delivery.message,
        segment=None if to_shop else customer.segment,
        locale=settings.default_locale if to_shop else customer.locale,
        context=context,
        campaign=delivery.trigger,
    )
    email = OutgoingEmail(
        delivery_id=delivery.id,  # type: ignore[arg-type]
        to=str(settings.shop_alerts_to) if to_shop else customer.email,
        sender=str(settings.sender),
        sender_name=settings.shop_name,
        subject=rendered.subject,
        html=rendered.html,
        text=rendered.text,
        created_at=now,
        key=delivery_key(delivery.id, delivery.created_at),  # type: ignore[arg-type]
        headers=unsubscribe_headers(links["unsubscribe_url"])
        if message_class == "marketing"
        else {},
        categories=(delivery.trigger, delivery.message),
        custom_args={
            "delivery_id": str(delivery.id),
            "trigger": delivery.trigger,
            "segment": customer.segment or "",
        },
        reply_to=settings.sendgrid_reply_to,
        unsubscribe_group=settings.sendgrid_group(message_class),
        message_class=message_class,
    )
    return email, rendered


def personal_links(
    settings: Settings, customer_id: int, message_class: str = "marketing", delivery_id: int = 0
) -> dict[str, Any]:
    """The unsubscribe, preferences, survey and loyalty links of one customer (and delivery: 0 for a
    preview): the one builder both sending and previews use, so a preview shows the links the
    customer will really get."""
    base = settings.public_url.rstrip("/")
    token = unsubscribe_token(settings.secret_key(), customer_id, message_class)
    unsubscribe_url = f"{base}/u/{token}"
    return {
        "unsubscribe_url": unsubscribe_url,
        "preferences_url": f"{unsubscribe_url}/preferences",
        "survey": SurveyLinks(base, settings.secret_key(), delivery_id),
        "loyalty_url": loyalty_url(settings, customer_id),
    }


def loyalty_url(settings: Settings, customer_id: int) -> str:
    """The customer's loyalty page, signed for them (worker/web/loyalty.py)."""
    token = loyalty_token(settings.secret_key(), customer_id)
    return f"{settings.public_url.rstrip('/')}/l/{token}"


class SurveyLinks:
    """`survey.nps` (scores 0-10) and `survey.ces` (1-7): each a list of one-click links,
    signed when a template first reads them (most emails never do)."""

    def __init__(self, base: str, secret: bytes, delivery_id: int) -> None:
        self._base, self._secret, self._delivery_id = base, secret, delivery_id

    def _links(self, kind: str) -> list[str]:
        token = survey_token(self._secret, self._delivery_id, kind)
        return [f"{self._base}/s/{token}/{score}" for score in SURVEY_SCALES[kind]]

    @cached_property
    def nps(self) -> list[str]:
        return self._links("nps")

    @cached_property
    def ces(self) -> list[str]:
        return self._links("ces")


def unsubscribe_headers(url: str) -> dict[str, str]:
    """RFC 2369 + RFC 8058: mail clients show an unsubscribe button that POSTs to `url`."""
    return {"List-Unsubscribe": f"<{url}>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}
