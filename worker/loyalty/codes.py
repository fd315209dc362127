"""A reward's code: taken from a pool imported from the shop's export, or created through the
platform's API (an issuer: worker/sources/shopify_discounts.py, woocommerce_coupons.py).

A code created through an API is named by the reward (a keyed digest of its id), so a try
whose answer was lost and the retry after it ask for the same code: the platform's "already
exists" is then the first try's success, never a second code. A platform that is away leaves
the reward unlocked without a code, tried again by the clock; it is announced
(`reward.unlocked`) once it has its code.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any, Protocol

from sqlalchemy import bindparam, func, select, update
from sqlmodel import Session

from models import RewardState
from models.db import insert_ignoring_duplicates
from models.tables import CUSTOMERS, LOYALTY_CODES, LOYALTY_REWARDS
from triggers.programme import Programme
from triggers.rewards import Reward
from worker.loyalty import notices
from worker.loyalty.views import own_value

R = LOYALTY_REWARDS.c
K = LOYALTY_CODES.c
CODE_PREFIX = "LDR-"


class IssueError(Exception):
    """A platform did not create a code. `taken`: it has that code already (a lost answer of
    an earlier try); `transient`: away or busy, worth another try later."""

    def __init__(self, message: str, *, taken: bool = False, transient: bool = False) -> None:
        super().__init__(message)
        self.taken, self.transient = taken, transient


@dataclass(frozen=True)
class CodeRequest:
    code: str
    reward: Reward
    currency: str
    starts_at: datetime
    expires_at: datetime | None
    email: str


class CodeIssuer(Protocol):
    """Creates one single-use code on a store platform. Raises IssueError."""

    platform: str

    def create(self, request: CodeRequest) -> None: ...


def code_for(secret: bytes, reward_id: int) -> str:
    """The code an API creates for reward `reward_id`: the same on every try, unguessable."""
    mac = hmac.new(secret, f"ladder-reward:{reward_id}".encode(), hashlib.sha256).digest()
    return CODE_PREFIX + base64.b32encode(mac).decode()[:12]


def announce_unlocked(
    db: Session, programme: Programme, reward_id: int, *, now: datetime, currency: str = ""
) -> bool:
    """`reward.unlocked` for a reward that has its code, once (`reward.unlocked:<id>`).
    `currency`: the shop's, for a reward of its own amount (a dividend, never a pool's)."""
    row = db.execute(
        select(LOYALTY_REWARDS, CUSTOMERS.c.email)
        .join(CUSTOMERS, CUSTOMERS.c.id == R.customer_id)
        .where(R.id == reward_id)
    ).one()
    reward = programme.named_reward(row.reward)
    value = own_value(row, reward, currency=currency) if currency else reward and reward.value
    data = {
        "reward": row.reward,
        "title": reward.title if reward else row.reward,
        "kind": reward.kind if reward else None,
        "value": None if value is None else str(value),
        "partner": reward.partner if reward else None,
        "code": row.code,
        "points": row.points,
        "expires_at": row.expires_at.isoformat() if row.expires_at else None,
    }
    return notices.announce(
        db,
        event_type="reward.unlocked",
        key=str(reward_id),
        customer_id=int(row.customer_id),
        email=row.email,
        data=data,
        now=now,
    )


def give_pool_codes(
    db: Session,
    programme: Programme,
    *,
    now: datetime,
    reward_ids: Sequence[int] | None = None,
    customer_ids: Sequence[int] | None = None,
) -> int:
    """Gives each pool reward still without a code (of `reward_ids`, of `customer_ids`, or
    all) the pool's next
    free code, and announces it. A pool that has run dry leaves the reward waiting for the
    next import. Returns how many got a code. Does not commit."""
    dialect = db.get_bind().dialect.name
    query = select(R.id, R.reward).where(
        R.state == RewardState.UNLOCKED.value, R.code.is_(None), R.code_source == "pool"
    )
    if reward_ids is not None:
        query = query.where(R.id.in_(list(reward_ids)))
    if customer_ids is not None:
        query = query.where(R.customer_id.in_(sorted(set(customer_ids))))
    query = query.order_by(R.id)
    if dialect == "postgresql":
        query = query.with_for_update(skip_locked=True)  # a reward another run is coding
    given = 0
    for reward_id, name in list(db.execute(query)):
        code = db.execute(_take_code(dialect), {"pool": name, "b_reward_id": reward_id}).scalar()
        if code is None:
            continue  # the pool is empty: it waits for `ladder loyalty codes import`
        db.execute(_attach(), {"b_id": reward_id, "b_code": code})
        announce_unlocked(db, programme, reward_id, now=now)
        given += 1
    return given


@cache
def _take_code(dialect: str) -> Any:
    free = (
        select(K.id)
        .where(K.reward == bindparam("pool"), K.reward_id.is_(None))
        .order_by(K.id)
        .limit(1)
    )
    if dialect == "postgresql":
        free = free.with_for_update(skip_locked=True)
    # `reward_id IS NULL` again: a code another transaction took meanwhile is not taken twice.
    return (
        update(LOYALTY_CODES)
        .where(K.id == free.scalar_subquery(), K.reward_id.is_(None))
        .values(reward_id=bindparam("b_reward_id"))
        .returning(K.code)
    )


@cache
def _attach() -> Any:
    return (
        update(LOYALTY_REWARDS)
        .where(R.id == bindparam("b_id"), R.code.is_(None))
        .values(code=bindparam("b_code"), issue_error=None)
    )


@dataclass
class Issued:
    created: int = 0
    waiting: int = 0  # the platform was away or refused: tried again later


def issue_through_platforms(
    db: Session,
    programme: Programme,
    issuers: Mapping[str, CodeIssuer],
    *,
    secret: bytes,
    currency: str,
    now: datetime,
    limit: int = 100,
) -> Issued:
    """Creates the codes of API rewards still without one, oldest first, each committed with
    its announcement; no transaction stays open across a platform's answer."""
    query = (
        select(LOYALTY_REWARDS, CUSTOMERS.c.email)
        .join(CUSTOMERS, CUSTOMERS.c.id == R.customer_id)
        .where(R.state == RewardState.UNLOCKED.value, R.code.is_(None), R.code_source != "pool")
        .order_by(R.id)
        .limit(limit)
    )
    rows = list(db.execute(query))
    db.commit()
    issued = Issued()
    for row in rows:
        problem = _create(row, programme, issuers, secret=secret, currency=currency)
        if problem is None:
            attached = db.execute(
                _attach(), {"b_id": row.id, "b_code": code_for(secret, row.id)}
            ).rowcount  # type: ignore[attr-defined]
            if attached:  # else another clock attached it first, and announced it
                announce_unlocked(db, programme, row.id, now=now, currency=currency)
                issued.created += 1
        else:
            db.execute(
                update(LOYALTY_REWARDS)
                .where(R.id == row.id)
                .values(issue_attempts=R.issue_attempts + 1, issue_error=problem[:500])
            )
            issued.waiting += 1
        db.commit()
    return issued


def _create(
    row: Any,
    programme: Programme,
    issuers: Mapping[str, CodeIssuer],
    *,
    secret: bytes,
    currency: str,
) -> str | None:
    """Asks the platform for the reward's code; None when it has it, else why not."""
    reward = programme.named_reward(row.reward)
    if reward is None:
        return f"the reward {row.reward!r} is no longer in the programme file"
    issuer = issuers.get(row.code_source)
    if issuer is None:
        return f"no {row.code_source} API is configured (see README, loyalty codes)"
    if row.value_minor is not None:  # a dividend: the code takes off the member's own amount
        reward = reward.model_copy(update={"value": own_value(row, reward, currency=currency)})
    request = CodeRequest(
        code=code_for(secret, row.id),
        reward=reward,
        currency=currency,
        starts_at=row.created_at,
        expires_at=row.expires_at,
        email=row.email,
    )
    try:
        issuer.create(request)
    except IssueError as exc:
        if exc.taken:
            return None  # created by an earlier try whose answer was lost
        return f"{'away' if exc.transient else 'refused'}: {exc}"
    return None


def import_pool(
    db: Session, reward: str, codes: Sequence[str], *, source: str, now: datetime
) -> int:
    """Adds the codes (upper-cased, as orders' codes are read) to `reward`'s pool; a code
    Ladder has already (in any pool) is left as it is. Returns how many were added. Does not
    commit."""
    kept = dict.fromkeys(code.strip().upper() for code in codes if code.strip())
    rows = [{"reward": reward, "code": code, "source": source, "imported_at": now} for code in kept]
    added = 0
    for start in range(0, len(rows), 1000):
        added += len(
            insert_ignoring_duplicates(db, LOYALTY_CODES, rows[start : start + 1000], K.id)
        )
    return added


def pool_sizes(db: Session) -> dict[str, tuple[int, int]]:
    """Each pool's (free, given) codes, by reward name."""
    query = select(K.reward, func.count(), func.count(K.reward_id)).group_by(K.reward)
    return {name: (total - given, given) for name, total, given in db.execute(query)}
