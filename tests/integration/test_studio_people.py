"""The admin's people page: add a person, change a role, disable an account; admins only,
from the page's own forms, never leaving the studio without an admin, each change audited."""

from __future__ import annotations

import pytest

from models.db import session
from tests.support.studio import PASSWORD, add_person, hidden, log_in
from tests.support.web import TestClient
from worker.runtime import Runtime
from worker.studio import audit
from worker.studio.people import Role
from worker.web import create_app

pytestmark = pytest.mark.commits  # the web app reads the accounts on its own connections

BOSS = "boss@shop.example"
LENA = "lena@shop.example"


def admin_client(runtime: Runtime) -> tuple[TestClient, str]:
    """Logged in as the only admin; with the token of the people page's forms."""
    add_person(runtime.settings.database_url, BOSS, Role.ADMIN)
    client = TestClient(create_app(runtime.settings))
    assert log_in(client, BOSS).status_code == 303
    page = client.get("/studio/people")
    assert page.status_code == 200
    return client, hidden(page.text, "token")


def test_an_admin_adds_a_person_who_can_then_log_in_with_that_role(runtime: Runtime) -> None:
    client, token = admin_client(runtime)
    added = client.post(
        "/studio/people/add",
        data={"email": "Lena@Shop.example", "role": "viewer", "password": PASSWORD, "token": token},
    )
    assert added.status_code == 200
    assert "lena@shop.example can now log in as viewer." in added.text
    assert '<tr data-email="lena@shop.example"><td>lena@shop.example</td>' in added.text

    lena = TestClient(create_app(runtime.settings))
    assert log_in(lena, LENA).status_code == 303
    assert 'id="send-test"' not in lena.get("/studio/preview").text
    listed = client.get("/studio/people").text
    row = listed.split('data-email="lena@shop.example"', 1)[1].split("</tr>", 1)[0]
    assert "never" not in row  # her last login is shown


def test_a_role_change_takes_effect_in_the_persons_open_session(runtime: Runtime) -> None:
    client, token = admin_client(runtime)
    add_person(runtime.settings.database_url, LENA, Role.VIEWER)
    lena = TestClient(create_app(runtime.settings))
    log_in(lena, LENA)

    changed = client.post(
        "/studio/people/role", data={"email": LENA, "role": "editor", "token": token}
    )

    assert "lena@shop.example is now editor." in changed.text
    assert 'id="send-test"' in lena.get("/studio/preview", params={"message": "win_back"}).text
    with session(runtime.settings.database_url) as db:
        line = audit.latest(db, subject=LENA)[0]
    assert (line.actor, line.action, line.detail) == (BOSS, "account.role", "viewer -> editor")


def test_a_disabled_account_is_logged_out_and_cannot_log_in(runtime: Runtime) -> None:
    client, token = admin_client(runtime)
    add_person(runtime.settings.database_url, LENA, Role.EDITOR)
    lena = TestClient(create_app(runtime.settings))
    log_in(lena, LENA)

    done = client.post("/studio/people/disable", data={"email": LENA, "token": token})

    assert "lena@shop.example can no longer log in." in done.text
    assert lena.get("/studio/preview", follow_redirects=False).status_code == 303
    assert log_in(lena, LENA).status_code == 401


@pytest.mark.parametrize(
    ("path", "data"),
    [
        ("/studio/people/role", {"email": BOSS, "role": "publisher"}),
        ("/studio/people/disable", {"email": BOSS}),
    ],
    ids=["demoted", "disabled"],
)
def test_the_last_admin_can_be_neither_demoted_nor_disabled(
    runtime: Runtime, path: str, data: dict[str, str]
) -> None:
    client, token = admin_client(runtime)
    refused = client.post(path, data={**data, "token": token})
    assert refused.status_code == 422
    assert "boss@shop.example is the last admin: make another admin first" in refused.text
    assert client.get("/studio/people").status_code == 200  # still an admin


def test_an_unknown_role_or_a_short_password_is_refused_saying_what_would_do(
    runtime: Runtime,
) -> None:
    client, token = admin_client(runtime)
    form = {"email": LENA, "role": "owner", "password": PASSWORD, "token": token}
    unknown = client.post("/studio/people/add", data=form)
    assert unknown.status_code == 422
    assert "unknown role &#39;owner&#39;: choose one of viewer, editor, publisher, admin" in (
        unknown.text
    )
    short = client.post("/studio/people/add", data={**form, "role": "editor", "password": "short"})
    assert "a password needs at least 12 characters" in short.text
    assert 'data-email="lena@shop.example"' not in client.get("/studio/people").text


@pytest.mark.parametrize("headers", [{}, {"Origin": "https://evil.example"}])
def test_a_people_form_without_the_token_or_from_another_site_is_refused(
    runtime: Runtime, headers: dict[str, str]
) -> None:
    client, token = admin_client(runtime)
    form = {"email": LENA, "role": "admin", "password": PASSWORD}
    if headers:
        form["token"] = token  # the right token, from the wrong site
    refused = client.post("/studio/people/add", data=form, headers=headers)
    assert refused.status_code == 403
    assert 'data-email="lena@shop.example"' not in client.get("/studio/people").text
