"""Privacy requests from a platform (or the CLI): each carried out in the caller's transaction."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from sqlmodel import Session

from worker.privacy.erasure import forget, forget_source
from worker.privacy.exports import export
from worker.privacy.holdings import find_customer, record
from worker.sources import PrivacyRequest

logger = logging.getLogger(__name__)


def carry_out(
    db: Session,
    source: str,
    requests: Sequence[PrivacyRequest],
    *,
    now: datetime,
    exports_dir: Path,
) -> None:
    """Carries out each request inside the caller's transaction (the caller commits)."""
    for request in requests:
        if request.kind == "shop_redact":
            forget_source(db, source, now=now, reference=request.reference)
            continue
        customer = find_customer(db, source, request.external_id, request.email)
        if customer is None:
            logger.info("privacy %s from %s: no such customer held", request.kind, source)
            record(db, request.kind, source, None, request.reference, now=now)
        elif request.kind == "export":
            export(
                db, customer, source=source, reference=request.reference, now=now, into=exports_dir
            )
        else:
            forget(db, customer, source=source, reference=request.reference, now=now)
