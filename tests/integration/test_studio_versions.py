"""Versions in the studio: a draft checked as `ladder check` checks files, published to the
workers without a restart, recorded on each delivery, rolled back, written back for git."""

from __future__ import annotations

import email
import email.policy
import logging
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import Session

from models import Delivery
from models.studio import FileKind, StudioPublication, StudioVersion
from tests.support.deliveries import eml_name, seed_due_deliveries, write_hello_message
from worker.delivery.batches import deliver_many
from worker.rendering import published
from worker.runtime import Runtime
from worker.studio import audit, drafts, versions

T0 = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
HELLO = "hello/default.html.j2"
NEW_SUBJECT = """{% extends "layouts/base.html.j2" %}
{% block subject %}Welcome aboard, {{ customer.first_name or "friend" }}{% endblock %}
{% block body %}<p>{{ greeting }}, welcome to {{ shop.name }}.</p>{% endblock %}
"""
BROKEN = """{% extends "layouts/base.html.j2" %}
{% block subject %}Hello{% endblock %}
{% block body %}<p>{{ greeting }}, welcome to {{ shop.name }}.</p>
<p>{% if customer.first_name %}dear {{ customer.first_name }}</p>
{% endblock %}
"""


@pytest.fixture
def hello(runtime: Runtime, tmp_path: Path) -> Runtime:
    """A runtime for a one-message shop in `tmp_path`, a worker process of its own."""
    triggers_dir, templates_dir = write_hello_message(tmp_path / "shop")
    settings = runtime.settings.model_copy(
        update={"triggers_dir": triggers_dir, "templates_dir": templates_dir}
    )
    return Runtime(settings)


def subject_of(db: Session, runtime: Runtime, delivery_id: int) -> str:
    path = Path(runtime.settings.outbox_dir) / eml_name(db, delivery_id)
    parsed = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    return str(parsed["Subject"])


def save_and_publish(db: Session, runtime: Runtime, body: str, *, now: datetime) -> int:
    problems = drafts.check(db, runtime.settings, FileKind.TEMPLATE, HELLO, body)
    number = versions.save(
        db, runtime.settings, FileKind.TEMPLATE, HELLO, body,
        author="maria@shop.example", now=now, problems=problems,
    )  # fmt: skip
    versions.publish(db, FileKind.TEMPLATE, HELLO, number, by="maria@shop.example", now=now)
    db.commit()
    return number


def test_a_published_version_is_what_the_next_delivery_is_rendered_from(
    db: Session, hello: Runtime
) -> None:
    [first, second, third] = seed_due_deliveries(db, 3, now=T0)
    deliver_many(db, [first], now=T0, runtime=hello)
    assert subject_of(db, hello, first) == "Hello Ana 0"
    assert db.get_one(Delivery, first).template_version == 1  # the file, as git has it

    number = save_and_publish(db, hello, NEW_SUBJECT, now=T0)
    assert number == 2  # version 1 is the file as it was before the first save
    hello.follow(db)  # what a worker's actor does before each batch
    deliver_many(db, [second], now=T0, runtime=hello)
    assert subject_of(db, hello, second) == "Welcome aboard, Ana 1"
    db.expire_all()
    assert db.get_one(Delivery, second).template_version == 2

    versions.publish(db, FileKind.TEMPLATE, HELLO, 1, by="lee@shop.example", now=T0)
    db.commit()
    hello._look_again_at = 0.0  # a second later
    hello.follow(db)
    deliver_many(db, [third], now=T0, runtime=hello)
    assert subject_of(db, hello, third) == "Hello Ana 2"
    db.expire_all()
    assert db.get_one(Delivery, third).template_version == 1
    lines = audit.latest(db)
    assert [(line.actor, line.action, line.detail) for line in lines] == [
        ("lee@shop.example", "rollback", "version 1 (was 2)"),
        ("maria@shop.example", "publish", "version 2 (was 1)"),
    ]
    assert lines[0].subject == f"template:{HELLO}"


def test_a_worker_looks_for_publications_once_a_second(
    db: Session, hello: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = [100.0]
    monkeypatch.setattr(time, "monotonic", lambda: clock[0])
    hello.follow(db)
    assert hello.generation == 0
    save_and_publish(db, hello, NEW_SUBJECT, now=T0)
    clock[0] += 0.5
    hello.follow(db)
    assert hello.generation == 0  # looked half a second ago: not yet
    clock[0] += 0.6
    hello.follow(db)
    assert hello.generation == published.generation(db) > 0
    assert hello.renderer.published.version_of(HELLO) == 2


def test_a_draft_with_a_broken_template_names_its_line_and_cannot_be_published(
    db: Session, hello: Runtime
) -> None:
    problems = drafts.check(db, hello.settings, FileKind.TEMPLATE, HELLO, BROKEN)
    assert problems, "a draft with an unclosed {% if %} passed the checks"
    assert problems[0].startswith(f"{HELLO}:5: ")
    assert "endif" in problems[0]
    # …and the line of the mistake: the `if` opened on line 4
    assert problems[1] == f"{HELLO}:4: {{% if %}} opened here is never closed: add {{% endif %}}"
    assert drafts.lines_of(problems, HELLO).keys() == {4, 5}
    number = versions.save(
        db, hello.settings, FileKind.TEMPLATE, HELLO, BROKEN,
        author="maria@shop.example", now=T0, problems=problems,
    )  # fmt: skip
    with pytest.raises(versions.VersionError, match="has problems"):
        versions.publish(db, FileKind.TEMPLATE, HELLO, number, by="maria@shop.example", now=T0)
    [draft, original] = versions.versions(db, FileKind.TEMPLATE, HELLO)
    assert (draft.number, draft.live, draft.published_at) == (2, False, None)
    assert (original.number, original.author, original.live) == (1, "git", True)


def test_a_draft_that_reads_a_name_no_customer_has_is_refused(db: Session, hello: Runtime) -> None:
    body = NEW_SUBJECT.replace("{{ shop.name }}", "{{ custmer.first_name }}")
    problems = drafts.check(db, hello.settings, FileKind.TEMPLATE, HELLO, body)
    assert len(problems) == 1, problems  # the goals file's own problem is not the draft's
    assert problems[0].startswith(f"{HELLO}:3: ")
    assert "custmer" in problems[0]


def test_a_trigger_file_published_changes_what_the_workers_match(
    db: Session, hello: Runtime
) -> None:
    text = versions.git_text(hello.settings, FileKind.TRIGGER, "hello.toml")
    assert text is not None
    changed = text + 'wait = "3d"\n'
    problems = drafts.check(db, hello.settings, FileKind.TRIGGER, "hello.toml", changed)
    assert problems == []
    number = versions.save(
        db, hello.settings, FileKind.TRIGGER, "hello.toml", changed,
        author="maria@shop.example", now=T0, problems=problems,
    )  # fmt: skip
    versions.publish(db, FileKind.TRIGGER, "hello.toml", number, by="maria@shop.example", now=T0)
    db.commit()
    assert hello.triggers.by_name["hello"].trigger.wait == timedelta(0)
    hello.follow(db)
    assert hello.triggers.by_name["hello"].trigger.wait == timedelta(days=3)
    broken = text.replace('on = "customer.created"', 'on = "customer.creatd"')
    problems = drafts.check(db, hello.settings, FileKind.TRIGGER, "hello.toml", broken)
    assert problems and problems[0].startswith("hello.toml:3: "), problems


def test_a_publication_a_worker_cannot_load_is_logged_once_and_the_last_one_kept(
    db: Session, hello: Runtime, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Publishing checks what it publishes, but a worker of another release may read it
    otherwise: it keeps what it renders with, and says so once, not every second."""
    clock = [100.0]
    monkeypatch.setattr(time, "monotonic", lambda: clock[0])
    text = versions.git_text(hello.settings, FileKind.TRIGGER, "hello.toml")
    assert text is not None
    broken = text.replace('on = "customer.created"', 'on = "customer.creatd"')
    version = StudioVersion(
        kind=FileKind.TRIGGER, path="hello.toml", number=2, body=broken,
        author="maria@shop.example", created_at=T0,
    )  # fmt: skip
    db.add(version)
    db.flush()
    db.add(
        StudioPublication(
            kind=FileKind.TRIGGER,
            path="hello.toml",
            version_id=version.id or 0,
            number=2,
            published_by="maria@shop.example",
            published_at=T0,
        )
    )
    db.commit()

    with caplog.at_level(logging.ERROR, logger="worker.runtime"):
        for _ in range(3):
            hello.follow(db)
            clock[0] += 1.1

    refused = [r.getMessage() for r in caplog.records if "is not taken up" in r.getMessage()]
    assert len(refused) == 1, refused
    assert "customer.creatd" in refused[0]
    assert hello.generation == 0  # still the files as in git
    assert hello.triggers.by_name["hello"].trigger.on == "customer.created"


def test_diff_export_and_import_carry_versions_to_and_from_git(db: Session, hello: Runtime) -> None:
    save_and_publish(db, hello, NEW_SUBJECT, now=T0)
    changes = versions.diff(db, hello.settings, FileKind.TEMPLATE, HELLO, 2)
    assert "-{% block subject %}Hello" in changes
    assert "+{% block subject %}Welcome aboard" in changes
    file = hello.settings.templates_dir / HELLO
    assert versions.export(db, hello.settings) == [(FileKind.TEMPLATE, HELLO, 2)]
    assert file.read_text(encoding="utf-8") == NEW_SUBJECT
    assert versions.export(db, hello.settings) == []  # nothing differs any more
    file.write_text(NEW_SUBJECT.replace("aboard", "back"), encoding="utf-8")
    [(kind, path, text)] = versions.differing_files(db, hello.settings)
    assert (kind, path) == (FileKind.TEMPLATE, HELLO)
    assert "Welcome back" in text
