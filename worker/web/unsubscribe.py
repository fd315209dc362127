"""Unsubscribe links: a confirm page, RFC 8058 one-click POST, and a preferences page."""

from __future__ import annotations

from urllib.parse import parse_qs

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse
from markupsafe import Markup, escape
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from models import Customer
from models.db import session
from worker import current_time
from worker.delivery.tokens import UnsubscribeToken, read_unsubscribe_token
from worker.processing.preferences import MESSAGE_CLASSES, preferences_of, set_preference
from worker.web.deps import db_session, read_body, settings_of
from worker.web.pages import branded_page
from worker.web.unsubscribe_texts import Texts, texts_for

router = APIRouter()
FORM_LIMIT_BYTES = 4096


def _token(request: Request, token: str) -> UnsubscribeToken:
    read = read_unsubscribe_token(settings_of(request).secret_key(), token)
    if read is None:
        raise HTTPException(404, "this unsubscribe link is not valid")
    return read


def _page(request: Request, lang: str, title: str, body: str) -> str:
    """In the shop's page layout; `body` is HTML whose texts were escaped here."""
    return branded_page(settings_of(request), language=lang, title=title, body=Markup(body))


@router.get("/u/{token}", response_class=HTMLResponse)
@router.get("/unsubscribe/{token}", response_class=HTMLResponse)
def confirm_page(request: Request, token: str, db: Session = Depends(db_session)) -> str:  # noqa: B008
    """Changes nothing: link scanners follow GET links, only a person presses the button."""
    read = _token(request, token)
    customer = db.get(Customer, read.customer_id)
    lang, text = texts_for(customer.locale if customer else None)
    shop = settings_of(request).shop_name
    body = Markup(
        '<form method="post"><p>{question}</p>'
        '<input type="hidden" name="List-Unsubscribe" value="One-Click">'
        '<button type="submit">{button}</button></form><p><a href="/u/{token}/preferences">'
        "{preferences}</a></p>"
    ).format(
        question=text["question"][read.message_class].format(shop=shop),
        button=text["button"],
        token=token,
        preferences=text["preferences"],
    )
    return _page(request, lang, text["title"], body)


@router.post("/u/{token}", response_class=HTMLResponse)
@router.post("/unsubscribe/{token}", response_class=HTMLResponse)
def unsubscribe(request: Request, token: str, db: Session = Depends(db_session)) -> str:  # noqa: B008
    """RFC 8058 one-click: no login, no confirmation, 200. Repeating it changes nothing more."""
    read = _token(request, token)
    customer = db.get(Customer, read.customer_id)
    lang, text = texts_for(customer.locale if customer else None)
    if customer is not None:
        set_preference(
            db,
            customer,
            read.message_class,
            wanted=False,
            source="unsubscribe_link",
            now=current_time.now(),
        )
        db.commit()
    shop = settings_of(request).shop_name
    done = escape(text["done"][read.message_class].format(shop=shop))
    return _page(request, lang, text["title"], f"<p>{done}</p>")


@router.get("/u/{token}/preferences", response_class=HTMLResponse)
def preferences_page(request: Request, token: str, db: Session = Depends(db_session)) -> str:  # noqa: B008
    read = _token(request, token)
    customer = db.get(Customer, read.customer_id)
    lang, text = texts_for(customer.locale if customer else None)
    wanted = preferences_of(db, read.customer_id)
    if customer is not None and not customer.accepts_marketing:
        wanted["marketing"] = False
    boxes = Markup("").join(
        Markup(
            '<p><label><input type="checkbox" name="{name}" value="yes"{checked}> {label}'
        ).format(name=name, checked=Markup(" checked") if wanted[name] else "", label=text[name])
        + Markup("</label></p>")
        for name in MESSAGE_CLASSES
    )
    body = Markup(
        '<form method="post"><p>{intro}</p>{boxes}<button type="submit">{save}</button></form>'
    ).format(intro=text["intro"], boxes=boxes, save=text["save"])
    return _page(request, lang, text["preferences"], body)


@router.post("/u/{token}/preferences", response_class=HTMLResponse)
async def save_preferences(request: Request, token: str) -> str:
    """Each class ticked stays wanted, each one left blank is dropped."""
    read = _token(request, token)
    form = parse_qs((await read_body(request, FORM_LIMIT_BYTES)).decode("utf-8", "replace"))
    settings = settings_of(request)
    chosen = {name: name in form for name in MESSAGE_CLASSES}
    lang, text = await run_in_threadpool(_save, settings.database_url, read.customer_id, chosen)
    return _page(request, lang, text["preferences"], f"<p>{escape(text['saved'])}</p>")


def _save(database_url: str, customer_id: int, chosen: dict[str, bool]) -> tuple[str, Texts]:
    with session(database_url) as db:
        customer = db.get(Customer, customer_id)
        if customer is None:
            return texts_for(None)
        now = current_time.now()
        for name, wanted in chosen.items():
            set_preference(db, customer, name, wanted=wanted, source="preferences_page", now=now)
        if chosen["marketing"] and not customer.accepts_marketing:
            # Ticking the box on this page is the customer's own, dated consent.
            customer.accepts_marketing = True
            customer.consent_changed_at = now
            customer.consent_source = "preferences_page"
            db.add(customer)
        db.commit()
        return texts_for(customer.locale)
