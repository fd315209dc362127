"""The event types Ladder knows: what the platforms and `POST /events` send, what Ladder makes
itself, and the `custom.` namespace for a shop's own. Triggers may name only these, so a typo
in `on` or `unless` is refused by `ladder check`, not left waiting for an event that never comes.
"""

from __future__ import annotations

import difflib

# What a shop's reviews, social or referral app tells through `POST /events`: the actions a
# loyalty programme's `[[action]]` may give points for (triggers/programme_actions.py).
ACTION_EVENTS = frozenset({"review.posted", "social.followed", "referral.made", "birthday.reached"})
# What a store platform's webhook or `POST /events` / `ladder import` may carry.
INCOMING = ACTION_EVENTS | frozenset(
    {
        "customer.created",
        "customer.updated",
        "order.placed",
        "order.paid",
        "order.fulfilled",
        "order.cancelled",
        "order.refunded",
        "checkout.started",
        "checkout.updated",
        "checkout.completed",
        "membership.paid",
        "membership.started",
        "membership.updated",
        "membership.ended",
        "survey.answered",
        "survey.commented",
    }
)
# What Ladder makes itself (the daily segment refresh, the loyalty programme, the ladder):
# never accepted from outside.
SEGMENT_EVENTS = frozenset({"segment.entered", "segment.exited"})
LOYALTY_EVENTS = frozenset(
    {
        "loyalty.joined",  # a customer's first points (loyalty/rounds.py), once
        "points.earned",
        "points.expiring",
        "tier.changed",
        "tier.at_risk",  # the grace below a tier starts (loyalty/tiers.py), once per grace
        "reward.unlocked",
        "reward.redeemed",
        "sweepstake.won",
        "membership.renewal_due",  # the clock's membership sweeps (loyalty/membership_sweeps.py)
        "membership.lapsed",
    }
)
# A customer moved between the ladder's rungs (`measurement/rungs.py`), on an event or daily.
RUNG_EVENTS = frozenset({"rung.up", "rung.down"})
OWN = SEGMENT_EVENTS | LOYALTY_EVENTS | RUNG_EVENTS
# A broadcast's email for one customer (`scheduling/broadcasts.py`): stored already processed,
# the cause of that delivery; no trigger starts on it, no door accepts it.
BROADCAST = "broadcast.scheduled"
# The same for a content series' steps scheduled on one day (`scheduling/series.py`).
SERIES = "series.scheduled"
# A shop's own events (`custom.gift_card.redeemed`): accepted by `POST /events` and `ladder
# import` (no platform sends them), and a trigger may start on or be cancelled by them.
CUSTOM_PREFIX = "custom."


def _hint(value: str, known: frozenset[str]) -> str:
    close = difflib.get_close_matches(value, sorted(known), n=1)
    if close:
        return f" (hint: did you mean {close[0]!r}?)"
    return f"; custom events are named {CUSTOM_PREFIX}<name>, e.g. 'custom.gift_card.redeemed'"


def _is_custom(value: str) -> bool:
    return value.startswith(CUSTOM_PREFIX) and len(value) > len(CUSTOM_PREFIX)


def incoming_problem(value: str) -> str | None:
    """Why `value` may not come in through `POST /events` or `ladder import`; None if it may."""
    if value in INCOMING or _is_custom(value):
        return None
    if value in OWN:
        return f"{value!r} is made by Ladder itself (segments, loyalty, rungs), not sent to it"
    return f"{value!r} is not an event type Ladder knows{_hint(value, INCOMING)}"


def trigger_problem(value: str) -> str | None:
    """Why a trigger may not start on, or be cancelled by, `value`; None if it may."""
    if value in INCOMING or value in OWN or _is_custom(value):
        return None
    return f"{value!r} is not an event type Ladder receives{_hint(value, INCOMING | OWN)}"
