"""Who is using the studio: `require_role(role)`, the dependency every studio route takes.

    person: Annotated[Person, Depends(require_role(Role.EDITOR))]

The studio is on while the database holds an active account (`ladder users add`), and 404
otherwise, as if it did not exist. A visitor without a live session is sent to the login page
(303, with `next`), or answered 401 by routes that a script calls (`api=True`); a person whose
role is too low gets 403. Forms carry a token bound to the person's session (`form_token`,
`check_form`): a page another site opens in the same browser cannot post them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import quote, urlsplit

from fastapi import HTTPException, Request, Response

from models.db import session
from worker import current_time
from worker.settings import Settings
from worker.studio import people, sessions
from worker.studio.people import Role
from worker.studio.sessions import SESSION_MAX
from worker.web import forms
from worker.web.deps import settings_of

__all__ = ["COOKIE", "Person", "Role", "require_role"]

COOKIE = "ladder_studio"
_FORMS = b"studio-form:v2:"  # v2: bound to a session, no longer to the one Basic login


@dataclass(frozen=True)
class Person:
    """The logged-in person, as a route sees them."""

    email: str
    role: Role


def studio_is_on(settings: Settings) -> bool:
    with session(settings.database_url) as db:
        return people.has_active_account(db)


def require_studio(request: Request) -> Settings:
    """404 while nobody can log in to the studio."""
    settings = settings_of(request)
    if not studio_is_on(settings):
        raise HTTPException(404, "Not Found")
    return settings


def require_role(role: Role, *, api: bool = False) -> Callable[[Request], Person]:
    """A dependency: the logged-in person if their role includes `role`.

    No session: 303 to `/studio/login?next=<this page>`, or 401 with `api=True` (for what a
    page's script fetches). A role too low: 403, naming the role needed."""

    def dependency(request: Request) -> Person:
        settings = settings_of(request)
        with session(settings.database_url) as db:
            if not people.has_active_account(db):
                raise HTTPException(404, "Not Found")
            login = sessions.lookup(db, request.cookies.get(COOKIE, ""), now=current_time.now())
            db.commit()  # the session's renewed idle time
        if login is None:
            if api:
                raise HTTPException(401, "log in to the studio first: /studio/login")
            raise HTTPException(303, "log in first", headers={"Location": login_url(request)})
        if not login.role.allows(role):
            raise HTTPException(
                403, f"this needs the {role} role and yours is {login.role}: ask an admin"
            )
        request.state.studio_session = login.digest
        return Person(email=login.email, role=login.role)

    return dependency


def login_url(request: Request) -> str:
    """The login page, coming back to this page (GET) afterwards."""
    if request.method != "GET":
        return "/studio/login"
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return "/studio/login?next=" + quote(here, safe="")


def safe_next(target: str | None) -> str:
    """`target` if it is a studio page of this site, else the preview: a login link must not
    send anyone on to another site (an open redirect)."""
    if not target or not target.startswith("/studio/") or target.startswith("//"):
        return "/studio/preview"
    if not (target.isascii() and target.isprintable()):  # a Location header holds neither
        return "/studio/preview"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or "\\" in target or target.startswith("/studio/login"):
        return "/studio/preview"
    return target


def form_token(request: Request, settings: Settings, now: datetime) -> str:
    """A token for the forms of a page shown to the person `require_role` let in."""
    return forms.form_token(settings.secret_key(), _bound_to(request), now, purpose=_FORMS)


def check_form(request: Request, settings: Settings, token: str, now: datetime) -> None:
    """403 unless `token` came from a page of this session (see worker.web.forms)."""
    forms.check_form(request, settings.secret_key(), _bound_to(request), token, now, purpose=_FORMS)


def _bound_to(request: Request) -> str:
    return str(getattr(request.state, "studio_session", "no session"))


def set_session_cookie(response: Response, settings: Settings, token: str) -> None:
    """HttpOnly (no script reads it), SameSite=Lax (no other site's POST carries it), Secure when
    the studio is served over HTTPS, and only for /studio."""
    response.set_cookie(
        COOKIE,
        token,
        max_age=int(SESSION_MAX.total_seconds()),
        path="/studio",
        httponly=True,
        samesite="lax",
        secure=urlsplit(settings.public_url).scheme == "https",
    )


def clear_session_cookie(response: Response, settings: Settings) -> None:
    response.delete_cookie(
        COOKIE,
        path="/studio",
        httponly=True,
        samesite="lax",
        secure=urlsplit(settings.public_url).scheme == "https",
    )
