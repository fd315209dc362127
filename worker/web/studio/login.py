"""The studio's login page (`GET`/`POST /studio/login`) and `POST /studio/logout`.

One message for an unknown e-mail and a wrong password, so the page tells nobody who has an
account; too many failures answer 429 with Retry-After (worker/studio/logins.py counts them).
"""

from __future__ import annotations

import math
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment

from models.db import session
from worker import current_time
from worker.settings import Settings
from worker.studio import logins, sessions
from worker.web import forms
from worker.web.studio.accounts import (
    COOKIE,
    Person,
    Role,
    check_form,
    clear_session_cookie,
    require_role,
    require_studio,
    safe_next,
    set_session_cookie,
)
from worker.web.studio.chrome import STYLE

router = APIRouter(prefix="/studio")
_LOGIN_FORM = b"studio-login:v1:"
WRONG = "That e-mail and password do not match an account. Check both and try again."


@router.get("/login", response_class=HTMLResponse)
def login_page(
    settings: Annotated[Settings, Depends(require_studio)],
    next: Annotated[str, Query(max_length=2000)] = "",
    out: Annotated[bool, Query()] = False,
) -> HTMLResponse:
    notice = "You have logged out." if out else None
    return HTMLResponse(_page(settings, next=next, notice=notice))


@router.post("/login", response_class=HTMLResponse)
def log_in(
    request: Request,
    settings: Annotated[Settings, Depends(require_studio)],
    email: Annotated[str, Form(max_length=320)] = "",
    password: Annotated[str, Form(max_length=1000)] = "",
    next: Annotated[str, Form(max_length=2000)] = "",
    token: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    """A session cookie and on to `next` (a studio page), or the form again saying why not."""
    now = current_time.now()
    forms.check_form(request, settings.secret_key(), "login", token, now, purpose=_LOGIN_FORM)
    client = request.client.host if request.client else ""
    with session(settings.database_url) as db:
        outcome = logins.log_in(db, email=email, password=password, client=client, now=now)
        db.commit()  # a failure is a row too: the rate limit counts it
    if isinstance(outcome, logins.TooManyAttempts):
        minutes = math.ceil(outcome.retry_after_s / 60)
        said = f"Too many failed logins. Wait {minutes} minutes, then try again."
        page = _page(settings, next=next, email=email, error=said)
        return HTMLResponse(
            page, status_code=429, headers={"Retry-After": str(outcome.retry_after_s)}
        )
    if isinstance(outcome, logins.WrongLogin):
        return HTMLResponse(_page(settings, next=next, email=email, error=WRONG), status_code=401)
    answer = RedirectResponse(safe_next(next), status_code=303)
    set_session_cookie(answer, settings, outcome.token)
    return answer


@router.post("/logout")
def log_out(
    request: Request,
    settings: Annotated[Settings, Depends(require_studio)],
    _person: Annotated[Person, Depends(require_role(Role.VIEWER))],
    token: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    """Ends this session (its row goes), then the login page."""
    check_form(request, settings, token, current_time.now())
    with session(settings.database_url) as db:
        sessions.end(db, request.cookies.get(COOKIE, ""))
        db.commit()
    answer = RedirectResponse("/studio/login?out=1", status_code=303)
    clear_session_cookie(answer, settings)
    return answer


def _page(
    settings: Settings,
    *,
    next: str,
    email: str = "",
    error: str | None = None,
    notice: str | None = None,
) -> str:
    return _LOGIN.render(
        style=STYLE,
        next=safe_next(next),
        email=email,
        error=error,
        notice=notice,
        shop=settings.shop_name,
        token=forms.form_token(
            settings.secret_key(), "login", current_time.now(), purpose=_LOGIN_FORM
        ),
    )


_LOGIN = Environment(autoescape=True).from_string(
    """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Ladder studio · log in</title>
<style>{{ style }}
main { max-width: 360px; margin: 64px auto; background: #fff; border: 1px solid #ddd;
  padding: 24px; }
main form { flex-direction: column; align-items: stretch; }
</style></head>
<body><main>
<h2>Ladder studio</h2>
<p>Log in to edit and preview the emails of {{ shop }}.</p>
{% if notice %}<div class="sent" id="notice">{{ notice }}</div>{% endif %}
{% if error %}<div class="warnings" id="error" role="alert">{{ error }}</div>{% endif %}
<form method="post" action="/studio/login" id="login-form">
<input type="hidden" name="token" value="{{ token }}">
<input type="hidden" name="next" value="{{ next }}">
<label>E-mail<input name="email" id="email" type="email" required autocomplete="username"
 value="{{ email }}" autofocus></label>
<label>Password<input name="password" id="password" type="password" required
 autocomplete="current-password"></label>
<button type="submit" id="log-in">Log in</button>
</form>
<p class="hint">No account yet? An admin adds one on the People page, or on the server:
<code>ladder users add you@example.com --role editor</code>.</p>
</main></body></html>
"""
)
