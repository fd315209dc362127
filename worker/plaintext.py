"""Derives the text/plain part of an email from its HTML, links kept readable."""

from __future__ import annotations

import re
from html import unescape

# A handful of regular expressions over the whole document: a parser calling back into Python
# for every tag costs more than the rest of rendering an email together.
_DROPPED = re.compile(r"<(head|style|script|title)\b.*?</\1\s*>|<!--.*?-->", re.S | re.I)
_LINK = re.compile(r"<a\b([^>]*)>(.*?)</a\s*>", re.S | re.I)
_HREF = re.compile(r"""\bhref\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s>]+))""", re.I)
# Lower-case tags only, as the stylesheet step (worker/inlining.py) writes every template:
# matching either case would cost a tenth of the text part.
_BLOCK = re.compile(r"</?(?:p|div|tr|table|h[1-6]|ul|ol|section|footer)\b[^>]*>")
_BREAK = re.compile(r"<br\b[^>]*>")
_ITEM = re.compile(r"<li\b[^>]*>")
_CELL = re.compile(r"<t[dh]\b[^>]*>")  # cells side by side must not run together
_TAG = re.compile(r"<[^>]*>")
# Patterns that start with a literal run fast; one matching at every single space does not.
# Spaces only: a no-break space stays, so "15,00\xa0€" does not break.
_RUNS_OF_SPACES = re.compile(r"  +")
_OTHER_SPACES = str.maketrans("\t\r\f\v", "    ")
_BLANK_LINES = re.compile(r"\n\n\n+")


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


def html_to_text(html: str) -> str:
    head_end = html.find("</head>")  # most of what is dropped, found without a pattern
    text = _DROPPED.sub("", html[head_end + 7 :] if head_end >= 0 else html)
    text = _LINK.sub(_link, text)
    text = _BLOCK.sub("\n\n", text)
    text = _BREAK.sub("\n", text)
    text = _ITEM.sub("\n- ", text)
    text = _CELL.sub(" ", text)
    text = unescape(_TAG.sub("", text))
    if "\t" in text or "\r" in text or "\f" in text or "\v" in text:
        text = text.translate(_OTHER_SPACES)
    text = _RUNS_OF_SPACES.sub(" ", text).replace(" \n", "\n").replace("\n ", "\n")
    return _BLANK_LINES.sub("\n\n", text).strip() + "\n"
