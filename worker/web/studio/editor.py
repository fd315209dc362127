"""Editing in the browser: the files, a file's editor with what the checks say at each line,
its preview, its versions with their diffs, publishing and rolling back.

Every form is a POST with the studio's CSRF token, answered by a redirect to the page that
shows its result (a reload never saves or publishes twice). Checks run when a draft is saved.
"""

from __future__ import annotations

import json
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, HTTPException, Query
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from sqlmodel import Session

from models.db import session
from models.studio import FileKind
from worker import current_time
from worker.authoring import proofs
from worker.providers import DeliveryError
from worker.rendering.published import live
from worker.rendering.renderer import Renderer
from worker.runtime import Runtime
from worker.settings import Settings
from worker.studio import broadcasting, drafts, previews, recent, versions
from worker.studio.versions import VersionError
from worker.web.studio.accounts import Role
from worker.web.studio.chrome import Seen, seen_by
from worker.web.studio.pages import page
from worker.web.studio.preview import LANGUAGES, SEGMENT_NAMES

router = APIRouter(prefix="/studio")

Kind = Annotated[FileKind, Form()]
Path_ = Annotated[str, Form(max_length=255)]
Token = Annotated[str, Form(max_length=64)]


Editing = Seen  # a viewer reads, an editor saves, checks, tests and copies, a publisher publishes
viewing, editing = seen_by(Role.VIEWER), seen_by(Role.EDITOR)
publishing = seen_by(Role.PUBLISHER)
checking = seen_by(Role.EDITOR, api=True)  # fetched by the editor's script: 401, no redirect


@router.get("/files", response_class=HTMLResponse)
def files(who: Annotated[Editing, Depends(viewing)]) -> str:
    """Every message with its variants, the shared layouts and partials, the trigger files:
    each with its live version and whether a newer draft waits."""
    settings = who.settings
    with session(settings.database_url) as db:
        rows = {kind: _rows(db, settings, kind) for kind in FileKind}
    return page("files.html", title="Emails and triggers", rows=rows, notice=None, **who.chrome())


def _rows(db: Session, settings: Settings, kind: FileKind) -> list[tuple[str, int, int]]:
    """(path, live version, newest version) of each file of `kind`, git's and the studio's;
    0 live: a file only the studio has, never published. Two statements for all of them."""
    in_git = set(versions.checkout_files(settings, kind))
    newest = versions.newest_numbers(db, kind)
    published = live(db, kind)
    return [
        (path, published.numbers.get(path, 1 if path in in_git else 0), newest.get(path, 1))
        for path in sorted(in_git | set(newest))
    ]


# What a redirect after a form says, by the form's outcome: fixed words, so that a link from
# elsewhere cannot make the studio say something of its choosing.
DONE = {
    "saved": "Version {number} saved as a draft. It passed every check: it can be published.",
    "refused": "Version {number} saved as a draft, with {problems} problem(s) to fix before it "
    "can be published: see them at their lines.",
    "published": "Version {number} is live: the workers send it from now on.",
    "copied": "Created as a draft (version {number}): change it, save it, publish it.",
    "tested": "A test of version {number} was sent to {to}, marked [test]: it counts in no "
    "budget and no report.",
}


@router.get("/edit", response_class=HTMLResponse)
def edit_page(
    who: Annotated[Editing, Depends(viewing)],
    kind: Annotated[FileKind, Query()],
    path: Annotated[str, Query(max_length=255)],
    version: Annotated[int | None, Query(ge=1)] = None,
    segment: Annotated[str | None, Query(max_length=32)] = None,
    locale: Annotated[str | None, Query(max_length=35)] = None,
    customer: Annotated[str, Query(max_length=320)] = "",
    done: Annotated[str, Query(max_length=16)] = "",
    to: Annotated[str, Query(max_length=320)] = "",
    message: Annotated[str | None, Query(max_length=64)] = None,
) -> str:
    """The file in the editor (its newest version unless one is asked for), the problems the
    checks found in it at their lines, its preview and its versions."""
    return _edit(
        who, kind, path, version, segment, locale, customer, message=message, done=done, to=to
    )  # fmt: skip


def _edit(
    who: Editing,
    kind: FileKind,
    path: str,
    version: int | None,
    segment: str | None = None,
    locale: str | None = None,
    customer: str = "",
    *,
    message: str | None = None,
    done: str = "",
    refused: str | None = None,
    to: str = "",
) -> str:
    settings = who.settings
    path = _clean(kind, path)
    with session(settings.database_url) as db:
        saved = versions.versions(db, kind, path)
        number = version or (saved[0].number if saved else 1)
        try:
            text = versions.text_of(db, settings, kind, path, number)
        except VersionError as exc:
            raise HTTPException(404, str(exc)) from exc
        shown = next((v for v in saved if v.number == number), None)
        problems = list(shown.problems) if shown else []
        preview = previews.preview_version(
            db, settings, kind, path, text,
            message=message, segment=segment, locale=locale, customer=customer,
        )  # fmt: skip
        sent = recent.sent_from(db, path) if kind is FileKind.TEMPLATE else []
    lines = drafts.lines_of(problems, path)
    notice: tuple[bool, str] | None = None
    if refused is not None:
        notice = (False, refused)
    elif done in DONE and (done != "tested" or recent.is_address(to)):
        said = DONE[done].format(number=number, problems=len(problems), to=to)
        notice = (done != "refused", said)
    return page(
        "edit.html",
        title=path,
        kind=kind.value,
        path=path,
        text=text,
        number=number,
        shown=shown,
        saved=saved,
        problems=problems,
        lines=lines,
        marks=json.dumps({str(line): found for line, found in lines.items()}),
        publishable=shown is not None and not shown.live and not shown.problems,
        preview=preview,
        messages=Renderer(settings.templates_dir, settings.default_locale).messages(),
        segments=SEGMENT_NAMES,
        languages=sorted({*LANGUAGES, settings.default_locale}),
        segment=segment or "",
        locale=locale or "",
        customer=customer,
        sent=sent,
        notice=notice,
        can_edit=who.may(Role.EDITOR),
        can_publish=who.may(Role.PUBLISHER),
        **who.chrome(),
    )


@router.post("/check")
def check_text(
    who: Annotated[Editing, Depends(checking)],
    kind: Kind,
    path: Path_,
    body: Annotated[str, Form(max_length=versions.MAX_BODY_CHARS)],
    token: Token = "",
) -> JSONResponse:
    """The checks of a save, while the marketer types: what the text would bring, by line.
    Nothing is stored."""
    settings = who.settings
    who.check(token)
    path = _clean(kind, path)
    with session(settings.database_url) as db:
        problems = drafts.check(db, settings, kind, path, body.replace("\r\n", "\n"))
    lines = drafts.lines_of(problems, path)
    return JSONResponse({"problems": problems, "lines": {str(k): v for k, v in lines.items()}})


@router.post("/edit")
def save_draft(
    who: Annotated[Editing, Depends(editing)],
    kind: Kind,
    path: Path_,
    body: Annotated[str, Form(max_length=versions.MAX_BODY_CHARS)],
    token: Token = "",
    note: Annotated[str, Form(max_length=500)] = "",
) -> RedirectResponse:
    """Checks the text as `ladder check` would and keeps it as the file's next version."""
    settings, now = who.settings, current_time.now()
    who.check(token)
    path = _clean(kind, path)
    body = body.replace("\r\n", "\n")  # a browser sends a textarea's lines with CR LF
    with session(settings.database_url) as db:
        problems = drafts.check(db, settings, kind, path, body)
        number = versions.save(
            db, settings, kind, path, body,
            author=who.person.email, now=now, problems=problems, note=note.strip() or None,
        )  # fmt: skip
        db.commit()
    return _back(kind, path, number, "refused" if problems else "saved")


@router.post("/publish")
def publish(
    who: Annotated[Editing, Depends(publishing)],
    kind: Kind,
    path: Path_,
    number: Annotated[int, Form(ge=1)],
    token: Token = "",
) -> Response:
    """Makes a version live: every worker renders it within seconds. An older one: a rollback."""
    settings, now = who.settings, current_time.now()
    who.check(token)
    path = _clean(kind, path)
    with session(settings.database_url) as db:
        try:
            versions.publish(db, kind, path, number, by=who.person.email, now=now)
            db.commit()
        except VersionError as exc:
            refused = str(exc)
        else:
            return _back(kind, path, number, "published")
    return HTMLResponse(_edit(who, kind, path, number, refused=refused), 422)


@router.post("/test-send")
def test_send(
    who: Annotated[Editing, Depends(editing)],
    kind: Kind,
    path: Path_,
    number: Annotated[int, Form(ge=1)],
    to: Annotated[str, Form(max_length=320)],
    token: Token = "",
    segment: Annotated[str, Form(max_length=32)] = "",
    locale: Annotated[str, Form(max_length=35)] = "",
    customer: Annotated[str, Form(max_length=320)] = "",
    message: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    """This version, as previewed, sent now to `to` through the configured backend as a test
    (`ladder send-test`): no delivery row, no budget, no report."""
    settings, now = who.settings, current_time.now()
    who.check(token)
    path = _clean(kind, path)
    with session(settings.database_url) as db:
        text = versions.text_of(db, settings, kind, path, number)
        found = previews.preview_version(
            db, settings, kind, path, text,
            message=message or None, segment=segment, locale=locale, customer=customer,
        )  # fmt: skip
    shown = found.shown
    refused = found.problem or ("only an email can be sent as a test" if shown is None else None)
    if shown is not None and refused is None:
        try:
            proof = proofs.send_proof(Runtime(settings), shown, to=to, now=now)
        except (proofs.ProofError, DeliveryError) as exc:
            refused = str(exc)
        else:
            query = {"kind": kind.value, "path": path, "version": number, "done": "tested"}
            query |= {"to": proof.to, "segment": segment, "locale": locale, "customer": customer}
            query |= {"message": message}
            return RedirectResponse(f"/studio/edit?{urlencode(query)}", status_code=303)
    page_ = _edit(
        who, kind, path, number, segment, locale, customer, message=message, refused=refused
    )  # fmt: skip
    return HTMLResponse(page_, 422)


@router.post("/copy")
def copy(
    who: Annotated[Editing, Depends(editing)],
    kind: Kind,
    path: Path_,
    new_path: Path_,
    number: Annotated[int, Form(ge=1)],
    token: Token = "",
) -> Response:
    """A new variant or message from an existing one: its text as the new file's first draft
    (a broadcast's or series' named after its new file)."""
    settings, now = who.settings, current_time.now()
    who.check(token)
    path, target = _clean(kind, path), _clean(kind, new_path)
    with session(settings.database_url) as db:
        taken = bool(
            versions.versions(db, kind, target) or versions.git_text(settings, kind, target)
        )
        text = versions.text_of(db, settings, kind, path, number)
    if kind in (FileKind.BROADCAST, FileKind.SERIES):
        text = broadcasting.renamed(text, target)
    if taken:
        said = f"{target} exists already: open it instead"
        return HTMLResponse(_edit(who, kind, path, number, refused=said), 422)
    with session(settings.database_url) as db:
        problems = drafts.check(db, settings, kind, target, text)
        note = f"copied from {path} v{number}"
        made = versions.save(
            db, settings, kind, target, text,
            author=who.person.email, now=now, problems=problems, note=note,
        )  # fmt: skip
        db.commit()
    return _back(kind, target, made, "copied")


@router.get("/diff", response_class=HTMLResponse)
def diff_page(
    who: Annotated[Editing, Depends(viewing)],
    kind: Annotated[FileKind, Query()],
    path: Annotated[str, Query(max_length=255)],
    version: Annotated[int, Query(ge=1)],
) -> str:
    """What a version changed from the one before it."""
    settings = who.settings
    path = _clean(kind, path)
    with session(settings.database_url) as db:
        try:
            changes = versions.diff(db, settings, kind, path, version)
        except VersionError as exc:
            raise HTTPException(404, str(exc)) from exc
        saved = {v.number: v for v in versions.versions(db, kind, path)}
    return page(
        "diff.html",
        title=f"{path} v{version}",
        kind=kind.value,
        path=path,
        number=version,
        shown=saved.get(version),
        lines=changes.splitlines(),
        notice=None,
        **who.chrome(),
    )


def _clean(kind: FileKind, path: str) -> str:
    try:
        return versions.clean_path(kind, path)
    except VersionError as exc:
        raise HTTPException(422, str(exc)) from exc


def _back(kind: FileKind, path: str, number: int, done: str) -> RedirectResponse:
    query = {"kind": kind.value, "path": path, "version": number, "done": done}
    return RedirectResponse(f"/studio/edit?{urlencode(query)}", status_code=303)
