"""`ladder templates export|import|versions`: the studio's versions to and from the files in git.

`export` writes each published version over its file, for a commit. `import` brings files
changed in git since their last publish back in as new versions, checked as in the studio and
published unless `--draft` (a file never published is live from git already, and not touched).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from models.db import session
from models.studio import FileKind
from worker import current_time
from worker.cli.output import console, fail, table, when
from worker.settings import get_settings
from worker.studio import drafts, versions

templates_app = typer.Typer(
    help="The studio's versions of templates, triggers, broadcasts and series, to and from the"
    " files in git.",
    no_args_is_help=True,
)


@templates_app.command("export")
def export() -> None:
    """Write each published version over its file (templates/, triggers/), for git."""
    settings = get_settings()
    with session(settings.database_url) as db:
        written = versions.export(db, settings)
    if not written:
        console.print("Every file already holds its published version: nothing written.")
        return
    shown = table("Written from the studio", ["file", "version"], right=["version"])
    for kind, path, number in written:
        shown.add_row(_shown_path(kind, path), f"v{number}")
    console.print(shown)
    console.print("Review with `git diff`, then commit.", highlight=False)


@templates_app.command("import")
def import_files(
    draft: Annotated[
        bool, typer.Option("--draft", help="keep them as drafts; publish them in the studio")
    ] = False,
    by: Annotated[str, typer.Option(help="who the versions are recorded as made by")] = "cli",
) -> None:
    """Load files changed in git since their last publish as new versions, and publish them."""
    settings = get_settings()
    now = current_time.now()
    refused = 0
    shown = table("Loaded from the files", ["file", "version", "result"], right=["version"])
    with session(settings.database_url) as db:
        changed = versions.differing_files(db, settings)
        for kind, path, text in changed:
            problems = drafts.check(db, settings, kind, path, text)
            number = versions.save(
                db, settings, kind, path, text,
                author=by, now=now, problems=problems, note="imported from the files",
            )  # fmt: skip
            if problems:
                refused += 1
                result = f"draft: {problems[0]}"
            elif draft:
                result = "draft"
            else:
                versions.publish(db, kind, path, number, by=by, now=now)
                result = "published"
            db.commit()
            shown.add_row(_shown_path(kind, path), f"v{number}", result)
    if not changed:
        console.print("No file differs from its published version: nothing loaded.")
        return
    console.print(shown)
    if refused:
        fail(
            f"{refused} file(s) did not pass the checks and were kept as drafts",
            hint="Fix them (ladder check names each line) and run it again.",
        )


@templates_app.command("versions")
def list_versions(
    path: Annotated[
        str,
        typer.Argument(
            help="e.g. win_back/default.es.html.j2, win_back.toml, broadcasts/whats_new.toml"
        ),
    ],
) -> None:
    """A file's versions: who saved each, when, which is live."""
    settings = get_settings()
    kind, path = _kind_of(path)
    try:
        path = versions.clean_path(kind, path)
    except versions.VersionError as exc:
        fail(
            str(exc),
            hint="Give the path under templates/ or triggers/ (or its broadcasts/, series/).",
        )
    with session(settings.database_url) as db:
        found = versions.versions(db, kind, path)
    if not found:
        console.print(f"{path}: only the file in git (version 1).", highlight=False)
        return
    shown = table(path, ["version", "by", "when", "state", "note"], right=["version"])
    for version in found:
        shown.add_row(
            f"v{version.number}", version.author, when(version.created_at), _state(version),
            version.note or "",
        )  # fmt: skip
    console.print(shown)


def _state(version: versions.Version) -> str:
    if version.live:
        return "live"
    if version.problems:
        return "problems"
    if version.published_at is not None:
        return "published before"
    return "git's" if version.author == versions.GIT else "draft"


# Where each kind's files are shown to lie (the folders' defaults), and read from an argument.
_FOLDERS = {
    FileKind.TEMPLATE: "templates",
    FileKind.TRIGGER: "triggers",
    FileKind.BROADCAST: "triggers/broadcasts",
    FileKind.SERIES: "triggers/series",
}


def _kind_of(path: str) -> tuple[FileKind, str]:
    """A TOML file under `broadcasts/` or `series/` is a broadcast's or a series'; another
    TOML file a trigger's; the rest templates."""
    if not path.endswith(".toml"):
        return FileKind.TEMPLATE, path
    for kind, prefix in ((FileKind.BROADCAST, "broadcasts/"), (FileKind.SERIES, "series/")):
        if path.removeprefix("triggers/").startswith(prefix):
            return kind, path.removeprefix("triggers/").removeprefix(prefix)
    return FileKind.TRIGGER, path


def _shown_path(kind: FileKind, path: str) -> str:
    return str(Path(_FOLDERS[kind]) / path)
