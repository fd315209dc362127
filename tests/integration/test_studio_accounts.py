"""The studio's login, sessions and roles, through the web app as a browser meets them: the
login form, the session cookie, each route's role, the rate limit, logging out."""

from __future__ import annotations

from datetime import timedelta

import pytest

from models.db import session
from tests.support.studio import PASSWORD, add_person, hidden, log_in
from tests.support.web import TestClient
from worker import current_time
from worker.runtime import Runtime
from worker.settings import Settings
from worker.studio import audit, logins
from worker.studio.people import Role
from worker.studio.sessions import SESSION_IDLE
from worker.web import create_app
from worker.web.studio.login import WRONG

pytestmark = pytest.mark.commits  # the web app reads the accounts on its own connections

ANA = "ana@shop.example"


def studio(settings: Settings, role: Role = Role.EDITOR) -> TestClient:
    add_person(settings.database_url, ANA, role)
    return TestClient(create_app(settings))


def test_a_visitor_without_a_session_is_sent_to_the_login_and_back(runtime: Runtime) -> None:
    client = studio(runtime.settings)
    page = "/studio/preview?message=win_back&locale=de"

    sent = client.get(page, follow_redirects=False)
    assert sent.status_code == 303
    assert sent.headers["location"] == (
        "/studio/login?next=%2Fstudio%2Fpreview%3Fmessage%3Dwin_back%26locale%3Dde"
    )
    assert client.get("/studio/preview/version").status_code == 401  # a script's fetch

    logged_in = log_in(client, ANA, next=page)
    assert logged_in.status_code == 303
    assert logged_in.headers["location"] == page
    assert '<code id="variant">win_back/default.de.html.j2</code>' in client.get(page).text


def test_the_session_cookie_is_http_only_lax_for_the_studio_and_secure_over_https(
    runtime: Runtime,
) -> None:
    plain = log_in(studio(runtime.settings), ANA).headers["set-cookie"]
    assert "HttpOnly" in plain and "SameSite=lax" in plain and "Path=/studio" in plain
    assert "Secure" not in plain  # PUBLIC_URL is http://localhost: no HTTPS to require
    https = runtime.settings.model_copy(update={"public_url": "https://ladder.shop.example"})
    secure = log_in(TestClient(create_app(https)), ANA).headers["set-cookie"]
    assert "Secure" in secure


@pytest.mark.parametrize(
    ("email", "password"),
    [(ANA, "not the password at all"), ("nobody@shop.example", PASSWORD)],
    ids=["wrong password", "unknown e-mail"],
)
def test_a_wrong_login_says_the_same_whoever_it_names(
    runtime: Runtime, email: str, password: str
) -> None:
    client = studio(runtime.settings)
    refused = log_in(client, email, password)
    assert refused.status_code == 401
    assert WRONG in refused.text
    assert "ladder_studio" not in refused.headers.get("set-cookie", "")
    assert client.get("/studio/preview", follow_redirects=False).status_code == 303


@pytest.mark.parametrize(
    "target", ["https://evil.example/", "//evil.example/studio/", "/elsewhere", "/studio\\x"]
)
def test_a_next_that_leaves_the_studio_lands_on_the_preview(runtime: Runtime, target: str) -> None:
    answer = log_in(studio(runtime.settings), ANA, next=target)
    assert answer.headers["location"] == "/studio/preview"


def test_a_login_posted_from_another_site_is_refused(runtime: Runtime) -> None:
    client = studio(runtime.settings)
    token = hidden(client.get("/studio/login").text, "token")
    refused = client.post(
        "/studio/login",
        data={"email": ANA, "password": PASSWORD, "token": token},
        headers={"Origin": "https://evil.example"},
        follow_redirects=False,
    )
    assert refused.status_code == 403
    assert client.get("/studio/preview", follow_redirects=False).status_code == 303


def test_a_viewer_sees_the_preview_without_the_send_button_and_may_not_send(
    runtime: Runtime,
) -> None:
    client = studio(runtime.settings, Role.VIEWER)
    log_in(client, ANA)
    page = client.get("/studio/preview", params={"message": "win_back"})
    assert page.status_code == 200
    assert 'id="subject"' in page.text
    assert 'id="send-test"' not in page.text
    token = hidden(page.text, "token")  # the logout form's: a real token of this session
    refused = client.post(
        "/studio/send-test", data={"message": "win_back", "to": ANA, "token": token}
    )
    assert refused.status_code == 403
    assert "this needs the editor role and yours is viewer" in refused.text
    assert list(runtime.settings.outbox_dir.glob("*.eml")) == []


def test_an_editor_is_refused_the_people_page(runtime: Runtime) -> None:
    client = studio(runtime.settings, Role.EDITOR)
    log_in(client, ANA)
    assert client.get("/studio/people").status_code == 403
    assert 'id="people-link"' not in client.get("/studio/preview").text


def test_logging_out_ends_the_session_for_good(runtime: Runtime) -> None:
    client = studio(runtime.settings)
    log_in(client, ANA)
    cookie = client.cookies["ladder_studio"]
    token = hidden(client.get("/studio/preview").text, "token")

    out = client.post("/studio/logout", data={"token": token}, follow_redirects=False)

    assert out.status_code == 303 and out.headers["location"] == "/studio/login?out=1"
    assert "You have logged out." in client.get("/studio/login?out=1").text
    again = TestClient(create_app(runtime.settings), cookies={"ladder_studio": cookie})
    assert again.get("/studio/preview", follow_redirects=False).status_code == 303


def test_a_logout_without_the_pages_token_is_refused(runtime: Runtime) -> None:
    client = studio(runtime.settings)
    log_in(client, ANA)
    assert client.post("/studio/logout", data={"token": ""}).status_code == 403
    assert client.get("/studio/preview", follow_redirects=False).status_code == 200


def test_a_session_left_idle_past_its_time_ends(runtime: Runtime) -> None:
    client = studio(runtime.settings)
    start = current_time.now()
    current_time.freeze(start)
    log_in(client, ANA)
    current_time.freeze(start + SESSION_IDLE - timedelta(minutes=1))
    assert client.get("/studio/preview", follow_redirects=False).status_code == 200
    # Seen a minute before it would have run out: the idle time counts from there.
    current_time.freeze(start + 2 * SESSION_IDLE - timedelta(minutes=2))
    assert client.get("/studio/preview", follow_redirects=False).status_code == 200
    current_time.freeze(start + 3 * SESSION_IDLE)
    assert client.get("/studio/preview", follow_redirects=False).status_code == 303


def test_too_many_wrong_passwords_answer_429_with_retry_after_and_are_audited(
    runtime: Runtime,
) -> None:
    client = studio(runtime.settings)
    start = current_time.now()
    current_time.freeze(start)
    for _ in range(logins.MAX_PER_EMAIL):
        assert log_in(client, ANA, "a wrong password, again").status_code == 401

    refused = log_in(client, ANA)  # the right one, too late: not even checked

    assert refused.status_code == 429
    assert refused.headers["retry-after"] == str(int(logins.WINDOW.total_seconds()))
    assert "Too many failed logins. Wait 15 minutes, then try again." in refused.text
    with session(runtime.settings.database_url) as db:
        [line] = [line for line in audit.latest(db, subject=ANA) if line.action != "account.add"]
    assert line.action == "login.refused"
    assert line.detail is not None and line.detail.startswith("5 failures for the e-mail")

    current_time.freeze(start + logins.WINDOW + timedelta(seconds=1))
    assert log_in(client, ANA).status_code == 303
