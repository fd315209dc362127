"""Survey answers: a score's signed link (`survey.nps[score]` in a template) opens a page that
records the answer as a `survey.answered` event, and thanks the customer in their language.

The link's page records the answer with a POST its own script sends at once (a button where
scripts do not run): mail scanners that fetch every link in an email (and so every score) answer
nothing. The first answer to a delivery's survey counts; a second click says so.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse
from markupsafe import escape
from sqlmodel import Session

from models import Customer, Delivery
from worker import current_time
from worker.canonical import CanonicalEvent
from worker.delivery.tokens import SURVEY_SCALES, SurveyToken, read_survey_token
from worker.queue import dispatch
from worker.web.deps import db_session, settings_of
from worker.web.survey_texts import texts_for

router = APIRouter()
SOURCE = "survey"

_PAGE = """<!doctype html><html lang="{lang}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width"><title>{title}</title></head>
<body style="font-family:sans-serif;max-width:32em;margin:4em auto">{body}</body></html>"""


def _answer(request: Request, token: str, score: int) -> SurveyToken:
    read = read_survey_token(settings_of(request).secret_key(), token)
    if read is None:
        raise HTTPException(404, "this survey link is not valid")
    if score not in SURVEY_SCALES[read.kind]:
        scale = SURVEY_SCALES[read.kind]
        raise HTTPException(422, f"score: {read.kind} answers are {scale.start}-{scale.stop - 1}")
    return read


def _who(db: Session, answer: SurveyToken) -> tuple[Delivery | None, Customer | None]:
    delivery = db.get(Delivery, answer.delivery_id) if answer.delivery_id else None
    customer = db.get(Customer, delivery.customer_id) if delivery is not None else None
    return delivery, customer


@router.get("/s/{token}/{score}", response_class=HTMLResponse)
def confirm_page(
    request: Request,
    token: str,
    score: int,
    db: Session = Depends(db_session),  # noqa: B008
) -> str:
    answer = _answer(request, token, score)
    _, customer = _who(db, answer)
    texts = texts_for(customer.locale if customer else None)
    form = (
        f'<form method="post" id="answer"><p>{escape(texts.your_answer)} <b>{score}</b></p>'
        f'<button type="submit">{escape(texts.send)}</button></form>'
        "<script>document.getElementById('answer').submit()</script>"
    )
    return _PAGE.format(lang=texts.lang, title=escape(texts.title), body=form)


@router.post("/s/{token}/{score}", response_class=HTMLResponse)
def record(
    request: Request,
    token: str,
    score: int,
    db: Session = Depends(db_session),  # noqa: B008
) -> str:
    answer = _answer(request, token, score)
    delivery, customer = _who(db, answer)
    texts = texts_for(customer.locale if customer else None)
    if delivery is None or customer is None:
        body = f"<p>{escape(texts.preview)}</p>"
        return _PAGE.format(lang=texts.lang, title=escape(texts.title), body=body)
    now = current_time.now()
    event = CanonicalEvent.model_validate(
        {
            "source": SOURCE,
            "id": f"{delivery.id}-{answer.kind}",
            "type": "survey.answered",
            "occurred_at": now.isoformat(),
            "customer": {"email": customer.email},
            "data": {
                "kind": answer.kind,
                "score": score,
                "delivery_id": delivery.id,
                "trigger": delivery.trigger,
            },
        }
    )
    stored = dispatch.ingest(db, [event], now=now)
    said = texts.thanks if stored.stored else texts.already
    return _PAGE.format(lang=texts.lang, title=escape(texts.title), body=f"<p>{escape(said)}</p>")
