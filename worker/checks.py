"""`ladder check`: every trigger file valid, every template variant renders with sample data."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from rich.console import Console
from rich.table import Table

from triggers import TriggerError, TriggerSet, load_trigger, load_triggers
from worker.rendering import Renderer, RenderError
from worker.settings import Settings


def sample_context(settings: Settings) -> dict[str, Any]:
    """A plausible customer and order, with every field a template may read."""
    now = datetime.now(UTC)
    order = {
        "id": "1001",
        "status": "placed",
        "total": Decimal("45.90"),
        "currency": "EUR",
        "placed_at": now,
        "lines": [
            {
                "product_id": "p-9",
                "title": "Green tea",
                "category": "tea",
                "quantity": 2,
                "price": Decimal("22.95"),
            }
        ],
    }
    customer = {
        "id": 1,
        "first_name": "Ana",
        "last_name": "García",
        "locale": "es",
        "timezone": "Europe/Madrid",
        "birthday": None,
        "accepts_marketing": True,
        "orders_count": 3,
        "total_spent": Decimal("120.00"),
        "average_order_value": Decimal("40.00"),
        "currency": "EUR",
        "first_order_at": now,
        "last_order_at": now,
        "days_since_last_order": 61,
        "rfm": "545",
        "segment": "champions",
    }
    return {
        "event": {
            "id": "e-1",
            "source": "api",
            "type": "order.placed",
            "occurred_at": now,
            "data": {},
        },
        "customer": customer,
        "order": order,
        "before": {
            "orders_count": 2,
            "total_spent": Decimal("74.10"),
            "average_order_value": Decimal("37.05"),
        },
        "shop": {"name": settings.shop_name, "postal_address": settings.postal_address},
        "now": now,
        "unsubscribe_url": f"{settings.public_url}/unsubscribe/sample",
    }


def _check_triggers(
    settings: Settings, renderer: Renderer, table: Table, problems: list[str]
) -> set[str]:
    """Checks each trigger file on its own, so one mistake does not hide the next; adds rows
    and problems; returns the messages the valid ones send."""
    messages: set[str] = set()
    for path in sorted(settings.triggers_dir.glob("*.toml")):
        try:
            trigger = load_trigger(path, renderer.env)
            table.add_row("trigger", trigger.name, "[green]ok[/green]")
            messages.add(trigger.message)
        except TriggerError as exc:
            problems.append(str(exc))
            table.add_row("trigger", path.name, f"[red]{exc}[/red]")
    if not problems:
        try:  # names unique across files
            TriggerSet.build(renderer.env, load_triggers(settings.triggers_dir, renderer.env))
        except TriggerError as exc:
            problems.append(str(exc))
            table.add_row("trigger", exc.path.name, f"[red]{exc}[/red]")
    return messages


def run_checks(settings: Settings, console: Console) -> list[str]:
    """Prints a table of what was checked; returns the problems found."""
    renderer = Renderer(settings.templates_dir, settings.default_locale)
    problems: list[str] = []
    table = Table(title="ladder check")
    for column in ("kind", "name", "result"):
        table.add_column(column)
    messages = _check_triggers(settings, renderer, table, problems)
    context = sample_context(settings)
    for variant in sorted(renderer.available):
        if variant.startswith(("layouts/", "partials/")):
            continue
        try:
            rendered = renderer.render_variant(variant, context)
            table.add_row("template", variant, f"[green]ok[/green] — {rendered.subject}")
        except RenderError as exc:
            problems.append(str(exc))
            table.add_row("template", variant, f"[red]{exc}[/red]")
    for message in sorted(messages):
        if f"{message}/default.html.j2" not in renderer.available:
            problem = f"trigger message {message!r} has no templates/{message}/default.html.j2"
            problems.append(problem)
            table.add_row("message", message, f"[red]{problem}[/red]")
    console.print(table)
    return problems
