"""The studio's editor over HTTP: open a file, save a draft the checks pass or refuse at a
line, preview it, publish it, see its diff, roll it back, make a new file from it."""

from __future__ import annotations

import email
import email.policy
import html
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlmodel import Session

from models import Customer, Event, EventStatus
from tests.support.studio import add_person, log_in
from tests.support.web import TestClient
from worker.runtime import Runtime
from worker.settings import PROJECT_ROOT
from worker.studio.people import Role
from worker.web import create_app

SPANISH = "win_back/default.es.html.j2"


MARIA = "maria@shop.example"  # who publishes the shop's emails


@pytest.fixture
def client(runtime: Runtime) -> TestClient:
    """Maria, a publisher, logged in to the studio."""
    add_person(runtime.settings.database_url, MARIA, Role.PUBLISHER)
    client = TestClient(create_app(runtime.settings))
    assert log_in(client, MARIA).status_code == 303
    return client


def token_of(page: str) -> str:
    found = re.search(r'name="token" value="([^"]+)"', page)
    assert found, "the page carries no form token"
    return found[1]


def textarea_of(page: str) -> str:
    found = re.search(r'<textarea name="body"[^>]*>(.*?)</textarea>', page, re.S)
    assert found
    return found[1]


def save(client: TestClient, path: str, body: str, token: str) -> str:
    answer = client.post(
        "/studio/edit",
        data={"kind": "template", "path": path, "body": body, "token": token, "note": "test"},
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text
    return str(answer.headers["location"])


def test_a_marketer_changes_the_spanish_subject_and_publishes_it(client: TestClient) -> None:
    files = client.get("/studio/files")
    assert files.status_code == 200
    assert f'path={SPANISH}">{SPANISH}</a>' in files.text

    opened = client.get("/studio/edit", params={"kind": "template", "path": SPANISH})
    assert opened.status_code == 200
    original = PROJECT_ROOT.joinpath("templates", SPANISH).read_text(encoding="utf-8")
    subject = re.search(r"{% block subject %}(.*?){% endblock %}", original)
    assert subject
    assert 'id="subject">' in opened.text  # the preview of the file as it is
    assert "Only the file in git" in opened.text
    changed = original.replace(subject[1], "¡Te echamos de menos, {{ customer.first_name }}!")

    where = save(client, SPANISH, changed, token_of(opened.text))
    assert where.endswith("version=2&done=saved")
    draft = client.get(where)
    assert "It passed every check" in draft.text
    assert "¡Te echamos de menos," in draft.text  # in the preview's subject
    assert 'id="publish"' in draft.text

    published = client.post(
        "/studio/publish",
        data={"kind": "template", "path": SPANISH, "number": "2", "token": token_of(draft.text)},
    )
    assert published.status_code == 200
    assert "Version 2 is live" in published.text
    assert 'id="publish"' not in published.text
    listed = client.get("/studio/files").text
    row = re.search(rf"{re.escape(SPANISH)}</a></td>\s*<td>(.*?)</td>", listed)
    assert row and row[1] == "v2"

    diff = client.get("/studio/diff", params={"kind": "template", "path": SPANISH, "version": 2})
    assert '<span class="add">+{% block subject %}¡Te echamos de menos' in diff.text

    back = client.post(
        "/studio/publish",
        data={"kind": "template", "path": SPANISH, "number": "1", "token": token_of(draft.text)},
    )
    assert "Version 1 is live" in back.text
    assert textarea_of(back.text) != textarea_of(draft.text)


def test_a_broken_draft_is_kept_with_its_problem_at_its_line_and_cannot_be_published(
    client: TestClient,
) -> None:
    opened = client.get("/studio/edit", params={"kind": "template", "path": SPANISH})
    original = PROJECT_ROOT.joinpath("templates", SPANISH).read_text(encoding="utf-8")
    lines = original.splitlines()
    lines.insert(5, "{% if customer.first_name %}")
    where = save(client, SPANISH, "\n".join(lines) + "\n", token_of(opened.text))
    assert where.endswith("done=refused")
    page = client.get(where).text
    assert "problem(s) to fix before it can be published" in page
    assert re.search(rf"{re.escape(SPANISH)}:\d+: .*endif", page), page
    assert 'data-line="' in page
    assert 'id="publish"' not in page
    forced = client.post(
        "/studio/publish",
        data={"kind": "template", "path": SPANISH, "number": "2", "token": token_of(page)},
    )
    assert forced.status_code == 422
    assert "has problems" in forced.text


def test_a_new_language_is_made_from_an_existing_variant(client: TestClient) -> None:
    opened = client.get("/studio/edit", params={"kind": "template", "path": SPANISH})
    answer = client.post(
        "/studio/copy",
        data={
            "kind": "template",
            "path": SPANISH,
            "number": "1",
            "new_path": "win_back/default.pt.html.j2",
            "token": token_of(opened.text),
        },
    )
    assert answer.status_code == 200
    assert "Created as a draft (version 1)" in answer.text
    assert 'id="path">win_back/default.pt.html.j2<' in answer.text
    listed = client.get("/studio/files").text
    assert "win_back/default.pt.html.j2" in listed
    assert "not published" in listed


@pytest.mark.parametrize("path", ["../settings.py", "/etc/passwd", "win_back/x.py"])
def test_a_path_outside_the_templates_is_refused(client: TestClient, path: str) -> None:
    answer = client.get("/studio/edit", params={"kind": "template", "path": path})
    assert answer.status_code == 422


def test_a_form_without_its_token_is_refused(client: TestClient) -> None:
    answer = client.post(
        "/studio/edit", data={"kind": "template", "path": SPANISH, "body": "x", "token": ""}
    )
    assert answer.status_code == 403


def test_the_editor_assets_are_served_by_ladder(client: TestClient) -> None:
    for name, kind in [("codemirror.js", "javascript"), ("studio.css", "css")]:
        answer = client.get(f"/studio/static/{name}")
        assert answer.status_code == 200
        assert kind in answer.headers["content-type"]
    assert client.get("/studio/static/CODEMIRROR-LICENSE").status_code == 404
    assert client.get("/studio/static/..%2Feditor.py").status_code == 404


def test_a_draft_is_sent_as_a_test_to_the_marketer_and_nowhere_else(
    client: TestClient, runtime: Runtime
) -> None:
    opened = client.get("/studio/edit", params={"kind": "template", "path": SPANISH})
    original = PROJECT_ROOT.joinpath("templates", SPANISH).read_text(encoding="utf-8")
    changed = re.sub(
        r"{% block subject %}.*?{% endblock %}",
        "{% block subject %}Prueba de borrador{% endblock %}",
        original,
        count=1,
    )
    draft = client.get(save(client, SPANISH, changed, token_of(opened.text)))
    answer = client.post(
        "/studio/test-send",
        data={
            "kind": "template",
            "path": SPANISH,
            "number": "2",
            "to": "maria@shop.example",
            "token": token_of(draft.text),
        },
    )
    assert answer.status_code == 200
    assert "A test of version 2 was sent to maria@shop.example" in answer.text
    [sent] = Path(runtime.settings.outbox_dir).glob("*.eml")
    message = email.message_from_bytes(sent.read_bytes(), policy=email.policy.default)
    assert message["To"] == "maria@shop.example"
    assert message["Subject"] == "[test] Prueba de borrador"
    assert 'id="sent"' not in answer.text  # a test is no delivery

    refused = client.post(
        "/studio/test-send",
        data={"kind": "template", "path": SPANISH, "number": "2", "to": "not an address",
              "token": token_of(draft.text)},
    )  # fmt: skip
    assert refused.status_code == 422
    assert "is not an e-mail address" in refused.text


def test_the_page_repeats_back_only_an_address_from_its_link(client: TestClient) -> None:
    forged = client.get(
        "/studio/edit",
        params={"kind": "template", "path": SPANISH, "done": "tested", "to": "Call 555-0100"},
    )
    assert "Call 555-0100" not in forged.text


def test_the_preview_says_which_file_the_chain_picks_and_why(client: TestClient) -> None:
    page = client.get(
        "/studio/edit",
        params={"kind": "template", "path": SPANISH, "segment": "loyal", "locale": "es_MX"},
    ).text
    found = re.search(r'id="chain">(.*?)</span>', page, re.S)
    assert found
    chain = " ".join(re.sub(r"<[^>]+>", "", found[1]).split())
    assert chain == (
        "For sample (segment loyal, language es_MX) the fallback chain looks for"
        " loyal.es_MX.html.j2 (none) → default.es_MX.html.j2 (none) → loyal.es.html.j2 (none)"
        " → default.es.html.j2 ✓: it sends win_back/default.es.html.j2."
    )


@pytest.mark.commits  # the web process reads the customers through its own session
def test_the_preview_finds_a_customer_by_name(client: TestClient, db: Session) -> None:
    now = datetime.now(UTC)
    people = [("Lucía", "lucia@example.com"), ("Pilar", "pilar1@example.com"),
              ("Pilar", "pilar2@example.com")]  # fmt: skip
    for first, address in people:
        customer = Customer(
            email=address, first_name=first, last_name="García", locale="es", created_at=now
        )
        db.add(customer)
        db.flush()
        event = Event(
            source="api", source_event_id=f"e-{address}", type="customer.created",
            customer_id=customer.id, occurred_at=now, received_at=now, payload={},
            status=EventStatus.PROCESSED,
        )  # fmt: skip
        db.add(event)
    db.commit()
    found = client.get(
        "/studio/edit", params={"kind": "template", "path": SPANISH, "customer": "lucía garcía"}
    ).text
    assert "For lucia@example.com" in found
    several = client.get(
        "/studio/edit", params={"kind": "template", "path": SPANISH, "customer": "Pilar"}
    ).text
    assert (
        "several customers are named &#39;Pilar&#39; (pilar1@example.com, pilar2@example.com)"
        in several
    )
    nobody = client.get(
        "/studio/edit", params={"kind": "template", "path": SPANISH, "customer": "Nadie"}
    ).text
    assert "no customer is named &#39;Nadie&#39;" in nobody


def test_a_layout_is_previewed_inside_a_message(client: TestClient) -> None:
    page = client.get(
        "/studio/edit",
        params={"kind": "template", "path": "layouts/base.html.j2", "message": "thank_you"},
    ).text
    assert 'id="message"' in page
    assert "<option selected>thank_you</option>" in page
    assert re.search(r'id="variant">thank_you/default\.html\.j2<', page)


def test_a_text_is_checked_as_it_is_typed_and_nothing_is_saved(client: TestClient) -> None:
    opened = client.get("/studio/edit", params={"kind": "template", "path": SPANISH})
    original = PROJECT_ROOT.joinpath("templates", SPANISH).read_text(encoding="utf-8")
    typed = original.replace("{% block body %}", "{% block body %}\n{% for x in y %}", 1)
    answer = client.post(
        "/studio/check",
        data={"kind": "template", "path": SPANISH, "body": typed, "token": token_of(opened.text)},
    )
    assert answer.status_code == 200
    found = answer.json()
    assert any("opened here is never closed: add {% endfor %}" in p for p in found["problems"])
    assert "6" in found["lines"]
    assert client.get("/studio/files").text.count("draft v") == 0  # nothing was saved
    forged = client.post("/studio/check", data={"kind": "template", "path": SPANISH, "body": "x"})
    assert forged.status_code == 403


@pytest.mark.commits  # the accounts are the web process's to read
@pytest.mark.parametrize(
    ("role", "can_save", "can_publish"),
    [(Role.VIEWER, False, False), (Role.EDITOR, True, False), (Role.PUBLISHER, True, True)],
)
def test_each_role_does_what_it_may(
    runtime: Runtime, role: Role, can_save: bool, can_publish: bool
) -> None:
    add_person(runtime.settings.database_url, "kim@shop.example", role)
    client = TestClient(create_app(runtime.settings))
    log_in(client, "kim@shop.example")
    opened = client.get("/studio/edit", params={"kind": "template", "path": SPANISH})
    assert opened.status_code == 200  # every role may read
    assert ('id="save"' in opened.text) is can_save
    assert ("readonly" in opened.text) is not can_save
    text = html.unescape(textarea_of(opened.text))
    saved = client.post(
        "/studio/edit",
        data={"kind": "template", "path": SPANISH, "body": text + "\n",
              "token": token_of(opened.text)},
        follow_redirects=False,
    )  # fmt: skip
    assert saved.status_code == (303 if can_save else 403)
    if not can_save:
        assert "this needs the editor role and yours is viewer" in saved.text
        return
    draft = client.get(saved.headers["location"])
    assert ('id="publish"' in draft.text) is can_publish
    published = client.post(
        "/studio/publish",
        data={"kind": "template", "path": SPANISH, "number": "2", "token": token_of(draft.text)},
        follow_redirects=False,
    )
    assert published.status_code == (303 if can_publish else 403)


def test_a_visitor_without_a_session_is_sent_to_the_login(runtime: Runtime) -> None:
    client = TestClient(create_app(runtime.settings))
    add_person(runtime.settings.database_url, MARIA, Role.PUBLISHER)
    answer = client.get("/studio/files", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/studio/login?next=%2Fstudio%2Ffiles"
    checked = client.post("/studio/check", data={"kind": "template", "path": SPANISH, "body": "x"})
    assert checked.status_code == 401


def test_the_preview_page_shows_what_the_studio_published(client: TestClient) -> None:
    opened = client.get("/studio/edit", params={"kind": "template", "path": SPANISH})
    original = PROJECT_ROOT.joinpath("templates", SPANISH).read_text(encoding="utf-8")
    changed = re.sub(
        r"{% block subject %}.*?{% endblock %}",
        "{% block subject %}Vuelve pronto{% endblock %}",
        original,
        count=1,
    )
    draft = client.get(save(client, SPANISH, changed, token_of(opened.text)))
    before = client.get("/studio/preview/version").text
    client.post(
        "/studio/publish",
        data={"kind": "template", "path": SPANISH, "number": "2", "token": token_of(draft.text)},
    )
    assert client.get("/studio/preview/version").text != before  # the open page reloads
    page = client.get(
        "/studio/preview", params={"message": "win_back", "segment": "default", "locale": "es"}
    )
    assert 'id="subject">Vuelve pronto<' in page.text
