"""`ladder check`: every trigger file valid; every message, segment and locale renders for sample
customers into an email that may be sent (links, alt text, unsubscribe, address, size)."""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

from triggers import Trigger, TriggerError, TriggerSet, load_trigger, load_triggers
from triggers.programme import (
    ProgrammeError,
    load_programme,
    load_programme_file,
    programme_files,
)
from triggers.schema import SHOP_MESSAGE_PREFIX
from worker.audience.segments import PROSPECT, SEGMENTS, segment_names
from worker.authoring.broadcast_checks import broadcast_problems, series_problems
from worker.authoring.context_checks import condition_problems, template_problems
from worker.authoring.copy_checks import copy_problems
from worker.authoring.sample_customers import sample_context
from worker.authoring.syntax_hints import unclosed_hint
from worker.measurement import abc, goals, rung_scheme
from worker.rendering.renderer import RenderedEmail, Renderer, RenderError
from worker.rendering.variants import SUFFIX, variant_locale
from worker.settings import Settings

MAX_HTML_BYTES = 102 * 1024  # Gmail clips a message's HTML above 102 KB


@dataclass(frozen=True)
class Problem:
    where: str  # "win_back/champions.de.html.j2:12", or a folder for a missing locale
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


@dataclass
class Rendition:
    """One message for one segment and locale, as a sample customer would get it."""

    message: str
    segment: str
    locale: str
    email: RenderedEmail | None = None
    problems: list[Problem] = field(default_factory=list)


class _Tags(HTMLParser):
    """Collects links and images of a rendered email."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.hrefs: list[str] = []
        self.images: list[tuple[str, str | None]] = []  # (src, alt)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "a" and "href" in values:
            self.hrefs.append(values["href"] or "")
        elif tag == "img":
            self.images.append((values.get("src") or "", values.get("alt")))


def locate(templates_dir: Path, variant: str, needle: str) -> str:
    """`file:line` of the first line holding `needle`, looking in the variant, then in the
    layouts and partials; the variant's first line when the text is computed."""
    shared = sorted(
        str(path.relative_to(templates_dir))
        for folder in ("layouts", "partials")
        for path in (templates_dir / folder).glob("*.j2")
    )
    candidates = [variant, *shared]
    for name in candidates:
        path = templates_dir / name
        if not path.exists() or not needle:
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if needle in line:
                return f"{name}:{number}"
    return f"{variant}:1"


def lint_email(
    email: RenderedEmail, *, templates_dir: Path, unsubscribe_url: str, postal_address: str
) -> list[Problem]:
    """What makes a rendered email unfit to send, each with the file and line to fix."""
    variant = email.variant
    problems: list[Problem] = []
    tags = _Tags()
    tags.feed(email.html)
    problems.extend(_footer_problems(email, tags, templates_dir, unsubscribe_url, postal_address))
    for href in tags.hrefs:
        if not re.match(r"https?://[^/\s]", href):
            where = locate(templates_dir, variant, href.split("?")[0] or 'href=""')
            problems.append(Problem(where, f"link {href!r} is not an absolute http(s) URL"))
    for src, alt in tags.images:
        if alt is None:
            where = locate(templates_dir, variant, src.split("?")[0] or "<img")
            problems.append(Problem(where, f"image {src!r} has no alt text"))
    size = len(email.html.encode())
    if size > MAX_HTML_BYTES:
        problems.append(
            Problem(f"{variant}:1", f"HTML is {size:,} bytes; Gmail clips above 102 KB")
        )
    for word in ("None", "Undefined"):
        if re.search(rf"\b{word}\b", email.text):
            where = locate(templates_dir, variant, word)
            problems.append(Problem(where, f"the email reads {word!r}: a value is missing"))
    return problems


def _footer_problems(
    email: RenderedEmail, tags: _Tags, templates_dir: Path, unsubscribe_url: str, address: str
) -> list[Problem]:
    """An email to a customer carries their unsubscribe link and the shop's postal address;
    one to the shop (a `shop_` message, about a customer) must not carry that link."""
    variant = email.variant
    # The preferences link shares the unsubscribe link's prefix (`/u/<token>/preferences`): it
    # does not count as one.
    unsubscribes = any(
        href.startswith(unsubscribe_url) and not href.endswith("/preferences")
        for href in tags.hrefs
    )
    if variant.startswith(SHOP_MESSAGE_PREFIX):
        if not unsubscribes:
            return []
        where = locate(templates_dir, variant, "unsubscribe_url")
        return [Problem(where, "an email to the shop carries the customer's unsubscribe link")]
    problems = []
    if not unsubscribes:
        problems.append(Problem(f"{variant}:1", "no unsubscribe link ({{ unsubscribe_url }})"))
    if address not in email.text:
        problems.append(Problem(f"{variant}:1", "no postal address ({{ shop.postal_address }})"))
    return problems


def template_locales(renderer: Renderer) -> dict[str, set[str]]:
    """For each message, the languages it has a variant in."""
    found: dict[str, set[str]] = {}
    for message in renderer.messages():
        found[message] = {
            variant_locale(name, renderer.default_locale).split("_")[0]
            for name in renderer.variants(message)
        }
    return found


def missing_locales(renderer: Renderer) -> list[Problem]:
    """A language that some messages are written in but this one is not."""
    by_message = template_locales(renderer)
    every = set().union(*by_message.values()) if by_message else set()
    return [
        Problem(
            f"{message}/",
            f"no variant in {code!r}, which other messages have: "
            f"add {message}/default.{code}{SUFFIX}",
        )
        for message, codes in sorted(by_message.items())
        for code in sorted(every - codes)
    ]


def render_all(
    settings: Settings,
    renderer: Renderer | None = None,
    messages: Collection[str] | None = None,
) -> list[Rendition]:
    """Every message (or those in `messages`), segment and language for sample customers, with
    and without a first name. Errors name the file and line as written (the stylesheet is not
    inlined for them); the lint runs on the email as sent (inlined)."""
    sending = renderer or Renderer(settings.templates_dir, settings.default_locale)
    as_written = Renderer(settings.templates_dir, settings.default_locale, inline_css=False)
    codes = sorted({settings.default_locale}.union(*template_locales(sending).values()))
    named = [name for name, _, _ in SEGMENTS] + [PROSPECT, "default"]
    in_files = {name.split("/")[1].split(".")[0] for name in sending.available if "/" in name}
    segments = named + sorted(in_files - set(named) - {"base", "footer"})
    renditions = []
    for message in sending.messages():
        if messages is not None and message not in messages:
            continue
        for segment in segments:
            for code in codes:
                renditions.append(
                    _render_one(settings, sending, as_written, message, segment, code)
                )
    return renditions


def _render_one(
    settings: Settings,
    sending: Renderer,
    as_written: Renderer,
    message: str,
    segment: str,
    code: str,
) -> Rendition:
    rendition = Rendition(message, segment, code)
    for named in (True, False):
        context = sample_context(settings, segment=segment, locale=code, named=named)
        try:
            as_written.render(message, segment=segment, locale=code, context=context)
            email = sending.render(message, segment=segment, locale=code, context=context)
        except RenderError as exc:
            where, _, what = str(exc).partition(": ")
            rendition.problems.append(Problem(where, what))
            hint = unclosed_hint(settings.templates_dir, where, what)
            if hint is not None:
                rendition.problems.append(Problem(*hint))
            return rendition
        rendition.email = rendition.email or email
        rendition.problems.extend(
            lint_email(
                email,
                templates_dir=settings.templates_dir,
                unsubscribe_url=context["unsubscribe_url"],
                postal_address=settings.postal_address,
            )
        )
    return rendition


def check_templates(
    settings: Settings, messages: Collection[str] | None = None
) -> tuple[list[Rendition], list[Problem]]:
    """The renditions, and every distinct problem found in them and in locale coverage; of
    the messages in `messages` only, when given."""
    renditions = render_all(settings, messages=messages)
    problems: list[Problem] = []
    for rendition in renditions:
        problems.extend(p for p in rendition.problems if p not in problems)
    sending = Renderer(settings.templates_dir, settings.default_locale)
    found = [
        *missing_locales(sending),
        *(
            Problem(p.where, p.message)
            for p in copy_problems(settings.templates_dir, sending.default_locale)
        ),
    ]
    problems.extend(p for p in found if messages is None or p.where.split("/")[0] in messages)
    return renditions, problems


@dataclass(frozen=True)
class Checked:
    """One line of `ladder check`: a trigger, template variant or message, and its result."""

    kind: str  # "trigger", "programme", "measurement", "template", "message"
    name: str
    ok: bool
    detail: str  # the template's subject when ok; what is wrong otherwise


@dataclass
class CheckReport:
    checked: list[Checked] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # "file:line: message", one per problem
    renditions: int = 0  # message x segment x language combinations rendered

    def refuse(self, kind: str, name: str, problem: str, detail: str | None = None) -> None:
        self.problems.append(problem)
        self.checked.append(Checked(kind, name, False, detail or problem))


def _check_triggers(settings: Settings, renderer: Renderer, report: CheckReport) -> list[Trigger]:
    """Checks each trigger file on its own, so one mistake does not hide the next; returns the
    valid ones. A condition reading a name its context lacks is a mistake here, not a delivery
    failed at run time."""
    valid: list[Trigger] = []
    for path in sorted(settings.triggers_dir.glob("*.toml")):
        try:
            trigger = load_trigger(path, renderer.env)
        except TriggerError as exc:
            report.refuse("trigger", path.name, str(exc))
            continue
        valid.append(trigger)
        problems = condition_problems(path, trigger, renderer.env, settings)
        for problem in problems:
            report.refuse("trigger", trigger.name, problem)
        if not problems:
            report.checked.append(Checked("trigger", trigger.name, True, ""))
    if not report.problems:
        try:  # names unique across files
            TriggerSet.build(renderer.env, load_triggers(settings.triggers_dir, renderer.env))
        except TriggerError as exc:
            report.refuse("trigger", exc.path.name, str(exc))
    return valid


def _check_programmes(settings: Settings, report: CheckReport) -> None:
    """Each loyalty programme file on its own, then that names are unique and that
    LOYALTY_PROGRAMME, when set, names one."""
    chosen = settings.loyalty_programme
    for path in programme_files(settings.triggers_dir):
        try:
            programme = load_programme_file(path)
        except ProgrammeError as exc:
            report.refuse("programme", path.name, str(exc))
            continue
        state = "runs (LOYALTY_PROGRAMME)" if programme.name == chosen else ""
        report.checked.append(Checked("programme", programme.name, True, state))
    if not any(item.kind == "programme" and not item.ok for item in report.checked):
        try:
            load_programme(settings.triggers_dir, chosen)
        except ProgrammeError as exc:
            report.refuse("programme", exc.path.name, str(exc))


def _check_measurement(settings: Settings, report: CheckReport, trigger_names: set[str]) -> None:
    """The measurement files: the ABC weights, the ladder's rungs and its goals (which name
    rungs and triggers), each refused with its file and line."""
    folder = settings.measurement_dir
    try:
        abc.load_scheme(folder / "abc.toml")
        report.checked.append(Checked("measurement", "abc.toml", True, ""))
    except abc.SchemeError as exc:
        report.refuse("measurement", "abc.toml", str(exc))
    try:
        scheme = rung_scheme.load_scheme(rung_scheme.default_path(folder), segments=segment_names())
    except rung_scheme.SchemeError as exc:
        report.refuse("measurement", "rungs.toml", str(exc))
        return
    state = "no ladder kept (no file)" if scheme is None else " → ".join(scheme.line)
    report.checked.append(Checked("measurement", "rungs.toml", True, state))
    try:
        found = goals.load_goals(goals.goals_path(folder), scheme, triggers=trigger_names)
    except rung_scheme.SchemeError as exc:
        report.refuse("measurement", "goals.toml", str(exc))
        return
    report.checked.append(Checked("measurement", "goals.toml", True, f"{len(found)} goal(s)"))


def run_checks(settings: Settings, only: Collection[str] | None = None) -> CheckReport:
    """Every trigger file, every template variant rendered and linted, every message a trigger
    sends present: what was checked and what is wrong. `only`: render and lint only these
    (the studio checking a draft of one message); files of every other kind are all read."""
    report = CheckReport()
    renderer = Renderer(settings.templates_dir, settings.default_locale)
    triggers = _check_triggers(settings, renderer, report)
    _check_programmes(settings, report)
    _check_measurement(settings, report, {trigger.name for trigger in triggers})
    messages = {message for trigger in triggers for message in trigger.messages()}
    fine, refused = broadcast_problems(settings, renderer)
    fine_series, refused_series = series_problems(settings, renderer)
    sent = [(message, b.trigger_name) for b in fine for message in b.messages()]
    sent += [(message, s.trigger_name) for s in fine_series for message in s.messages()]
    renditions, found = check_templates(settings, only)
    as_written = Renderer(settings.templates_dir, settings.default_locale, inline_css=False)
    rendered = {problem.where for problem in found}  # a render error there says it already
    found += [
        Problem(where, what)
        for where, what in template_problems(triggers, as_written, settings, sent, only)
        if where not in rendered
    ]
    report.renditions = len(renditions)
    variants: dict[str, str] = {}
    for rendition in renditions:
        if rendition.email is not None and not rendition.problems:
            variants.setdefault(rendition.email.variant, rendition.email.subject)
    for variant, subject in sorted(variants.items()):
        report.checked.append(Checked("template", variant, True, subject))
    for problem in found:
        report.refuse("template", problem.where, str(problem), problem.message)
    for message in sorted(messages - set(renderer.messages())):
        missing = f"trigger message {message!r} has no templates/{message}/default{SUFFIX}"
        report.refuse("message", message, missing)
    report.checked += [Checked("broadcast", b.name, True, "") for b in fine]
    report.checked += [Checked("series", item.name, True, "") for item in fine_series]
    for kind, refusals in (("broadcast", refused), ("series", refused_series)):
        for refusal in refusals:
            report.refuse(kind, refusal.split(":")[0], refusal)
    return report
