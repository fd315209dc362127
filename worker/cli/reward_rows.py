"""How a reward row reads in the commands: its state with since when and why (refused, no code
yet, until when), and its JSON."""

from __future__ import annotations

from typing import Any

from models import RewardState


def state(row: Any) -> str:
    """The reward's state, since when, and why: refused (the reason), waiting for its code
    (the platform's answer), until when it can be used, or when it was."""
    if row.state == RewardState.REDEEMED:
        return f"redeemed {day(row.redeemed_at)}"
    shown = f"{row.state} {day(row.created_at)}"
    if row.reason:
        return f"{shown}: {row.reason}"
    if row.state == RewardState.UNLOCKED and row.code is None:
        return f"{shown}, no code yet" + (f": {row.issue_error}" if row.issue_error else "")
    if row.state == RewardState.UNLOCKED and row.expires_at is not None:
        return f"{shown}, until {day(row.expires_at)}"
    return shown


def day(moment: Any) -> str:
    return f"{moment:%Y-%m-%d}" if moment else "-"


def reward_document(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "customer_id": row.customer_id,
        "email": row.email,
        "reward": row.reward,
        "state": row.state,
        "code": row.code,
        "reason": row.reason,
        "points": row.points,
        "created_at": row.created_at.isoformat(),
        "expires_at": row.expires_at.isoformat() if row.expires_at else None,
        "redeemed_at": row.redeemed_at.isoformat() if row.redeemed_at else None,
        "order_id": row.order_id,
        "issue_attempts": row.issue_attempts,
        "issue_error": row.issue_error,
    }
