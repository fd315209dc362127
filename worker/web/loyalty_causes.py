"""The causes on the customer's loyalty page: each with its running total, and a form that gives
points to one. The form carries a token signed for this customer and page (`web/forms.py`), so
a page elsewhere cannot make a customer's browser give their points away."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from babel.numbers import format_decimal
from markupsafe import Markup

from worker.web.forms import form_token
from worker.web.loyalty_texts import LoyaltyTexts

FORM_PURPOSE = b"loyalty-donate:v1:"


def form_user(customer_id: int) -> str:
    """Whom the form's token is signed for: this customer's page, no other."""
    return f"customer:{customer_id}"


def causes_section(
    totals: list[tuple[str, str, int, int]],
    texts: LoyaltyTexts,
    locale: Any,
    *,
    secret: bytes,
    customer_id: int,
    action: str,
    now: datetime,
) -> Markup:
    """The causes with what was given to each, and the form; nothing without causes."""
    if not totals:
        return Markup("")
    items = Markup("").join(
        Markup("<li id='cause-{}'>{}<br><small>{}</small></li>").format(
            name,
            title,
            texts.given_so_far.format(points=format_decimal(points, locale=locale)),
        )
        for name, title, points, _ in totals
    )
    options = Markup("").join(
        Markup("<option value='{}'>{}</option>").format(name, title) for name, title, _, _ in totals
    )
    token = form_token(secret, form_user(customer_id), now, purpose=FORM_PURPOSE)
    form = Markup(
        "<form method='post' action='{action}' id='donate'>"
        "<input type='hidden' name='token' value='{token}'>"
        "<select name='cause'>{options}</select> "
        "<input type='number' name='points' min='1' required style='width:6em'> "
        "<button type='submit'>{give}</button></form>"
    ).format(action=action, token=token, options=options, give=texts.give)
    heading = Markup("<h2 style='font-size:1.2em'>{}</h2>").format(texts.causes)
    return (
        heading + Markup("<ul id='causes' style='padding-left:1.2em'>{}</ul>").format(items) + form
    )
