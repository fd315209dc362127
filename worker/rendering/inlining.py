"""A template loader that inlines the email stylesheet into each template's source, once per
version of the file: mail clients ignore <style>, and inlining per send would cost every email.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from pathlib import Path

import css_inline
from jinja2 import Environment, FileSystemLoader

STYLESHEET = "layouts/email.css"

# Jinja statements, expressions and comments. Each becomes an HTML comment while the HTML parser
# reads the file: a comment stays where it is, even between table rows, where text would be
# moved out of the table.
_JINJA = re.compile(r"\{%.*?%\}|\{\{.*?\}\}|\{#.*?#\}", re.DOTALL)
_PLACEHOLDER = re.compile(r"<!--J(\d+)-->|&lt;!--J(\d+)--&gt;")


def inline_source(source: str, css: str) -> str:
    """The template source with `css` applied as style attributes; Jinja tags untouched.

    A whole document (a layout) keeps the stylesheet's @media rules in a <style> in its head,
    for clients that honour them (phones); fragments (messages, partials) get style attributes.
    """
    tags: list[str] = []

    def protect(match: re.Match[str]) -> str:
        tags.append(match.group(0))
        return f"<!--J{len(tags) - 1}-->"

    protected = _JINJA.sub(protect, source)
    if re.search(r"<html[\s>]", protected, re.IGNORECASE):
        inlined = css_inline.CSSInliner(
            keep_at_rules=True, extra_css=css, load_remote_stylesheets=False
        ).inline(protected)
    else:
        inlined = css_inline.inline_fragment(protected, css, load_remote_stylesheets=False)
    if "<!doctype html>" in protected:  # the serializer upper-cases it; keep it as written
        inlined = inlined.replace("<!DOCTYPE html>", "<!doctype html>", 1)
    # Inside <title> the parser keeps a comment as escaped text: restore both spellings.
    return _PLACEHOLDER.sub(lambda m: tags[int(m.group(1) or m.group(2))], inlined)


class OverlayLoader(FileSystemLoader):
    """The folder's files, each replaced by its text in `overlay` where it has one (what the
    studio published, or a draft being previewed), and the overlay's new files beside them.

    An overlaid template is named by its path in the folder, so an error names the file and
    line the marketer edited; it never goes stale (a new overlay is a new loader)."""

    def __init__(self, searchpath: Path, overlay: Mapping[str, str] | None = None) -> None:
        super().__init__(searchpath)
        self.folder = Path(searchpath)
        self.overlay: Mapping[str, str] = overlay or {}

    def get_source(
        self, environment: Environment, template: str
    ) -> tuple[str, str, Callable[[], bool]]:
        text = self.overlay.get(template)
        if text is None:
            return super().get_source(environment, template)
        return text, str(self.folder / template), lambda: True

    def list_templates(self) -> list[str]:
        return sorted({*super().list_templates(), *self.overlay})

    def read(self, name: str) -> tuple[str, float | None] | None:
        """A file's text and modification time (None when overlaid), or None when absent."""
        if name in self.overlay:
            return self.overlay[name], None
        path = self.folder / name
        return (path.read_text(encoding="utf-8"), path.stat().st_mtime) if path.exists() else None


class InliningLoader(OverlayLoader):
    """Serves `*.html.j2` with the stylesheet inlined. A template is recompiled (and inlined
    again) only when its file or the stylesheet changes, or the stylesheet appears."""

    def get_source(
        self, environment: Environment, template: str
    ) -> tuple[str, str, Callable[[], bool]]:
        source, filename, uptodate = super().get_source(environment, template)
        if not template.endswith(".html.j2"):
            return source, filename, uptodate
        # Without a stylesheet the HTML still goes through the parser: every email comes out
        # in the same normal form (lower-case tags, quoted attributes) for the text part.
        found = self.read(STYLESHEET)
        css, css_mtime = found if found is not None else ("", None)

        def still_current() -> bool:
            again = self.read(STYLESHEET)
            return uptodate() and (again[1] if again is not None else None) == css_mtime

        return inline_source(source, css), filename, still_current
