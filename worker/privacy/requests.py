"""Privacy requests from a platform (or the CLI): each carried out in the caller's transaction."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import ColumnElement
from sqlmodel import Session

from worker.privacy.erasure import account_matches, forget, forget_account
from worker.privacy.exports import export
from worker.privacy.holdings import carried_out, find_customer, record
from worker.settings import Settings
from worker.sources import PrivacyRequest

logger = logging.getLogger(__name__)

# The erasing kinds: carried out once per reference (a signed body's digest), however often the
# body comes back under a new webhook id.
ERASURES = ("forget", "shop_redact")


def carry_out(
    db: Session,
    source: str,
    requests: Sequence[PrivacyRequest],
    *,
    now: datetime,
    settings: Settings,
) -> None:
    """Carries out each request inside the caller's transaction (the caller commits).

    An erasure reaches only the customers of the shop that asked (`request.account`), and is
    carried out once: a repeat of its reference does nothing.
    """
    for request in requests:
        if (
            request.kind in ERASURES
            and request.reference is not None
            and carried_out(db, request.kind, source, request.reference)
        ):
            logger.info("privacy %s from %s: carried out before, not again", request.kind, source)
            continue
        unattributed = _unattributed(settings, source, request.account)
        if request.kind == "shop_redact":
            if request.account is None:  # a source's readers always name the shop
                raise ValueError("a shop_redact request names no shop")
            forget_account(
                db,
                source,
                request.account,
                now=now,
                reference=request.reference,
                settings=settings,
                unattributed=unattributed,
            )
            continue
        scope: ColumnElement[bool] | None = None
        if request.account is not None:
            scope = account_matches(request.account, unattributed=unattributed)
        customer = find_customer(db, source, request.external_id, request.email, account=scope)
        if customer is None:
            logger.info("privacy %s from %s: no such customer held", request.kind, source)
            record(
                db, request.kind, source, None, request.reference, now=now, account=request.account
            )
        elif request.kind == "export":
            export(
                db,
                customer,
                source=source,
                reference=request.reference,
                now=now,
                into=settings.exports_dir,
            )
        else:
            forget(
                db,
                customer,
                source=source,
                reference=request.reference,
                now=now,
                settings=settings,
                account=request.account,
            )


def _unattributed(settings: Settings, source: str, account: str | None) -> bool:
    """Whether platform ids recorded before accounts were (NULL) count as `account`'s: when it
    is the shop Ladder is configured for, or when none is (the one shop it served then)."""
    configured = settings.shopify_shop_domain if source == "shopify" else None
    return configured is None or configured == account
