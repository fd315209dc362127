"""A version of a template file previewed as a customer would get it: laid over what is live,
for a sample customer of a segment and language or a real customer found by e-mail or name,
with the fallback chain that picked the file (and so why this customer gets it)."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import func, or_, select
from sqlmodel import Session

from models.studio import FileKind
from models.tables import CUSTOMERS
from triggers import Trigger, TriggerError, load_triggers
from worker import current_time
from worker.authoring.preview import (
    SEGMENT_NAMES,
    Preview,
    PreviewError,
    render_preview,
    sending_trigger,
)
from worker.rendering.published import live
from worker.rendering.renderer import Renderer, RenderError
from worker.rendering.variants import DEFAULT_SEGMENT, SUFFIX, variant_candidates, variant_locale
from worker.settings import Settings
from worker.studio import drafts

MAX_NAMESAKES = 5  # a name several customers share: the page lists these many addresses


@dataclass(frozen=True)
class DraftPreview:
    message: str | None  # the message rendered (a layout is previewed inside one)
    shown: Preview | None = None
    problem: str | None = None  # why nothing could be shown
    chain: list[tuple[str, bool]] = field(default_factory=list)  # each candidate, and if it exists


def preview_version(
    db: Session,
    settings: Settings,
    kind: FileKind,
    path: str,
    text: str,
    *,
    message: str | None = None,
    segment: str | None = None,
    locale: str | None = None,
    customer: str = "",
) -> DraftPreview:
    """`text` as the live text of `path`, rendered: for a variant, its own message (its
    segment and language unless others are asked for); for a layout or partial, `message`."""
    if kind is not FileKind.TEMPLATE or not path.endswith(SUFFIX):
        return DraftPreview(None)  # a trigger file, the stylesheet: nothing to render alone
    templates = live(db, FileKind.TEMPLATE).over({path: text})
    renderer = Renderer(settings.templates_dir, settings.default_locale, published=templates)
    own = drafts.message_of(kind, path)
    known = renderer.messages()
    message = own or (message if message in known else None) or (known[0] if known else None)
    if message is None:
        return DraftPreview(None)
    try:
        email = find_customer(db, customer)
    except PreviewError as exc:
        return DraftPreview(message, problem=str(exc))
    if own is not None and email is None:  # the file's own segment and language by default
        name = path.rsplit("/", 1)[-1].removesuffix(SUFFIX).split(".")[0]
        segment = segment or (name if name in SEGMENT_NAMES else DEFAULT_SEGMENT)
        locale = locale or variant_locale(path, settings.default_locale)
    try:
        shown = render_preview(
            renderer,
            settings,
            message,
            segment=None if email else segment,
            locale=None if email else locale,
            db=db,
            email=email,
            now=current_time.now(),
            trigger=_trigger(db, settings, renderer, message),
        )
    except (RenderError, PreviewError) as exc:
        return DraftPreview(message, problem=str(exc))
    candidates = variant_candidates(message, shown.segment, shown.locale, settings.default_locale)
    chain = []
    for candidate in dict.fromkeys(candidates):
        chain.append((candidate, candidate in renderer.available))
        if candidate == shown.email.variant:
            break
    return DraftPreview(message, shown, chain=chain)


def find_customer(db: Session, text: str) -> str | None:
    """The e-mail address of the customer `text` names: an address as given, or a name that
    exactly one customer has (first, last or both). None for nobody asked for."""
    text = " ".join(text.split())
    if not text or "@" in text:
        return text or None
    first, last = CUSTOMERS.c.first_name, CUSTOMERS.c.last_name
    full = func.trim(func.coalesce(first, "") + " " + func.coalesce(last, ""))
    wanted = text.lower()
    found = (
        db.execute(
            select(CUSTOMERS.c.email)
            .where(
                or_(
                    func.lower(full) == wanted,
                    func.lower(first) == wanted,
                    func.lower(last) == wanted,
                )
            )
            .order_by(CUSTOMERS.c.id)
            .limit(MAX_NAMESAKES + 1)
        )
        .scalars()
        .all()
    )
    if not found:
        raise PreviewError(f"no customer is named {text!r}: give their e-mail address")
    if len(found) > 1:
        shown = ", ".join(found[:MAX_NAMESAKES]) + (" …" if len(found) > MAX_NAMESAKES else "")
        raise PreviewError(f"several customers are named {text!r} ({shown}): give the address")
    return str(found[0])


def _trigger(db: Session, settings: Settings, renderer: Renderer, message: str) -> Trigger | None:
    try:
        trigger_files = live(db, FileKind.TRIGGER).bodies
        found = load_triggers(settings.triggers_dir, renderer.env, trigger_files)
    except TriggerError:
        return None  # `ladder check` names the broken file; the preview still renders
    return sending_trigger(found, message)
