"""Derives the text/plain part of an email from its HTML, links kept readable."""

from __future__ import annotations

import re
from collections.abc import Callable
from html import unescape

# A handful of regular expressions over the whole document: a parser calling back into Python
# for every tag costs more than the rest of rendering an email together.
_DROPPED = re.compile(r"<(head|style|script|title)\b.*?</\1\s*>|<!--.*?-->", re.S | re.I)
_LINK = re.compile(r"<a\b([^>]*)>(.*?)</a\s*>", re.S | re.I)
_HREF = re.compile(r"""\bhref\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))""", re.I)
# Lower-case tags only, as the stylesheet step (worker/rendering/inlining.py) writes every template:
# matching either case would cost a tenth of the text part.
_BLOCK = re.compile(r"</?(?:p|div|tr|table|h[1-6]|ul|ol|section|footer)\b[^>]*>")
# A line break, a list item, a cell (cells side by side must not run together): one pass.
_MARK = re.compile(r"<(?:(br)|(li)|(t[dh]))\b[^>]*>")
_MARKS = ("", "\n", "\n- ", " ")  # by the number of the group that matched
_TAG = re.compile(r"<[^>]*>")
# The lines not looked up are read together, joined by a character no line holds. A match
# reaching across it means a line opens something it does not close: then the document is
# read whole.
_APART = "\x00"
# What, left over on a line once its dropped elements (then its links) are gone, is still open.
_DROPPED_OPENS = re.compile(r"<(?:head|style|script|title)\b|<!--", re.I)
_LINK_OPENS = re.compile(r"<a\b", re.I)
# Patterns that start with a literal run fast; one matching at every single space does not.
# Spaces only: a no-break space stays, so "15,00\xa0€" does not break.
_RUNS_OF_SPACES = re.compile(r"  +")
_OTHER_SPACES = str.maketrans("\t\r\f\v", "    ")
_BLANK_LINES = re.compile(r"\n\n\n+")

# The text of each line of HTML already read. Most lines of an email are the same in every
# email of its template (the layout, the footer, the static copy): each is read once, then
# looked up. Cleared when full, so customer data in it stays bounded.
_LINES: dict[str, str] = {}
_MAX_LINES = 4096
_MAX_LINE_LENGTH = 2048


def forget_lines() -> None:
    """Forgets every line read: the next email is read as the first of its template."""
    _LINES.clear()


def _link(match: re.Match[str]) -> str:
    """`<a href="u">text</a>` → "text (u)", or "u" alone when the text is the address."""
    attributes, inner = match.group(1), match.group(2)
    text = " ".join((_TAG.sub("", inner) if "<" in inner else inner).split())
    start = attributes.find(' href="')  # how the inlined templates spell it: no pattern needed
    if start >= 0:
        href = attributes[start + 7 : attributes.find('"', start + 7)]
    else:
        found = _HREF.search(attributes)
        if found is None:
            return text
        href = found.group(1) or found.group(2) or found.group(3) or ""
    if href in (text, "") or (text.startswith("http") and unescape(href) == unescape(text)):
        return text
    return f"{text} ({href})"


def _tidy(text: str) -> str:
    """Tabs and the like as spaces, runs of spaces as one, no space next to a line break."""
    if "\t" in text or "\r" in text or "\f" in text or "\v" in text:
        text = text.translate(_OTHER_SPACES)
    if "  " in text:
        text = _RUNS_OF_SPACES.sub(" ", text)
    return text.replace(" \n", "\n").replace("\n ", "\n")


def _within_lines(replace: Callable[[re.Match[str]], str]) -> Callable[[re.Match[str]], str]:
    """`replace`, except a match reaching across lines is left as it is (to be found open)."""

    def replace_within(match: re.Match[str]) -> str:
        return match.group(0) if _APART in match.group(0) else replace(match)

    return replace_within


_DROP_WITHIN_LINES = _within_lines(lambda _match: "")
_LINK_WITHIN_LINES = _within_lines(_link)


def _read_lines(lines: list[str]) -> list[str] | None:
    """The tidied text of each line of HTML, as if read alone; None when something a line
    opens (a tag, a link, a comment, a dropped element) ends on another line, or a line holds
    the character that keeps them apart."""
    joined = _APART.join(lines)
    apart = len(lines) - 1
    if joined.count(_APART) != apart:
        return None
    if "<" in joined:
        joined = _DROPPED.sub(_DROP_WITHIN_LINES, joined)
        if _DROPPED_OPENS.search(joined):
            return None
        joined = _LINK.sub(_LINK_WITHIN_LINES, joined)
        if _LINK_OPENS.search(joined):
            return None
        joined = _BLOCK.sub("\n\n", joined)
        joined = _TAG.sub("", _MARK.sub(lambda match: _MARKS[match.lastindex or 0], joined))
        if "<" in joined or joined.count(_APART) != apart:  # a tag reached across lines
            return None
    texts = _tidy(unescape(joined)).split(_APART)
    return [text.strip(" ") for text in texts] if len(texts) == len(lines) else None


def _lines_text(html: str) -> str | None:
    """The document read line by line (most lines looked up in `_LINES`), before blank lines
    are collapsed; None when a line cannot be read alone."""
    lines = html.split("\n")
    texts = [_LINES.get(line) for line in lines]
    if None in texts:
        missed = [index for index, text in enumerate(texts) if text is None]
        read = _read_lines([lines[index] for index in missed])
        if read is None:
            return None
        if len(_LINES) + len(missed) > _MAX_LINES:
            _LINES.clear()
        for index, text in zip(missed, read, strict=True):
            texts[index] = text
            if len(lines[index]) <= _MAX_LINE_LENGTH:
                _LINES[lines[index]] = text
    return "\n".join(texts)  # type: ignore[arg-type]  # every None replaced above


def _document_text(html: str) -> str:
    """The whole document in one go, before blank lines are collapsed."""
    text = _LINK.sub(_link, _DROPPED.sub("", html))
    text = _BLOCK.sub("\n\n", text)
    text = _TAG.sub("", _MARK.sub(lambda match: _MARKS[match.lastindex or 0], text))
    return _tidy(unescape(text))


def html_to_text(html: str) -> str:
    """The text part: block elements as paragraphs, links as "text (address)", the head,
    styles, scripts and comments left out, entities decoded, spaces collapsed.

    Reading line by line gives the same text as reading the whole document whenever no tag,
    link, comment or dropped element spans lines (the stylesheet step writes templates so);
    otherwise the document is read whole.
    """
    head_end = html.find("</head>")  # most of what is dropped, found without a pattern
    body = html[head_end + 7 :] if head_end >= 0 else html
    text = _lines_text(body)
    if text is None:
        text = _document_text(body)
    return _BLANK_LINES.sub("\n\n", text).strip() + "\n"
