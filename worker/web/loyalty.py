"""The customer's loyalty: a page through their signed link (`loyalty_url` in a template), the
same as JSON for the shop's storefront widget, and that JSON for the shop's server by the
events API's bearer token.

Two doors, one document. The shop's server asks `POST /loyalty/statement` with LADDER_API_TOKEN
(which never reaches a browser) for a customer it knows, and gets their figures with their
signed `page_url` and `widget_url`; a storefront page may embed that `widget_url`, which gives
only that customer's figures, and read it from the browser when its origin is one of
LOYALTY_WIDGET_ORIGINS. A link we did not sign gets a 404 saying what to do, and no figures.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any

from babel.dates import format_date
from babel.numbers import format_currency, format_decimal
from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse
from markupsafe import Markup
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from models import Customer
from models.db import session
from triggers.programme import Programme
from worker import current_time, hygiene
from worker.delivery.composing import loyalty_url
from worker.delivery.tokens import read_loyalty_token
from worker.loyalty import donations, ledger
from worker.loyalty.summary import Summary, summary_document, summary_of
from worker.loyalty.views import programme_in
from worker.privacy.holdings import find_customer
from worker.rendering.formatting import babel_locale
from worker.settings import Settings
from worker.web.deps import db_session, read_body, require_api_token, settings_of
from worker.web.forms import check_form
from worker.web.loyalty_causes import FORM_PURPOSE, causes_section, form_user
from worker.web.loyalty_texts import LoyaltyTexts, language_asked, texts_for
from worker.web.membership_texts import membership_texts
from worker.web.pages import branded_page

logger = logging.getLogger(__name__)
router = APIRouter()
STATEMENT_LIMIT_BYTES = 4096  # who the shop asks about: an id or an address

# The page holds codes worth money: no cache keeps it, no search engine lists it, and no
# Referer carries the link's token anywhere.
_PRIVATE = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Robots-Tag": "noindex",
}

_CELL = "padding:.3em .6em;border-bottom:1px solid #ddd;text-align:left"


def _programme(settings: Settings) -> Programme | None:
    return programme_in(settings.triggers_dir, settings.loyalty_programme)


def _refused(request: Request, text: str, status: int) -> HTMLResponse:
    texts = texts_for(language_asked(request.headers.get("accept-language")))
    message = getattr(texts, text).format(shop=settings_of(request).shop_name)
    body = Markup("<p>{}</p>").format(message)
    settings = settings_of(request)
    page = branded_page(settings, language=texts.lang, title=settings.shop_name, body=body)
    return HTMLResponse(page, status)


@router.get("/l/{token}", response_class=HTMLResponse)
def page(request: Request, token: str, db: Session = Depends(db_session)) -> HTMLResponse:  # noqa: B008
    settings = settings_of(request)
    customer_id = read_loyalty_token(settings.secret_key(), token)
    customer = db.get(Customer, customer_id) if customer_id is not None else None
    if customer is None or customer_id is None:
        logger.info("loyalty page: a link we did not sign, or a customer since forgotten")
        return _refused(request, "invalid", 404)
    programme = _programme(settings)
    if programme is None:
        return _refused(request, "no_programme", 404)
    summary = summary_of(
        db, programme, customer_id, currency=settings.default_currency, now=current_time.now()
    )
    texts = texts_for(customer.locale)
    causes = causes_section(
        donations.totals(db, programme),
        texts,
        babel_locale(texts.lang),
        secret=settings.secret_key(),
        customer_id=customer_id,
        action=f"/l/{token}/donate",
        now=current_time.now(),
    )
    html = branded_page(
        settings,
        language=texts.lang,
        title=texts.title.format(shop=settings.shop_name),
        body=_body(summary, texts, programme.tiers_by) + causes,
    )
    return HTMLResponse(html, headers=_PRIVATE)


@router.post("/l/{token}/donate", response_class=HTMLResponse)
def donate(
    request: Request,
    token: str,
    cause: Annotated[str, Form(max_length=64)],
    points: Annotated[int, Form(ge=1, le=donations.MAX_DONATION)],
    form: Annotated[str, Form(alias="token", max_length=64)] = "",  # missing: 403 as forged
    db: Session = Depends(db_session),  # noqa: B008
) -> HTMLResponse:
    """Gives points to a cause from the page's form: once per form sent (a double click or a
    reload gives once), only with the form's token and from the page's own origin."""
    settings = settings_of(request)
    customer_id = read_loyalty_token(settings.secret_key(), token)
    customer = db.get(Customer, customer_id) if customer_id is not None else None
    programme = _programme(settings)
    if customer is None or customer_id is None or programme is None:
        return _refused(request, "invalid" if programme else "no_programme", 404)
    now = current_time.now()
    secret = settings.secret_key()
    check_form(request, secret, form_user(customer_id), form, now, purpose=FORM_PURPOSE)
    texts = texts_for(customer.locale)
    key = f"page:{customer_id}:{form}:{cause}:{points}"
    try:
        donations.donate(
            db, programme, customer_id=customer_id, cause=cause, points=points, key=key, now=now
        )
    except donations.DonationRefused as exc:
        db.rollback()
        if programme.named_cause(cause) is None:  # an old or forged form: no customer's words
            raise HTTPException(422, str(exc)) from exc
        have = ledger.statement_of(db, customer_id, entries=False).member
        message = texts.too_few.format(points=have.points if have else 0)
        return _answer(settings, texts, message, token, 422)
    db.commit()
    title = programme.named_cause(cause).title  # type: ignore[union-attr]
    message = texts.thanks.format(points=points, cause=title)
    return _answer(settings, texts, message, token, 200)


def _answer(
    settings: Settings, texts: LoyaltyTexts, message: str, token: str, status: int
) -> HTMLResponse:
    title = texts.title.format(shop=settings.shop_name)
    body = Markup("<p id='answer'>{}</p><p><a href='/l/{}'>{}</a></p>").format(
        message, token, title
    )
    page = branded_page(settings, language=texts.lang, title=title, body=body)
    return HTMLResponse(page, status, _PRIVATE)


def _body(summary: Summary, texts: LoyaltyTexts, tiers_by: str) -> Markup:
    """The page's content; its title is the layout's heading."""
    view, locale = summary.view, babel_locale(texts.lang)
    parts = [
        Markup(
            "<p><span id='points' style='font-size:2.5em;font-weight:bold'>{}</span><br>{}</p>"
        ).format(format_decimal(view["points"], locale=locale), texts.points),
    ]
    if view["pending"]:
        parts.append(
            Markup("<p><b id='pending'>{}</b> {}</p>").format(
                format_decimal(view["pending"], locale=locale), texts.pending
            )
        )
    if view["tier"] is not None:
        parts.append(_tier(view, texts, locale, summary.currency, tiers_by))
    if view["membership"] is not None:
        parts.append(_membership(view["membership"], texts.lang, locale))
    parts.append(_rewards(view["rewards"], texts, locale))
    parts.append(_history(summary, texts, locale))
    return Markup("").join(parts)


def _tier(view: dict[str, Any], texts: LoyaltyTexts, locale: Any, currency: str, by: str) -> Markup:
    shown = Markup("<h2 style='font-size:1.2em'>{}: <span id='tier'>{}</span></h2>").format(
        texts.tier, texts.tiers.get(view["tier"], view["tier"])
    )
    if view["next_tier"] is None:
        return shown + Markup("<p>{}</p>").format(texts.top_tier)
    following = texts.tiers.get(view["next_tier"], view["next_tier"])
    if by == "spend":
        amount = format_currency(view["to_next_tier"], currency, locale=locale)
        line = texts.to_next_spend.format(amount=amount, tier=following)
    else:
        points = format_decimal(view["to_next_tier"], locale=locale)
        line = texts.to_next_points.format(points=points, tier=following)
    bar = Markup(
        "<div style='background:#eee;border-radius:.5em;height:1em;overflow:hidden'>"
        "<div id='progress' style='background:#2a7d4f;height:1em;width:{}%'></div></div>"
    ).format(int(view["progress"]))
    return shown + bar + Markup("<p id='to-next'>{}</p>").format(line)


def _membership(membership: dict[str, Any], lang: str, locale: Any) -> Markup:
    """The plan's state (renews on, active until, or lapsed) and, while active, its benefits."""
    texts = membership_texts(lang)
    shown = Markup("<h2 style='font-size:1.2em'>{}</h2>").format(texts.heading)
    if not membership["active"] or membership["active_until"] is None:
        return shown + Markup("<p id='membership'>{}</p>").format(texts.lapsed)
    date = format_date(membership["active_until"], "long", locale)
    state = (texts.renews if membership["renews"] else texts.ends).format(date=date)
    benefits = [texts.earn.format(n=format_decimal(membership["multiplier"], locale=locale))]
    if membership["free_shipping"]:
        benefits.append(texts.free_shipping)
    items = Markup("").join(Markup("<li>{}</li>").format(item) for item in benefits)
    return shown + Markup("<p id='membership'>{}</p><ul>{}</ul>").format(state, items)


def _rewards(rewards: list[dict[str, Any]], texts: LoyaltyTexts, locale: Any) -> Markup:
    heading = Markup("<h2 style='font-size:1.2em'>{}</h2>").format(texts.rewards)
    if not rewards:
        return heading + Markup("<p>{}</p>").format(texts.no_rewards)
    items = Markup("").join(
        Markup(
            "<li style='margin:.5em 0'>{title}<br>{code}: <code class='code' style='font-size:"
            "1.2em;background:#f4f4f4;padding:.1em .4em'>{value}</code>{until}</li>"
        ).format(
            title=reward["title"],
            code=texts.code,
            value=reward["code"],
            until=(
                Markup(" ({})").format(
                    texts.until.format(date=format_date(reward["expires_at"], "long", locale))
                )
                if reward["expires_at"]
                else ""
            ),
        )
        for reward in rewards
    )
    return heading + Markup("<ul id='rewards' style='padding-left:1.2em'>{}</ul>").format(items)


def _history(summary: Summary, texts: LoyaltyTexts, locale: Any) -> Markup:
    heading = Markup("<h2 style='font-size:1.2em'>{}</h2>").format(texts.history)
    if not summary.history:
        return heading + Markup("<p>{}</p>").format(texts.no_history)
    row = Markup("<tr><td style='{s}'>{}</td><td style='{s}'>{}</td><td style='{s}'>{}</td></tr>")
    rows = Markup("").join(
        row.format(
            format_date(entry.at, "medium", locale),
            texts.kinds.get(entry.kind, entry.kind),
            _change(entry.points, entry.pending, locale),
            s=_CELL,
        )
        for entry in summary.history
    )
    head = row.format(texts.date, "", texts.change, s=_CELL + ";font-weight:bold")
    return heading + Markup(
        "<table id='history' style='border-collapse:collapse;width:100%'>{}{}</table>"
    ).format(head, rows)


def _change(points: int, pending: int, locale: Any) -> str:
    """`+120` for points to spend, `(+120)` for pending ones; both when an entry moves both."""
    shown = []
    if points:
        shown.append(format_decimal(points, format="+#,##0;-#,##0", locale=locale))
    if pending:
        shown.append(f"({format_decimal(pending, format='+#,##0;-#,##0', locale=locale)})")
    return " ".join(shown) or "0"


def _document(
    settings: Settings, summary: Summary, causes: list[tuple[str, str, int, int]]
) -> dict[str, Any]:
    return {
        **summary_document(summary),
        "causes": [
            {"name": name, "title": title, "points": points, "donors": donors}
            for name, title, points, donors in causes
        ],
        "page_url": loyalty_url(settings, summary.customer_id),
        "widget_url": f"{loyalty_url(settings, summary.customer_id)}/widget.json",
    }


def _cors(request: Request, settings: Settings) -> dict[str, str]:
    """Lets a browser on one of LOYALTY_WIDGET_ORIGINS read the widget's JSON; no other."""
    origin = request.headers.get("origin")
    if origin is None or origin not in settings.loyalty_widget_origin_list():
        return {}
    return {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}


@router.get("/l/{token}/widget.json")
def widget(request: Request, token: str, db: Session = Depends(db_session)) -> JSONResponse:  # noqa: B008
    settings = settings_of(request)
    headers = {**_PRIVATE, **_cors(request, settings)}
    customer_id = read_loyalty_token(settings.secret_key(), token)
    customer = db.get(Customer, customer_id) if customer_id is not None else None
    programme = _programme(settings)
    if customer is None or customer_id is None or programme is None:
        detail = (
            "this loyalty link is not valid: the shop's server gets a customer's link from"
            " POST /loyalty/statement"
            if programme is not None
            else "no loyalty programme runs"
        )
        return JSONResponse({"detail": detail}, 404, headers=headers)
    summary = summary_of(
        db, programme, customer_id, currency=settings.default_currency, now=current_time.now()
    )
    causes = donations.totals(db, programme)
    return JSONResponse(_document(settings, summary, causes), headers=headers)


class StatementAsked(BaseModel):
    """A customer the shop knows: by its platform's id, else by email address."""

    model_config = ConfigDict(extra="forbid")
    source: str = Field(default="api", max_length=32)
    id: str | None = Field(default=None, max_length=255)
    email: str | None = Field(default=None, max_length=320)


@router.post("/loyalty/statement", dependencies=[Depends(require_api_token)])
async def statement(request: Request) -> JSONResponse:
    """POST, so the address travels in the body, never in a URL an access log keeps."""
    settings = settings_of(request)
    try:
        asked = StatementAsked.model_validate(
            hygiene.loads(await read_body(request, STATEMENT_LIMIT_BYTES))
        )
    except (hygiene.NotJSON, ValidationError) as exc:
        raise HTTPException(422, f"the body: {exc}") from exc
    named = [value for value in (asked.source, asked.id, asked.email) if value is not None]
    if problem := next(filter(None, map(hygiene.text_problem, named)), None):
        raise HTTPException(422, f"the body: {problem}")
    if asked.id is None and asked.email is None:
        raise HTTPException(422, "name the customer: `id` (with its `source`) or `email`")
    programme = _programme(settings)
    if programme is None:
        raise HTTPException(404, "no loyalty programme runs: set LOYALTY_PROGRAMME")
    document = await run_in_threadpool(_statement, settings, programme, asked)
    if document is None:
        raise HTTPException(404, "no such customer")
    return JSONResponse(document, headers=_PRIVATE)


def _statement(
    settings: Settings, programme: Programme, asked: StatementAsked
) -> dict[str, Any] | None:
    with session(settings.database_url) as db:
        customer = find_customer(db, asked.source, asked.id, asked.email)
        if customer is None or customer.id is None:
            return None
        now = current_time.now()
        summary = summary_of(
            db, programme, customer.id, currency=settings.default_currency, now=now
        )
        causes = donations.totals(db, programme)
    return _document(settings, summary, causes)
