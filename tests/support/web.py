"""Starlette's TestClient, imported once with its httpx deprecation notice silenced."""

from __future__ import annotations

import warnings

from starlette.exceptions import StarletteDeprecationWarning

with warnings.catch_warnings():
    # Starlette 1.x prefers `httpx2` and warns once, at import, when it finds only `httpx`
    # (the dev group's client); the client works the same. Drop this when the dev group
    # installs httpx2.
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from starlette.testclient import TestClient

__all__ = ["TestClient"]
