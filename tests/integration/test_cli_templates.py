"""`ladder templates export|import|versions`: what the studio published, written back to the
files for git, and files changed in git loaded back as checked, published versions."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlmodel import Session
from typer.testing import CliRunner

from models.studio import FileKind
from tests.support.deliveries import write_hello_message
from worker import settings as settings_module
from worker.cli import app
from worker.rendering import published
from worker.runtime import Runtime
from worker.studio import versions

pytestmark = pytest.mark.commits  # the commands open their own sessions

T0 = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
HELLO = "hello/default.html.j2"


@pytest.fixture
def shop(
    runtime: Runtime,  # noqa: ARG001  (the test's database and outbox, in the environment)
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Path:
    """The hello shop's templates folder, which the commands read and write."""
    triggers_dir, templates_dir = write_hello_message(tmp_path / "shop")
    monkeypatch.setenv("TEMPLATES_DIR", str(templates_dir))
    monkeypatch.setenv("TRIGGERS_DIR", str(triggers_dir))
    settings_module.get_settings.cache_clear()
    return templates_dir


def test_export_writes_the_published_versions_and_import_loads_what_git_changed(
    db: Session, shop: Path
) -> None:
    settings = settings_module.get_settings()
    file = shop / HELLO
    studio_text = file.read_text(encoding="utf-8").replace("Hello", "Welcome")
    number = versions.save(
        db, settings, FileKind.TEMPLATE, HELLO, studio_text,
        author="maria@shop.example", now=T0, problems=[],
    )  # fmt: skip
    versions.publish(db, FileKind.TEMPLATE, HELLO, number, by="maria@shop.example", now=T0)
    db.commit()
    runner = CliRunner()

    done = runner.invoke(app, ["templates", "export"], env={"COLUMNS": "80"})
    assert done.exit_code == 0, done.output
    assert "templates/hello/default.html.j2" in done.output and "v2" in done.output
    assert file.read_text(encoding="utf-8") == studio_text
    again = runner.invoke(app, ["templates", "export"])
    assert "nothing written" in again.output

    file.write_text(studio_text.replace("Welcome", "Good to see you"), encoding="utf-8")
    loaded = runner.invoke(app, ["templates", "import", "--by", "dev@shop.example"])
    assert loaded.exit_code == 0, loaded.output
    assert "v3" in loaded.output and "published" in loaded.output
    live = published.live(db, FileKind.TEMPLATE)
    assert "Good to see you" in live.bodies[HELLO]
    assert live.version_of(HELLO) == 3
    db.commit()  # the read's transaction: on SQLite it holds the one writer lock

    listed = runner.invoke(app, ["templates", "versions", HELLO], env={"COLUMNS": "80"})
    assert listed.exit_code == 0, listed.output
    rows = [line for line in listed.output.splitlines() if line.lstrip("│ ").startswith("v")]
    assert len(rows) == 3, listed.output
    assert rows[0].split("│")[1].strip() == "v3" and "live" in rows[0]
    assert "git's" in rows[2]
    assert all(len(line) <= 80 for line in listed.output.splitlines())


def test_a_file_that_fails_the_checks_is_imported_as_a_draft_and_the_command_fails(
    db: Session, shop: Path
) -> None:
    settings = settings_module.get_settings()
    file = shop / HELLO
    text = file.read_text(encoding="utf-8")
    number = versions.save(
        db, settings, FileKind.TEMPLATE, HELLO, text.replace("Hello", "Hi"),
        author="maria@shop.example", now=T0, problems=[],
    )  # fmt: skip
    versions.publish(db, FileKind.TEMPLATE, HELLO, number, by="maria@shop.example", now=T0)
    db.commit()
    file.write_text(text.replace("{% endblock %}", "", 1), encoding="utf-8")
    done = CliRunner().invoke(app, ["templates", "import"])
    assert done.exit_code == 1
    assert "did not pass the checks" in done.output
    assert published.live(db, FileKind.TEMPLATE).version_of(HELLO) == 2  # still the studio's
