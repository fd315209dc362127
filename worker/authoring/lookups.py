"""The studio's look-ups: a customer by address or name, and the suppression list a page at a
time. Every query is bounded by its LIMIT, so a shop of millions answers as fast as a small one.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, or_
from sqlmodel import Session, col, select

from models import Customer, Suppression

FOUND_AT_MOST = 20
SUPPRESSIONS_PER_PAGE = 50


def _literal(text: str) -> str:
    """`text` for a LIKE pattern (escape `\\`), its wildcards taken literally."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _typed(text: str) -> str:
    """What was typed without NULs: no address or name holds one, and PostgreSQL refuses them."""
    return text.replace("\x00", "")


def find_customers(db: Session, query: str, *, limit: int = FOUND_AT_MOST) -> list[Customer]:
    """Customers whose address is `query`, or starts with it, or whose first name, last name or
    full name starts with it (case aside); the exact address first, then by address."""
    wanted = " ".join(_typed(query).split()).lower()
    if not wanted:
        return []
    # The exact address: the unique index answers it, the common case when pasting one.
    exact = db.exec(select(Customer).where(col(Customer.email) == wanted)).first()
    c = Customer
    full_name = func.lower(
        func.coalesce(col(c.first_name), "") + " " + func.coalesce(col(c.last_name), "")
    )
    pattern = _literal(wanted) + "%"
    # Walked in the email index's order and stopped at the limit: names have no index.
    more = db.exec(
        select(Customer)
        .where(
            or_(
                col(c.email).like(pattern, escape="\\"),
                func.lower(col(c.first_name)).like(pattern, escape="\\"),
                func.lower(col(c.last_name)).like(pattern, escape="\\"),
                full_name.like(pattern, escape="\\"),
            ),
            col(c.email) != wanted,
        )
        .order_by(col(c.email))
        .limit(limit - (exact is not None))
    ).all()
    return ([exact] if exact is not None else []) + list(more)


@dataclass(frozen=True)
class SuppressionPage:
    rows: list[Suppression]
    older: int | None  # the `before` of the next page; None: this is the last


def suppressions(
    db: Session,
    *,
    containing: str = "",
    before: int | None = None,
    per_page: int = SUPPRESSIONS_PER_PAGE,
) -> SuppressionPage:
    """The newest suppressions first (by id, the order they were made), those with an id under
    `before` when given, whose address contains `containing` when given."""
    query = select(Suppression)
    wanted = _typed(containing).strip().lower()
    if wanted:
        pattern = f"%{_literal(wanted)}%"
        query = query.where(col(Suppression.email).like(pattern, escape="\\"))
    if before is not None:
        query = query.where(col(Suppression.id) < before)
    rows = list(db.exec(query.order_by(col(Suppression.id).desc()).limit(per_page + 1)).all())
    older = rows[per_page - 1].id if len(rows) > per_page else None
    return SuppressionPage(rows[:per_page], older)
