"""A broadcast's audience, written in the triggers' condition language, as one SQL condition
over the customers table: a million customers are chosen by the database, not one at a time.

The subset: `and`, `or`, `not`, comparisons (`==`, `!=`, `<`, `<=`, `>`, `>=`, `in`, `not in`)
between a customer fact and literals, `is none` / `is not none`, `true` / `false`, and
`'tea' in customer.categories` (a product category they bought). Anything else is refused with
what to write instead, so `ladder check` names it rather than the clock.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from jinja2 import TemplateSyntaxError, nodes
from jinja2.sandbox import SandboxedEnvironment
from sqlalchemy import ColumnElement, and_, exists, false, not_, or_, select, true

from models.tables import CUSTOMERS, ORDER_LINES, ORDERS
from models.types import to_minor

C = CUSTOMERS.c
# The customer facts an audience may read, as their columns (`customer_view`'s names).
COLUMNS: dict[str, Any] = {
    "id": C.id,
    "locale": C.locale,
    "timezone": C.timezone,
    "birthday": C.birthday,
    "accepts_marketing": C.accepts_marketing,
    "orders_count": C.orders_count,
    "total_spent": C.total_spent,
    "average_order_value": C.average_order_value,
    "currency": C.currency,
    "rfm": C.rfm,
    "segment": C.segment,
    "previous_segment": C.previous_segment,
}
MONEY = frozenset({"total_spent", "average_order_value"})  # major units in conditions
SPECIAL = ("days_since_last_order", "categories")
READS = tuple(sorted([*COLUMNS, *SPECIAL]))
_OPERATORS: dict[str, Callable[[Any, Any], Any]] = {
    "eq": lambda a, b: a == b,
    "ne": lambda a, b: a != b,
    "lt": lambda a, b: a < b,
    "lteq": lambda a, b: a <= b,
    "gt": lambda a, b: a > b,
    "gteq": lambda a, b: a >= b,
}
_FLIPPED = {"eq": "eq", "ne": "ne", "lt": "gt", "lteq": "gteq", "gt": "lt", "gteq": "lteq"}


class AudienceError(ValueError):
    """An audience the SQL subset cannot say; the message says what to write instead."""


def compile_audience(
    env: SandboxedEnvironment, text: str, *, now: datetime, currency: str
) -> ColumnElement[bool]:
    """The audience `text` as a condition on CUSTOMERS. `now` anchors `days_since_last_order`,
    `currency` (the shop's) converts money literals to the columns' minor units. Raises
    AudienceError."""
    try:
        template = env.parse("{{ " + text + " }}")
    except TemplateSyntaxError as exc:
        raise AudienceError(f"not a valid expression: {exc.message}") from exc
    body = template.body
    if len(body) != 1 or not isinstance(body[0], nodes.Output) or len(body[0].nodes) != 1:
        raise AudienceError("write one expression, e.g. \"customer.segment == 'champions'\"")
    return _Compiler(now, currency).condition(body[0].nodes[0])


class _Compiler:
    def __init__(self, now: datetime, currency: str) -> None:
        self.now, self.currency = now, currency

    def condition(self, node: nodes.Node) -> ColumnElement[bool]:
        if isinstance(node, nodes.And):
            return and_(self.condition(node.left), self.condition(node.right))
        if isinstance(node, nodes.Or):
            return or_(self.condition(node.left), self.condition(node.right))
        if isinstance(node, nodes.Not):
            return not_(self.condition(node.node))
        if isinstance(node, nodes.Const) and isinstance(node.value, bool):
            return true() if node.value else false()
        if isinstance(node, nodes.Test):
            return self._test(node)
        if isinstance(node, nodes.Compare) and len(node.ops) == 1:
            return self._compare(node.expr, node.ops[0].op, node.ops[0].expr)
        if (fact := _fact(node)) is not None and fact == "accepts_marketing":
            return C.accepts_marketing.is_(true())
        raise AudienceError(
            f"{_shown(node)} is not a condition an audience can use: compare a customer fact"
            f' with a value, e.g. "customer.orders_count >= 1" (facts: {", ".join(READS)})'
        )

    def _test(self, node: nodes.Test) -> ColumnElement[bool]:
        fact = _fact(node.node)
        if node.name != "none" or fact is None or fact in SPECIAL:
            raise AudienceError("only `customer.<fact> is none` is a test an audience can use")
        return COLUMNS[fact].is_(None)  # type: ignore[no-any-return]

    def _compare(self, left: nodes.Expr, op: str, right: nodes.Expr) -> ColumnElement[bool]:
        if op in ("in", "notin"):
            found = self._membership(left, right)
            return not_(found) if op == "notin" else found
        if _fact(left) is None and _fact(right) is not None:
            left, right, op = right, left, _FLIPPED[op]
        fact = _fact(left)
        if fact is None or fact == "categories" or not isinstance(right, nodes.Const):
            raise AudienceError(
                f"{_shown(left)} compared with {_shown(right)}: compare one customer fact with"
                " a literal value"
            )
        if fact == "days_since_last_order":
            return _days_since(op, right.value, self.now)
        return _OPERATORS[op](COLUMNS[fact], self._value(fact, right.value))  # type: ignore[no-any-return]

    def _membership(self, left: nodes.Expr, right: nodes.Expr) -> ColumnElement[bool]:
        if _fact(right) == "categories" and isinstance(left, nodes.Const):
            return _bought(str(left.value))
        fact = _fact(left)
        if fact is None or fact in SPECIAL or not isinstance(right, nodes.List | nodes.Tuple):
            raise AudienceError(
                "`in` needs a customer fact and a list (\"customer.segment in ['loyal',"
                " 'champions']\") or a category and customer.categories (\"'tea' in"
                ' customer.categories")'
            )
        values = []
        for item in right.items:
            if not isinstance(item, nodes.Const):
                raise AudienceError(f"{_shown(item)} in a list: write literal values only")
            values.append(self._value(fact, item.value))
        return COLUMNS[fact].in_(values)  # type: ignore[no-any-return]

    def _value(self, fact: str, value: Any) -> Any:
        if fact in MONEY:
            if isinstance(value, bool) or not isinstance(value, int | float | str):
                raise AudienceError(f"customer.{fact} is an amount: compare it with a number")
            return to_minor(str(value), self.currency)
        return value


def _fact(node: nodes.Node) -> str | None:
    """The fact `customer.<fact>` (or `customer['fact']`) names; None for anything else."""
    attribute: Any = None
    if isinstance(node, nodes.Getattr):
        attribute = node.attr
    elif isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const):
        attribute = node.arg.value
    else:
        return None
    target = node.node
    if not (isinstance(target, nodes.Name) and target.name == "customer"):
        return None
    if attribute not in COLUMNS and attribute not in SPECIAL:
        raise AudienceError(
            f"customer.{attribute} is not a fact an audience can read: use {', '.join(READS)}"
        )
    return str(attribute)


def _shown(node: nodes.Node) -> str:
    if isinstance(node, nodes.Const):
        return repr(node.value)
    if isinstance(node, nodes.Name):
        return f"`{node.name}`"
    if isinstance(node, nodes.Getattr):
        return f"{_shown(node.node).strip('`')}.{node.attr}"
    return f"a {type(node).__name__.lower()}"


def _days_since(op: str, value: Any, now: datetime) -> ColumnElement[bool]:
    """`days_since_last_order <op> n` as a bound on last_order_at: the fact is the whole days
    since that order (`(now - last).days`); a customer without an order is never in it."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise AudienceError("customer.days_since_last_order is a whole number of days")
    last = C.last_order_at
    at_least = now - timedelta(days=value)  # days >= value  ⟺  last <= now - value days
    more = now - timedelta(days=value + 1)  # days > value  ⟺  last <= now - (value + 1) days
    found = {
        "gteq": last <= at_least,
        "gt": last <= more,
        "lt": last > at_least,
        "lteq": last > more,
        "eq": and_(last > more, last <= at_least),
        "ne": or_(last <= more, last > at_least),
    }
    return found[op]


def _bought(category: str) -> ColumnElement[bool]:
    """The customer has an order with a line of this product category."""
    return exists(
        select(ORDER_LINES.c.id)
        .join(ORDERS, ORDERS.c.id == ORDER_LINES.c.order_id)
        .where(ORDERS.c.customer_id == C.id, ORDER_LINES.c.category == category)
    )
