"""Links in an email: UTM tags on every http(s) link but the unsubscribe and preferences ones."""

from __future__ import annotations

import re
from functools import lru_cache
from urllib.parse import quote

_HREF = re.compile(r'href="(https?://[^"]+)"')


@lru_cache(maxsize=256)
def _utm_tags(campaign: str) -> str:
    return f"utm_source=ladder&amp;utm_medium=email&amp;utm_campaign={quote(campaign)}"


def tag_links(html: str, campaign: str, untracked: tuple[str, ...]) -> str:
    """Adds utm_source=ladder, utm_medium=email and utm_campaign to every http(s) link, except
    the `untracked` ones (unsubscribe, preferences) and links that carry their own UTM tags."""
    parts = _HREF.split(html)  # [html, url, html, url, …, html]: a loop, not a callback a link
    tags = _utm_tags(campaign)
    for index in range(1, len(parts), 2):
        url = parts[index]
        if url in untracked or "utm_source=" in url:
            parts[index] = f'href="{url}"'
            continue
        base, hash_, fragment = url.partition("#")
        joiner = "&amp;" if "?" in base else "?"
        parts[index] = f'href="{base}{joiner}{tags}{hash_}{fragment}"'
    return "".join(parts)
