"""The template studio: `/studio/preview` shows a message as a customer would get it, and
sends it as a test (`/studio/send-test`, as `ladder send-test` does).

Behind the studio's login (worker/web/studio/accounts.py): viewers see the preview, editors
may send tests too. The page reloads itself when a template file changes.
"""

from __future__ import annotations

import hashlib
from contextlib import nullcontext
from pathlib import Path
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, PlainTextResponse
from jinja2 import Environment

from models.db import session
from models.studio import FileKind
from triggers import TriggerError, load_triggers
from worker import current_time
from worker.audience.segments import PROSPECT, SEGMENTS
from worker.authoring import proofs
from worker.authoring.checks import lint_email
from worker.authoring.preview import Preview, PreviewError, render_preview, sending_trigger
from worker.providers import DeliveryError
from worker.rendering import published
from worker.rendering.renderer import Renderer, RenderError
from worker.runtime import Runtime
from worker.settings import Settings
from worker.web.deps import settings_of
from worker.web.studio.accounts import Person, Role, check_form, form_token, require_role
from worker.web.studio.chrome import WHO_STYLE, logout_form, who_bar

router = APIRouter(prefix="/studio")

LANGUAGES = ["en", "es", "de", "ru", "zh"]
SEGMENT_NAMES = ["default"] + [name for name, _, _ in SEGMENTS] + [PROSPECT]


def templates_version(templates_dir: Path) -> str:
    """Changes whenever a file under templates/ is added, removed or saved."""
    digest = hashlib.sha256()
    for path in sorted(templates_dir.rglob("*")):
        if path.is_file():
            digest.update(f"{path}:{path.stat().st_mtime_ns}:{path.stat().st_size};".encode())
    return digest.hexdigest()[:16]


@router.get("/preview/version", response_class=PlainTextResponse)
def version(
    request: Request,
    _person: Annotated[Person, Depends(require_role(Role.VIEWER, api=True))],
) -> str:
    settings = settings_of(request)
    return _shown_version(settings)


def _shown_version(settings: Settings) -> str:
    """The files' version and the studio's newest publication: either changes the page."""
    with session(settings.database_url) as db:
        generation = published.generation(db)
    return f"{templates_version(settings.templates_dir)}-{generation}"


@router.get("/preview", response_class=HTMLResponse)
def preview_page(
    request: Request,
    person: Annotated[Person, Depends(require_role(Role.VIEWER))],
    message: Annotated[str | None, Query(max_length=64)] = None,
    segment: Annotated[str, Query(max_length=32)] = "default",
    locale: Annotated[str, Query(max_length=35)] = "en",
    customer: Annotated[str, Query(max_length=320)] = "",
) -> str:
    """The page: a form to pick, then subject, preheader, warnings, two widths, the text."""
    seen = _Seen(request, person)
    return _page(seen, message, segment, locale, customer)


@router.post("/send-test", response_class=HTMLResponse)
def send_test_form(
    request: Request,
    person: Annotated[Person, Depends(require_role(Role.EDITOR))],
    message: Annotated[str, Form(max_length=64)],
    to: Annotated[str, Form(max_length=320)],
    segment: Annotated[str, Form(max_length=32)] = "default",
    locale: Annotated[str, Form(max_length=35)] = "en",
    customer: Annotated[str, Form(max_length=320)] = "",
    token: Annotated[str, Form(max_length=64)] = "",  # missing: refused as forged (403)
) -> HTMLResponse:
    """`ladder send-test` from the page: the message as previewed, sent now to `to`, marked as
    a test; the page again, saying where it went or why it could not go (422)."""
    now = current_time.now()
    settings = settings_of(request)
    check_form(request, settings, token, now)
    seen = _Seen(request, person)
    email = customer.strip()
    runtime = Runtime(settings)  # read afresh, as the preview is, with what the studio published
    with session(settings.database_url) as db:
        runtime.follow(db)
    try:
        with session(settings.database_url) if email else nullcontext() as db:
            proof = proofs.send_test(
                runtime,
                message,
                to=to,
                now=now,
                db=db,
                customer=email or None,
                segment=None if email else segment,
                locale=None if email else locale,
            )
    except (proofs.ProofError, PreviewError, RenderError, DeliveryError) as exc:
        page = _page(seen, message, segment, locale, customer, notice=(False, str(exc)))
        return HTMLResponse(page, status_code=422)
    said = f"A test was sent to {proof.to} ({proof.preview.email.variant}, {proof.preview.locale})."
    return HTMLResponse(_page(seen, message, segment, locale, customer, notice=(True, said)))


class _Seen:
    """Who the page is for: their settings, role and the token for their forms."""

    def __init__(self, request: Request, person: Person) -> None:
        self.settings = settings_of(request)
        self.person = person
        self.token = form_token(request, self.settings, current_time.now())


def _page(
    seen: _Seen,
    message: str | None,
    segment: str,
    locale: str,
    customer: str,
    *,
    notice: tuple[bool, str] | None = None,
) -> str:
    settings = seen.settings
    # Read afresh on every request: the studio is where templates are being edited.
    with session(settings.database_url) as db:  # what the workers send: the studio's versions
        live = published.live(db, FileKind.TEMPLATE)
    renderer = Renderer(
        settings.templates_dir, settings.default_locale, auto_reload=True, published=live
    )
    messages = renderer.messages()
    chosen = message if message in messages else (messages[0] if messages else "")
    shown: Preview | None = None
    problems: list[str] = []
    if chosen:
        try:
            shown = _render(renderer, settings, chosen, segment, locale, customer.strip())
        except (RenderError, PreviewError) as exc:
            problems.append(str(exc))
    if shown is not None:
        problems += [
            str(problem)
            for problem in lint_email(
                shown.email,
                templates_dir=settings.templates_dir,
                unsubscribe_url=f"{settings.public_url.rstrip('/')}/u/",  # as composing builds it
                postal_address=settings.postal_address,
            )
        ]
    picked = {"message": chosen, "segment": segment, "locale": locale, "customer": customer}
    return _PAGE.render(
        messages=messages,
        segments=SEGMENT_NAMES,
        languages=sorted({*LANGUAGES, settings.default_locale}),
        message=chosen,
        segment=segment,
        locale=locale,
        customer=customer,
        shown=shown,
        problems=problems,
        version=_shown_version(settings),
        token=seen.token,
        who=who_bar(seen.person),
        logout=logout_form(seen.token),
        who_style=WHO_STYLE,
        may_send=seen.person.role.allows(Role.EDITOR),
        notice=notice,
        preview_url="/studio/preview?" + urlencode(picked),
    )


def _render(
    renderer: Renderer, settings: Settings, message: str, segment: str, locale: str, email: str
) -> Preview:
    try:
        trigger = sending_trigger(load_triggers(settings.triggers_dir, renderer.env), message)
    except TriggerError:
        trigger = None  # `ladder check` names the broken file; the preview still renders
    with session(settings.database_url) as db:
        return render_preview(
            renderer,
            settings,
            message,
            segment=None if email else segment,
            locale=None if email else locale,
            db=db if email else None,
            email=email or None,
            now=current_time.now(),
            trigger=trigger,
        )


# The page's own template (code, not a marketer's file). The email goes in an iframe's srcdoc,
# escaped as any attribute value: shown exactly as sent, and sandboxed from the page.
_PAGE = Environment(autoescape=True).from_string(
    """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Ladder studio · preview</title>
<style>
body { font-family: system-ui, sans-serif; margin: 16px; background: #fafafa; color: #222; }
form { display: flex; gap: 8px; align-items: end; flex-wrap: wrap; margin-bottom: 12px; }
label.apart { margin-left: 24px; }
#send-test-form { display: none; }
label { display: flex; flex-direction: column; font-size: 12px; color: #555; }
.meta { background: #fff; border: 1px solid #ddd; padding: 8px 12px; margin-bottom: 12px; }
.warnings { background: #fff4e5; border: 1px solid #f0b37e; padding: 8px 12px; }
.ok { color: #2a7a2a; }
.sent { background: #eef8ee; border: 1px solid #8c8; padding: 8px 12px; margin-bottom: 12px; }
.frames { display: flex; gap: 16px; align-items: flex-start; }
iframe { border: 1px solid #ccc; background: #fff; height: 900px; }
pre { white-space: pre-wrap; background: #fff; border: 1px solid #ddd; padding: 12px; }
{{ who_style }}</style></head>
<body data-version="{{ version }}" data-preview="{{ preview_url }}">
{% macro choose(label, name, options, current) %}
<label>{{ label }}<select name="{{ name }}" id="{{ name }}">
{% for option in options %}
<option{{ " selected" if option == current else "" }}>{{ option }}</option>
{% endfor %}
</select></label>
{% endmacro %}
<form method="get" action="/studio/preview">
{{ choose("Message", "message", messages, message) }}
{{ choose("Segment", "segment", segments, segment) }}
{{ choose("Language", "locale", languages, locale) }}
<label>Customer e-mail (empty: a sample customer)
<input name="customer" id="customer" value="{{ customer }}" size="30"></label>
<button type="submit" id="show">Show</button>
{% if shown and may_send %}
<label class="apart">Send it as a test to
<input name="to" id="to" type="email" required size="24" placeholder="you@your-shop.com"
 form="send-test-form"></label>
<button type="submit" id="send-test" form="send-test-form">Send test</button>
{% endif %}
</form>
{{ who }}{{ logout }}
{% if may_send %}
<form method="post" action="/studio/send-test" id="send-test-form">
<input type="hidden" name="token" value="{{ token }}">
<input type="hidden" name="message" value="{{ message }}">
<input type="hidden" name="segment" value="{{ segment }}">
<input type="hidden" name="locale" value="{{ locale }}">
<input type="hidden" name="customer" value="{{ customer }}">
</form>
{% endif %}
{% if shown %}
<div class="meta">
<div>Subject: <strong id="subject">{{ shown.email.subject }}</strong></div>
<div>Preheader: <span id="preheader">{{ shown.email.preheader }}</span></div>
<div>File: <code id="variant">{{ shown.email.variant }}</code> · language {{ shown.email.locale }}
· segment {{ shown.segment }} · customer {{ shown.customer }}
· {{ "{:,}".format(shown.email.html|length) }} characters of HTML</div>
</div>
{% endif %}
<div class="warnings" id="warnings">
{% for problem in problems %}<div class="problem">{{ problem }}</div>
{% else %}<span class="ok">No warnings: this email may be sent.</span>{% endfor %}
</div>
{% if shown %}
{% if notice %}
<div class="{{ 'sent' if notice[0] else 'warnings' }}" id="notice">{{ notice[1] }}</div>
{% endif %}
<h3>Desktop and mobile</h3>
<div class="frames">
<iframe id="desktop" title="desktop" width="700" sandbox srcdoc="{{ shown.email.html }}"></iframe>
<iframe id="mobile" title="mobile" width="375" sandbox srcdoc="{{ shown.email.html }}"></iframe>
</div>
<h3>Text part</h3>
<pre id="text">{{ shown.email.text }}</pre>
{% endif %}
<script>
// Reload when a template file changes, so the page follows the editor.
const shown = document.body.dataset.version;
setInterval(async () => {
  try {
    // From the origin, with the session cookie (Path=/studio) as any studio request.
    const answer = await fetch(location.origin + "/studio/preview/version");
    // The preview's own address, never a reload: after a test send, that would send again.
    const preview = document.body.dataset.preview;
    // Logged out or the session ended: to the login, and back to this preview after it.
    const login = "/studio/login?next=" + encodeURIComponent(preview);
    if (answer.status === 401) location.replace(login);
    if (answer.ok && (await answer.text()) !== shown) location.replace(preview);
  } catch (error) { /* the server restarts: try again at the next tick */ }
}, 1000);
</script>
</body></html>
"""
)
