"""Survey answers: a score's signed link (`survey.nps[score]` in a template) opens a page that
records the answer as a `survey.answered` event, and thanks the customer in their language.

The link's page records the answer with a POST its own script sends at once (a button where
scripts do not run): mail scanners that fetch every link in an email (and so every score) answer
nothing. The first answer to a delivery's survey counts; a second click says so.

After the answer, an optional comment box: what the customer writes there comes back as a
`survey.commented` event carrying the score they gave (a trigger may alert the shop with it).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import HTMLResponse
from markupsafe import Markup, escape
from sqlalchemy import select
from sqlmodel import Session

from models import Customer, Delivery
from models.tables import EVENTS
from worker import current_time, hygiene
from worker.canonical import CanonicalEvent
from worker.delivery.tokens import SURVEY_SCALES, SurveyToken, read_survey_token
from worker.queue import dispatch
from worker.web.deps import db_session, settings_of
from worker.web.pages import branded_page
from worker.web.survey_texts import SurveyTexts, texts_for

router = APIRouter()
SOURCE = "survey"
COMMENT_MAX_CHARS = 2000


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
    return _page(request, texts, form)


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
        return _page(request, texts, f"<p>{escape(texts.preview)}</p>")
    data = {"kind": answer.kind, "score": score}
    if not _store(db, "survey.answered", f"{delivery.id}-{answer.kind}", delivery, customer, data):
        return _page(request, texts, f"<p>{escape(texts.already)}</p>")
    box = (
        f'<p>{escape(texts.thanks)}</p><form method="post" action="{score}/comment">'
        f'<label for="comment">{escape(texts.comment)}</label><br>'
        f'<textarea id="comment" name="comment" rows="5" maxlength="{COMMENT_MAX_CHARS}"'
        ' style="width:100%"></textarea><br>'
        f'<button type="submit">{escape(texts.send_comment)}</button></form>'
    )
    return _page(request, texts, box)


@router.post("/s/{token}/{score}/comment", response_class=HTMLResponse)
def comment(
    request: Request,
    token: str,
    score: int,
    comment: Annotated[str, Form(max_length=COMMENT_MAX_CHARS * 4)] = "",
    db: Session = Depends(db_session),  # noqa: B008
) -> str:
    """The optional comment after an answer, once per survey, with the score first given."""
    answer = _answer(request, token, score)
    delivery, customer = _who(db, answer)
    texts = texts_for(customer.locale if customer else None)
    if delivery is None or customer is None:
        return _page(request, texts, f"<p>{escape(texts.preview)}</p>")
    text = comment.strip()
    if len(text) > COMMENT_MAX_CHARS:
        raise HTTPException(422, f"comment: at most {COMMENT_MAX_CHARS:,} characters")
    if problem := hygiene.text_problem(text):
        raise HTTPException(422, f"comment: {problem}")
    given = _given_score(db, f"{delivery.id}-{answer.kind}")
    if given is None:
        raise HTTPException(409, "this survey has no answer yet: choose a score first")
    if text:
        data = {"kind": answer.kind, "score": given, "comment": text}
        if not _store(db, "survey.commented", f"{delivery.id}-{answer.kind}-comment",
                      delivery, customer, data):  # fmt: skip
            return _page(request, texts, f"<p>{escape(texts.already)}</p>")
    return _page(request, texts, f"<p>{escape(texts.comment_saved)}</p>")


def _page(request: Request, texts: SurveyTexts, body: str) -> str:
    """In the shop's page layout; `body` is HTML whose texts were escaped here."""
    settings = settings_of(request)
    return branded_page(settings, language=texts.lang, title=texts.title, body=Markup(body))


def _store(
    db: Session,
    event_type: str,
    event_id: str,
    delivery: Delivery,
    customer: Customer,
    data: dict[str, object],
) -> bool:
    """Stores the customer's answer or comment as an event; False if it was there already."""
    now = current_time.now()
    event = CanonicalEvent.model_validate(
        {
            "source": SOURCE,
            "id": event_id,
            "type": event_type,
            "occurred_at": now.isoformat(),
            "customer": {"email": customer.email},
            "data": {**data, "delivery_id": delivery.id, "trigger": delivery.trigger},
        }
    )
    return bool(dispatch.ingest(db, [event], now=now).stored)


def _given_score(db: Session, answer_id: str) -> int | None:
    """The score of a survey's first answer (the one that counts), or None before it."""
    payload = db.scalar(
        select(EVENTS.c.payload).where(
            EVENTS.c.source == SOURCE, EVENTS.c.source_event_id == answer_id
        )
    )
    score = ((payload or {}).get("data") or {}).get("score")
    return score if isinstance(score, int) else None
