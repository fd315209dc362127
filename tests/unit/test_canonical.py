"""The canonical event: strict validation whose errors name the fields to fix."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from worker.canonical import CanonicalEvent, OrderIn, describe_errors, digest


def event(**overrides: Any) -> dict[str, Any]:
    document: dict[str, Any] = {
        "source": "api",
        "id": "ord-1001-placed",
        "type": "order.placed",
        "occurred_at": "2026-05-01T10:00:00+02:00",
        "customer": {"id": "c-17", "email": " Ana@Example.COM ", "accepts_marketing": True},
        "order": {
            "id": "1001",
            "total": "45.90",
            "currency": "EUR",
            "lines": [{"title": "Té verde", "quantity": 2, "price": "22.95"}],
        },
    }
    document.update(overrides)
    return document


def errors_of(document: dict[str, Any], prefix: str = "") -> dict[str, str]:
    with pytest.raises(ValidationError) as caught:
        CanonicalEvent.model_validate(document)
    return {item["field"]: item["error"] for item in describe_errors(caught.value, prefix)}


def test_the_documented_example_is_accepted_with_exact_amounts() -> None:
    parsed = CanonicalEvent.model_validate(event())
    assert parsed.customer.email == "ana@example.com"
    assert parsed.occurred_at.astimezone(UTC) == datetime(2026, 5, 1, 8, tzinfo=UTC)
    assert parsed.order is not None
    assert parsed.order.total == Decimal("45.90")
    assert parsed.order.lines[0].price == Decimal("22.95")


def test_errors_name_each_nested_field_that_is_wrong() -> None:
    order = {
        "id": "1001",
        "total": "abc",
        "currency": "eur",
        "lines": [{"title": "Tea", "price": "-1"}],
    }
    errors = errors_of(event(order=order))
    assert set(errors) == {"order.total", "order.currency", "order.lines.0.price"}
    assert errors["order.total"] == "Input should be a valid decimal"
    assert "greater than or equal to 0" in errors["order.lines.0.price"]


def test_a_time_without_a_zone_is_refused_by_name() -> None:
    errors = errors_of(event(occurred_at="2026-05-01T10:00:00"))
    assert errors == {"occurred_at": "Input should have timezone info"}


def test_an_unknown_field_is_refused_by_name() -> None:
    assert errors_of(event(colour="red")) == {"colour": "Extra inputs are not permitted"}


def test_a_customer_without_id_or_email_is_refused() -> None:
    errors = errors_of(event(customer={"first_name": "Ana"}))
    assert errors == {"customer": "Value error, a customer needs an id or an email"}


def test_an_invalid_email_and_event_type_are_both_reported() -> None:
    errors = errors_of(event(type="Order Placed", customer={"email": "not-an-email"}))
    assert set(errors) == {"type", "customer.email"}


def test_an_order_event_without_an_order_is_an_error_about_the_whole_event() -> None:
    document = event()
    del document["order"]
    assert errors_of(document) == {"(event)": "Value error, a order.placed event needs an `order`"}


def test_errors_in_a_batch_are_prefixed_with_the_position() -> None:
    assert errors_of(event(occurred_at="yesterday"), prefix="3.").keys() == {"3.occurred_at"}
    document = event()
    del document["order"]
    assert errors_of(document, prefix="3.").keys() == {"3.(event)"}


def test_an_orders_codes_are_kept_upper_case_and_its_fingerprints_as_digests_only() -> None:
    order = OrderIn.model_validate(
        {
            "id": "1",
            "total": "10",
            "currency": "EUR",
            "discount_codes": ["spring-a1", "LDR-7Q2M"],
            "fingerprints": {"device": "203.0.113.9|Firefox", "payment": "sha256:" + "a" * 64},
        }
    )

    assert order.discount_codes == ["SPRING-A1", "LDR-7Q2M"]
    assert order.fingerprints is not None
    assert order.fingerprints.payment == "sha256:" + "a" * 64  # a platform's digest, as sent
    assert order.fingerprints.device == digest("device", "203.0.113.9|firefox")
    assert "203.0.113.9" not in order.model_dump_json()
