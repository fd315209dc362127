"""Unsubscribe links: a confirm page on GET; one-click POST (RFC 8058) withdraws consent."""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse
from markupsafe import escape
from sqlmodel import Session

from models import Customer, Suppression
from models.db import insert_ignoring_duplicates
from worker import timesource
from worker.tokens import read_unsubscribe_token
from worker.web.deps import db_session, settings_of

router = APIRouter()

_PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>{title}</title></head>
<body style="font-family:sans-serif;max-width:32em;margin:4em auto">{body}</body></html>"""


def _customer_id(request: Request, token: str) -> int:
    customer_id = read_unsubscribe_token(settings_of(request).secret_key(), token)
    if customer_id is None:
        raise HTTPException(404, "this unsubscribe link is not valid")
    return customer_id


@router.get("/unsubscribe/{token}", response_class=HTMLResponse)
def confirm_page(request: Request, token: str) -> str:
    _customer_id(request, token)
    shop = escape(settings_of(request).shop_name)
    form = (
        f'<form method="post"><p>Stop marketing emails from {shop}?</p>'
        '<button type="submit">Unsubscribe</button></form>'
    )
    return _PAGE.format(title="Unsubscribe", body=form)


@router.post("/unsubscribe/{token}", response_class=HTMLResponse)
def unsubscribe(request: Request, token: str, db: Session = Depends(db_session)) -> str:  # noqa: B008
    customer_id = _customer_id(request, token)
    now = timesource.now()
    customer = db.get(Customer, customer_id)
    if customer is not None:
        customer.accepts_marketing = False
        customer.consent_changed_at = now
        customer.consent_source = "unsubscribe_link"
        db.add(customer)
        # Also suppress the address: a platform that never heard of this unsubscribe may send
        # `accepts_marketing: true` again with its next event, and that must not re-subscribe.
        insert_ignoring_duplicates(
            db,
            Suppression.__table__,  # type: ignore[attr-defined]
            [{"email": customer.email, "reason": "unsubscribed", "created_at": now}],
            Suppression.__table__.c.id,  # type: ignore[attr-defined]
        )
        db.commit()
    shop = escape(settings_of(request).shop_name)
    return _PAGE.format(
        title="Unsubscribed", body=f"<p>You will get no more marketing emails from {shop}.</p>"
    )
