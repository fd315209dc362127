"""The demo shop: Faker customers and two years of their orders, as canonical events in time order.

Deterministic for a seed: the same seed yields the same customers, orders and times.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from enum import StrEnum

from faker import Faker

from worker.canonical import CanonicalEvent, CustomerIn, LineIn, OrderIn
from worker.demo.catalogue import EVERYDAY, PREMIUM

HISTORY_START = datetime(2024, 1, 1, tzinfo=UTC)
HISTORY = timedelta(days=730)
LAPSED_QUIET = timedelta(days=120)  # a lapsed customer's last order is at least this old
CURRENCY = "EUR"
SOURCE = "api"
CONSENT_RATE = 0.85
ACCOUNT_RATE = 0.15  # open an account (customer.created) some days before the first order
CANCEL_RATE = 0.03
REFUND_RATE = 0.02

# customer locale: (Faker locale, share of customers, time zone, its UTC offset in hours)
LOCALES: dict[str, tuple[str, float, str, int]] = {
    "en": ("en_US", 0.40, "America/New_York", -5),
    "es": ("es_ES", 0.20, "Europe/Madrid", 1),
    "de": ("de_DE", 0.20, "Europe/Berlin", 1),
    "ru": ("ru_RU", 0.10, "Europe/Moscow", 3),
    "zh": ("zh_CN", 0.10, "Asia/Shanghai", 8),
}
# Local hours people shop at, busiest at lunch and in the evening.
HOURS = list(range(7, 24))
HOUR_WEIGHTS = [1, 2, 3, 3, 4, 6, 6, 4, 3, 3, 4, 6, 8, 8, 6, 4, 2]


class Persona(StrEnum):
    ONE_TIME = "one-time buyer"
    REPEAT = "repeat buyer"
    BIG_SPENDER = "big spender"
    LAPSED = "lapsed"


@dataclass(frozen=True)
class Habit:
    share: float
    orders: tuple[int, int]  # fewest and most orders over the history
    first_within: float  # the first order falls in this leading fraction of the history
    gap_days: float  # mean days between two orders
    lines: tuple[int, int]  # fewest and most lines in a basket
    premium: float  # chance that a line comes from the premium shelf


HABITS: dict[Persona, Habit] = {
    Persona.ONE_TIME: Habit(0.55, (1, 1), 1.0, 0, (1, 3), 0.04),
    Persona.REPEAT: Habit(0.27, (2, 4), 0.8, 75, (1, 3), 0.08),
    Persona.BIG_SPENDER: Habit(0.04, (6, 14), 0.4, 35, (2, 5), 0.40),
    Persona.LAPSED: Habit(0.14, (3, 5), 0.5, 30, (1, 3), 0.12),
}


@dataclass(frozen=True)
class Shopper:
    number: int
    persona: Persona
    profile: CustomerIn
    utc_offset: int


def generate(
    customers: int, *, seed: int, start: datetime = HISTORY_START
) -> Iterator[CanonicalEvent]:
    """Every event of `customers` shoppers over two years from `start`, oldest first."""
    rng = random.Random(seed)
    fakers = {code: Faker(spec[0]) for code, spec in LOCALES.items()}
    for offset, faker in enumerate(fakers.values()):
        faker.seed_instance(seed + offset)
    events: list[CanonicalEvent] = []
    for number in range(1, customers + 1):
        shopper = make_shopper(number, rng, fakers)
        events.extend(shopper_events(shopper, rng, start))
    events.sort(key=lambda event: (event.occurred_at, event.id))
    yield from events


def make_shopper(number: int, rng: random.Random, fakers: dict[str, Faker]) -> Shopper:
    locale = rng.choices(list(LOCALES), weights=[spec[1] for spec in LOCALES.values()])[0]
    personas = list(HABITS)
    persona = rng.choices(personas, weights=[HABITS[name].share for name in personas])[0]
    faker = fakers[locale]
    female = rng.random() < 0.5
    first = faker.first_name_female() if female else faker.first_name_male()
    last = faker.last_name_female() if female else faker.last_name_male()
    profile = CustomerIn(
        id=f"c-{number:05d}",
        email=f"{faker.user_name()}.{number}@{rng.choice(['example.com', 'example.org'])}",
        first_name=first,
        last_name=last,
        locale=locale,
        timezone=LOCALES[locale][2],
        accepts_marketing=rng.random() < CONSENT_RATE,
    )
    return Shopper(number, persona, profile, LOCALES[locale][3])


def order_days(habit: Habit, persona: Persona, rng: random.Random) -> list[float]:
    """Days after the start of the history on which this shopper orders."""
    last_day = HISTORY.days - (LAPSED_QUIET.days if persona is Persona.LAPSED else 0)
    day = rng.uniform(0, habit.first_within * last_day)
    days = [day]
    for _ in range(rng.randint(*habit.orders) - 1):
        day += max(3.0, rng.gammavariate(4.0, habit.gap_days / 4.0))
        if day > last_day:
            break
        days.append(day)
    return days


def local_time(start: datetime, day: float, offset: int, rng: random.Random) -> datetime:
    """A plausible shopping time on `day`, in the shopper's local hours, as UTC."""
    hour = rng.choices(HOURS, weights=HOUR_WEIGHTS)[0]
    midnight = start + timedelta(days=int(day))
    return midnight + timedelta(hours=hour - offset, minutes=rng.randint(0, 59))


def basket(habit: Habit, rng: random.Random) -> list[LineIn]:
    chosen: dict[str, LineIn] = {}
    for _ in range(rng.randint(*habit.lines)):
        product = rng.choice(PREMIUM if rng.random() < habit.premium else EVERYDAY)
        quantity = 1 if product.premium else rng.choices([1, 2, 3], weights=[7, 2, 1])[0]
        chosen[product.id] = LineIn(
            product_id=product.id,
            title=product.title,
            category=product.category,
            quantity=quantity,
            price=product.price,
        )
    return list(chosen.values())


def shopper_events(shopper: Shopper, rng: random.Random, start: datetime) -> list[CanonicalEvent]:
    habit = HABITS[shopper.persona]
    events: list[CanonicalEvent] = []
    for sequence, day in enumerate(order_days(habit, shopper.persona, rng), start=1):
        placed_at = local_time(start, day, shopper.utc_offset, rng)
        lines = basket(habit, rng)
        total = sum((line.price * line.quantity for line in lines), Decimal(0))
        order_id = f"{shopper.number:05d}-{sequence:02d}"
        order = OrderIn(id=order_id, total=total, currency=CURRENCY, lines=lines)
        events.append(order_event(shopper, order, "order.placed", placed_at))
        events.extend(afterthoughts(shopper, order, placed_at, rng))
    if rng.random() < ACCOUNT_RATE:
        opened = events[0].occurred_at - timedelta(hours=rng.uniform(1, 24 * 20))
        events.append(account_event(shopper, max(opened, start)))
    return events


def afterthoughts(
    shopper: Shopper, order: OrderIn, placed_at: datetime, rng: random.Random
) -> list[CanonicalEvent]:
    """Now and then an order is cancelled within a day or refunded within three weeks."""
    roll = rng.random()
    if roll < CANCEL_RATE:
        at = placed_at + timedelta(hours=rng.uniform(7, 30))
        return [order_event(shopper, order, "order.cancelled", at)]
    if roll < CANCEL_RATE + REFUND_RATE:
        at = placed_at + timedelta(days=rng.uniform(4, 20))
        return [order_event(shopper, order, "order.refunded", at)]
    return []


def order_event(shopper: Shopper, order: OrderIn, kind: str, at: datetime) -> CanonicalEvent:
    return CanonicalEvent(
        source=SOURCE,
        id=f"ord-{order.id}-{kind.removeprefix('order.')}",
        type=kind,
        occurred_at=at,
        customer=shopper.profile,
        order=order,
    )


def account_event(shopper: Shopper, at: datetime) -> CanonicalEvent:
    return CanonicalEvent(
        source=SOURCE,
        id=f"cust-{shopper.number:05d}-created",
        type="customer.created",
        occurred_at=at,
        customer=shopper.profile,
    )
