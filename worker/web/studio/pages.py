"""The studio's own pages (code, not a marketer's files): one autoescaped Jinja environment
over `pages/`, and the assets they use, served by Ladder itself (nothing from a CDN)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined

HERE = Path(__file__).parent
PAGES = Environment(
    loader=FileSystemLoader(HERE / "pages"),
    autoescape=True,
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
# The assets, by name: nothing else under static/ is served. CodeMirror 5 (MIT, its licence
# beside it) from npm's `codemirror` 5.65.20: lib/codemirror.{js,css}, mode/xml, mode/toml,
# addon/mode/overlay.js, unchanged.
ASSETS = {
    "codemirror.js": "text/javascript",
    "codemirror.css": "text/css",
    "xml.js": "text/javascript",
    "toml.js": "text/javascript",
    "overlay.js": "text/javascript",
    "editor.js": "text/javascript",
    "studio.css": "text/css",
}

router = APIRouter(prefix="/studio")


def page(name: str, **context: Any) -> str:
    return PAGES.get_template(name).render(**context)


@router.get("/static/{name}")
def asset(name: str) -> FileResponse:
    """A studio asset; cached for an hour (a deploy may change them)."""
    media_type = ASSETS.get(name)
    if media_type is None:
        raise HTTPException(404, "Not Found")
    return FileResponse(
        HERE / "static" / name,
        media_type=media_type,
        headers={"Cache-Control": "private, max-age=3600"},
    )
