"""The studio: where the shop's marketers look at, test and change their emails.

Each module is one concern and brings its own router; `router` joins them under `/studio`.
"""

from __future__ import annotations

from fastapi import APIRouter

from worker.web.studio import (
    broadcasts,
    customers,
    dashboard,
    editor,
    login,
    pages,
    people,
    preview,
)

router = APIRouter()
router.include_router(login.router)
router.include_router(preview.router)
router.include_router(editor.router)
router.include_router(pages.router)
router.include_router(people.router)
router.include_router(dashboard.router)
router.include_router(customers.router)
router.include_router(broadcasts.router)
