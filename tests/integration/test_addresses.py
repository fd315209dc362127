"""Addresses are checked when a customer arrives: an invalid one is suppressed, never mailed."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlmodel import Session, select

from models import Suppression
from worker.canonical import CustomerIn
from worker.processing.addresses import address_problem
from worker.processing.customers import Sighting, find_keys, resolve_customers

T0 = datetime(2026, 5, 1, 10, 0, tzinfo=UTC)


def arrive(db: Session, sighting: Sighting) -> None:
    """The customer as `process` resolves one: found by key, then upserted."""
    keys = find_keys(db, [sighting])
    resolve_customers(db, [sighting], [key for key in keys if key is not None])
    db.commit()


@pytest.mark.parametrize(
    ("email", "problem"),
    [
        ("ana@example.com", None),
        ("ana@@example.com", "The part after the @-sign contains invalid characters: '@'."),
        ("ana@localhost", "The part after the @-sign is not valid. It should have a period."),
        ("ana@shop.test", "The part after the @-sign is a special-use or reserved name"),
    ],
)
def test_an_address_is_checked_by_its_syntax(email: str, problem: str | None) -> None:
    found = address_problem(email)
    assert found == problem if problem is None else (found or "").startswith(problem)


def test_a_new_customer_with_an_invalid_address_is_suppressed_with_the_reason(
    db: Session,
) -> None:
    # A platform module may build the customer without the API's EmailStr check.
    incoming = CustomerIn.model_construct(id="c-1", email="ana@localhost")

    arrive(db, Sighting("shopify", incoming, T0))

    suppression = db.exec(select(Suppression)).one()
    assert suppression.email == "ana@localhost"
    assert suppression.reason.startswith("invalid address: The part after the @-sign")
    assert suppression.created_at == T0


def test_a_new_customer_with_a_good_address_is_not_suppressed(db: Session) -> None:
    arrive(db, Sighting("api", CustomerIn(email="ana@example.com"), T0))

    assert db.exec(select(Suppression)).all() == []
