"""Studio accounts for tests, and logging in through the login form as a browser would."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime

import httpx

from models.db import session
from tests.support.web import TestClient
from worker.studio import people
from worker.studio.people import Role

PASSWORD = "correct horse battery staple"


def add_person(
    database_url: str, email: str, role: Role = Role.EDITOR, password: str = PASSWORD
) -> None:
    """An account, committed (the web app reads it on its own connection)."""
    with session(database_url) as db:
        people.add(db, email, role=role, password=password, actor="test", now=datetime.now(UTC))
        db.commit()


def hidden(page: str, name: str) -> str:
    """The value of the first hidden field called `name` on the page."""
    found = re.search(rf'type="hidden" name="{name}" value="([^"]*)"', page)
    assert found is not None, f"no hidden {name!r} field on the page"
    return html.unescape(found.group(1))


def log_in(
    client: TestClient, email: str, password: str = PASSWORD, *, next: str = ""
) -> httpx.Response:
    """Fills in and posts the login form; the client keeps the session cookie it gets."""
    page = client.get("/studio/login", params={"next": next} if next else None)
    assert page.status_code == 200, page.text
    form = {"email": email, "password": password, "token": hidden(page.text, "token")}
    form["next"] = hidden(page.text, "next")
    answer: httpx.Response = client.post("/studio/login", data=form, follow_redirects=False)
    return answer
