"""The admin's page of people (`/studio/people`): who has an account, with which role, when
they last logged in; add an account, change a role, disable one.

Admins only; every form carries the session's token. The rules (no last admin demoted or
disabled, the audit line) live in worker/studio/people.py; a refusal shows its reason (422).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment
from sqlmodel import Session

from models.db import session
from worker import current_time
from worker.studio import people
from worker.studio.people import PeopleError
from worker.web.deps import settings_of
from worker.web.studio.accounts import Person, Role, check_form, form_token, require_role
from worker.web.studio.chrome import STYLE, logout_form, who_bar

router = APIRouter(prefix="/studio")
Admin = Annotated[Person, Depends(require_role(Role.ADMIN))]
Field = Annotated[str, Form(max_length=320)]
Token = Annotated[str, Form(max_length=64)]


@router.get("/people", response_class=HTMLResponse)
def people_page(request: Request, person: Admin) -> HTMLResponse:
    return HTMLResponse(_page(request, person))


@router.post("/people/add", response_class=HTMLResponse)
def add(
    request: Request,
    person: Admin,
    email: Field,
    role: Annotated[str, Form(max_length=16)],
    password: Annotated[str, Form(max_length=1000)],
    token: Token = "",
) -> HTMLResponse:
    def change(db: Session, now: datetime) -> str:
        chosen = people.parse_role(role)
        account = people.add(db, email, role=chosen, password=password, actor=person.email, now=now)
        return f"{account.email} can now log in as {account.role}."

    return _changed(request, person, token, change)


@router.post("/people/role", response_class=HTMLResponse)
def change_role(
    request: Request,
    person: Admin,
    email: Field,
    role: Annotated[str, Form(max_length=16)],
    token: Token = "",
) -> HTMLResponse:
    def change(db: Session, now: datetime) -> str:
        chosen = people.parse_role(role)
        account = people.set_role(db, email, chosen, actor=person.email, now=now)
        return f"{account.email} is now {account.role}."

    return _changed(request, person, token, change)


@router.post("/people/disable", response_class=HTMLResponse)
def disable(request: Request, person: Admin, email: Field, token: Token = "") -> HTMLResponse:
    def change(db: Session, now: datetime) -> str:
        account = people.disable(db, email, actor=person.email, now=now)
        return f"{account.email} can no longer log in."

    return _changed(request, person, token, change)


def _changed(
    request: Request,
    person: Person,
    token: str,
    change: Callable[[Session, datetime], str],
) -> HTMLResponse:
    """The change made and committed with its audit line, then the page saying so; or the
    page with the refusal (422) and nothing changed."""
    settings = settings_of(request)
    now = current_time.now()
    check_form(request, settings, token, now)
    with session(settings.database_url) as db:
        try:
            said = change(db, now)
        except PeopleError as exc:
            db.rollback()
            return HTMLResponse(_page(request, person, error=str(exc)), status_code=422)
        db.commit()
    return HTMLResponse(_page(request, person, notice=said))


def _page(
    request: Request, person: Person, *, notice: str | None = None, error: str | None = None
) -> str:
    settings = settings_of(request)
    with session(settings.database_url) as db:
        everyone = people.accounts(db)
    token = form_token(request, settings, current_time.now())
    return _PEOPLE.render(
        style=STYLE,
        who=who_bar(person),
        logout=logout_form(token),
        people=everyone,
        roles=[role.value for role in Role],
        token=token,
        notice=notice,
        error=error,
        minimum=people.MIN_PASSWORD_LENGTH,
    )


_PEOPLE = Environment(autoescape=True).from_string(
    """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Ladder studio · people</title>
<style>{{ style }}</style></head>
<body>{{ who }}{{ logout }}
<h2>People</h2>
<p><a href="/studio/preview">Back to the preview</a></p>
{% if notice %}<div class="sent" id="notice">{{ notice }}</div>{% endif %}
{% if error %}<div class="warnings" id="error" role="alert">{{ error }}</div>{% endif %}
<table id="people"><tr><th>E-mail</th><th>Role</th><th>Last login</th><th>Change</th></tr>
{% for account in people %}
<tr data-email="{{ account.email }}"><td>{{ account.email }}</td>
<td class="role">{{ account.role if account.is_active else "disabled" }}</td>
<td>{{ account.last_login_at.strftime("%Y-%m-%d %H:%M") if account.last_login_at
 else "never" }}</td>
<td>{% if account.is_active %}
<form method="post" action="/studio/people/role">
<input type="hidden" name="token" value="{{ token }}">
<input type="hidden" name="email" value="{{ account.email }}">
<select name="role" aria-label="role of {{ account.email }}">{% for role in roles %}
<option{{ " selected" if role == account.role else "" }}>{{ role }}</option>{% endfor %}
</select><button type="submit">Change role</button></form>
<form method="post" action="/studio/people/disable">
<input type="hidden" name="token" value="{{ token }}">
<input type="hidden" name="email" value="{{ account.email }}">
<button type="submit">Disable</button></form>
{% endif %}</td></tr>
{% endfor %}
</table>
<h3>Add a person</h3>
<form method="post" action="/studio/people/add" id="add-form">
<input type="hidden" name="token" value="{{ token }}">
<label>E-mail<input name="email" type="email" required></label>
<label>Role<select name="role">{% for role in roles %}<option>{{ role }}</option>{% endfor %}
</select></label>
<label>Password ({{ minimum }}+ characters)<input name="password" type="password" required
 minlength="{{ minimum }}" autocomplete="new-password"></label>
<button type="submit">Add</button>
</form>
<p class="hint">Give the password to the person by a channel other than e-mail; they keep it.</p>
</body></html>
"""
)
