"""Many due deliveries at once, written straight into the tables: for the storm test and the
delivery bench, which time sending, not the pipeline before it."""

from __future__ import annotations

import shutil
from datetime import datetime
from pathlib import Path

from sqlalchemy import insert, select
from sqlmodel import Session, col

from models import Customer, Delivery, DeliveryStatus, Event, EventStatus
from worker.providers import delivery_key
from worker.settings import PROJECT_ROOT

TRIGGER = """name = "hello"
message = "hello"
on = "customer.created"
"""
TEMPLATE = """{% extends "layouts/base.html.j2" %}
{% block subject %}Hello {{ customer.first_name or "friend" }}{% endblock %}
{% block body %}<p>{{ greeting }}, welcome to {{ shop.name }}.</p>{% endblock %}
"""


def write_hello_message(root: Path) -> tuple[Path, Path]:
    """A one-trigger, one-template shop under `root`, with the shipped layout and partials (the
    unsubscribe link and postal address live there); returns (triggers_dir, templates_dir)."""
    triggers, templates = root / "triggers", root / "templates"
    for shared in ("layouts", "partials"):
        shutil.copytree(PROJECT_ROOT / "templates" / shared, templates / shared, dirs_exist_ok=True)
    (templates / "hello").mkdir(parents=True, exist_ok=True)
    triggers.mkdir(parents=True, exist_ok=True)
    (triggers / "hello.toml").write_text(TRIGGER, encoding="utf-8")
    (templates / "hello" / "default.html.j2").write_text(TEMPLATE, encoding="utf-8")
    return triggers, templates


def seed_due_deliveries(db: Session, count: int, *, now: datetime, prefix: str = "c") -> list[int]:
    """`count` consenting customers, each with one `hello` delivery due now; commits."""
    customers = [
        {
            "email": f"{prefix}{n}@example.com",
            "first_name": f"Ana {n}",
            "accepts_marketing": True,
            "created_at": now,
            "orders_count": 0,
            "total_spent": 0,
            "average_order_value": 0,
        }
        for n in range(count)
    ]
    db.execute(insert(Customer), customers)
    customer_ids = list(
        db.scalars(
            select(col(Customer.id)).where(col(Customer.email).like(f"{prefix}%@example.com"))
        )
    )
    db.execute(
        insert(Event),
        [
            {
                "source": "api",
                "source_event_id": f"{prefix}-created-{customer_id}",
                "type": "customer.created",
                "customer_id": customer_id,
                "occurred_at": now,
                "received_at": now,
                "payload": {},
                "status": EventStatus.PROCESSED,
            }
            for customer_id in customer_ids
        ],
    )
    events = db.execute(
        select(col(Event.id), col(Event.customer_id)).where(
            col(Event.source_event_id).like(f"{prefix}-created-%")
        )
    ).all()
    db.execute(
        insert(Delivery),
        [
            {
                "dedupe_key": f"hello:{event_id}",
                "trigger": "hello",
                "message": "hello",
                "customer_id": customer_id,
                "cause_event_id": event_id,
                "status": DeliveryStatus.SCHEDULED,
                "send_at": now,
                "created_at": now,
                "enqueued_at": now,
            }
            for event_id, customer_id in events
        ],
    )
    db.commit()
    delivery_ids = db.execute(
        select(col(Delivery.id)).where(col(Delivery.trigger) == "hello").order_by(col(Delivery.id))
    ).scalars()
    return [int(delivery_id) for delivery_id in delivery_ids]


def eml_name(db: Session, delivery_id: int) -> str:
    """The name of the file the file backend writes for a delivery."""
    delivery = db.get_one(Delivery, delivery_id)
    return f"{delivery_key(delivery_id, delivery.created_at)}.eml"
