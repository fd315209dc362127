"""The clock: enqueues due deliveries, re-enqueues rows left waiting, runs the daily jobs.

One clock leads at a time (a lease row in the database); a second one idles until the
lease expires, so running two is harmless.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlmodel import Session, col, select

from models import Event, EventStatus
from models.db import session
from worker import current_time
from worker.audience import dates, recommendations, segments
from worker.delivery import feedback, pauses, recovery
from worker.intake import spool
from worker.loyalty import codes, fairplay, membership_sweeps, rewards, sweeps, sweepstakes, tiers
from worker.measurement import abc, predictions, rungs
from worker.metrics import counters
from worker.queue import dispatch, heartbeats, leases, relays
from worker.runtime import Runtime
from worker.scheduling import broadcasts, series

logger = logging.getLogger(__name__)

LEADER_LEASE = "clock"
SEGMENTS_JOB = "segments.refresh"
DATES_JOB = "dates.sweep"
RECOMMENDATIONS_JOB = "recommendations.refresh"
# What is bought together moves slowly; a full recompute weekly, not daily, keeps the clock
# light on a long order history (and the demo's two simulated years fast).
RECOMMENDATIONS_EVERY = timedelta(days=7)
PROVIDER_EVENTS_JOB = "provider_events.reapply"
PREDICTIONS_JOB = "predictions.refresh"
# A year's prediction moves little in a week; weekly keeps the demo's two years quick too.
PREDICTIONS_EVERY = timedelta(days=7)
SERIES_JOB = "series.advance"
LOYALTY_JOB = "loyalty.sweep"
REWARD_CODES_JOB = "loyalty.codes"
# Codes created through a platform's API: soon after a reward unlocks, and again after an outage.
REWARD_CODES_EVERY = timedelta(minutes=1)


@dataclass
class TickReport:
    deliveries: int = 0
    events: int = 0
    inbox: int = 0
    spooled: int = 0
    released: int = 0
    abandoned: int = 0
    segments: dict[str, int] = field(default_factory=dict)
    rung_moves: int = 0  # customers the daily refresh moved to another rung
    dates: dict[str, int] = field(default_factory=dict)
    recommendations: int | None = None  # rows kept, when the weekly refresh ran
    provider_events: int = 0  # stored provider events applied late
    predictions: int | None = None  # customers whose CLV prediction changed, when it ran
    broadcasts: int = 0  # deliveries of broadcast runs resolved this tick
    series: int = 0  # content series steps scheduled by the daily job
    loyalty: dict[str, int] = field(default_factory=dict)  # approved, expiring, tier moves…
    reward_codes: codes.Issued | None = None  # codes asked of the platforms, when it ran


def sweep_dates(db: Session, *, now: datetime, runtime: Runtime) -> dict[str, int]:
    """Today's and tomorrow's date events (UTC): a day ahead for zones east of UTC, and
    today's so a clock started late in the day still finds them. Reruns add nothing."""
    triggers = [compiled.trigger for compiled in runtime.triggers.by_name.values()]
    added: dict[str, int] = {}
    for day in (now.date(), now.date() + timedelta(days=1)):
        for entry, count in dates.sweep(db, triggers, day=day, now=now).items():
            added[entry] = added.get(entry, 0) + count
    return added


def refresh_segments(db: Session, *, now: datetime, runtime: Runtime) -> tuple[dict[str, int], int]:
    """The daily refresh: the segments (told as the triggers listen), then the ladder's rungs
    (a rung may read the segments). Returns customers per segment and how many rungs moved."""
    counts = segments.refresh(db, now, told=segments.told_of(runtime.triggers))
    if runtime.rung_scheme is None:
        return counts, 0
    currency = runtime.settings.default_currency
    return counts, rungs.refresh(db, runtime.rung_scheme, now=now, currency=currency)


def sweep_loyalty(db: Session, *, now: datetime, runtime: Runtime) -> dict[str, int]:
    """The programme's daily work: points whose return window has passed are approved, idle
    balances warned of or lapsed, then every member's tier reviewed (up, or down after the
    grace); paid memberships' renewals announced, lapses and dividends decided. Reruns change
    nothing."""
    programme = runtime.programme
    assert programme is not None
    approved = sweeps.approve_due(db, now=now)
    warned, expired = sweeps.expire_inactive(db, programme, now=now)
    moves = tiers.review_all(db, programme, currency=runtime.settings.default_currency, now=now)
    for_points = rewards.unlock_all_for_points(db, programme, now=now)
    birthdays, birthdays_refused = fairplay.birthday_rewards(db, programme, day=now.date(), now=now)
    referrals, referrals_refused = fairplay.referral_rewards(db, programme, now=now)
    currency = runtime.settings.default_currency
    members = membership_sweeps.sweep(db, programme, currency=currency, now=now)
    pooled = codes.give_pool_codes(db, programme, now=now)  # waiting ones, after an import too
    db.commit()
    return {
        **members,
        "approved": approved,
        "expiring": warned,
        "expired": expired,
        "tier_up": sum(move.direction == "up" for move in moves),
        "tier_down": sum(move.direction == "down" for move in moves),
        "rewards": for_points + birthdays + referrals,
        "rewards_refused": birthdays_refused + referrals_refused,
        "pool_codes": pooled,
        "rewards_expired": rewards.expire_due(db, now=now),
    }


def issue_reward_codes(db: Session, *, now: datetime, runtime: Runtime) -> codes.Issued:
    """Codes of rewards whose platform creates them (Shopify, WooCommerce), still missing."""
    programme = runtime.programme
    assert programme is not None
    return codes.issue_through_platforms(
        db,
        programme,
        runtime.code_issuers,
        secret=runtime.settings.secret_key(),
        currency=runtime.settings.default_currency,
        now=now,
    )


def tick(
    db: Session,
    *,
    now: datetime,
    runtime: Runtime,
    holder: str = "clock",
    broker_restarted: bool = False,
) -> TickReport:
    """One round of the clock's work. Safe to run twice: every step is a compare-and-set.

    A periodic job is taken under `holder` and recorded done only after its work committed:
    a clock killed inside one leaves it undone, and a clock runs it again (`leases.JOB_LEASE`).
    `broker_restarted`: the broker lost its messages; every waiting row is sent again now.
    """
    runtime.follow(db)  # what the studio published: the series' and broadcasts' conditions
    settings = runtime.settings
    requeue_after = timedelta(seconds=settings.requeue_after_s)
    relay_after = timedelta(0) if broker_restarted else requeue_after
    report = TickReport()
    answers = _segments_asked_for(db, holder=holder, now=now)
    if answers is not None or leases.take_daily(db, SEGMENTS_JOB, holder=holder, now=now):
        report.segments, report.rung_moves = refresh_segments(db, now=now, runtime=runtime)
        leases.done(db, SEGMENTS_JOB, holder=holder, now=now, answers=answers)
    if leases.take_every(db, PREDICTIONS_JOB, holder=holder, now=now, period=PREDICTIONS_EVERY):
        fitted = predictions.refresh(db, now=now, horizon_days=settings.clv_horizon_days)
        if fitted.problem:
            logger.info("CLV models not fitted: %s", fitted.problem)
        report.predictions = fitted.written
        abc.classify(db, now=now, scheme=runtime.abc_scheme)
        leases.done(db, PREDICTIONS_JOB, holder=holder, now=now)
    if leases.take_daily(db, DATES_JOB, holder=holder, now=now):
        report.dates = sweep_dates(db, now=now, runtime=runtime)
        leases.done(db, DATES_JOB, holder=holder, now=now)
    if leases.take_every(
        db, RECOMMENDATIONS_JOB, holder=holder, now=now, period=RECOMMENDATIONS_EVERY
    ):
        report.recommendations = recommendations.refresh(db)
        leases.done(db, RECOMMENDATIONS_JOB, holder=holder, now=now)
    report.broadcasts = resolve_broadcasts(db, now=now, runtime=runtime)
    # After the segment refresh: an audience reading today's segments sees them.
    if runtime.series and leases.take_daily(db, SERIES_JOB, holder=holder, now=now):
        report.series = advance_series(db, now=now, runtime=runtime)
        leases.done(db, SERIES_JOB, holder=holder, now=now)
    if runtime.programme is not None:
        _loyalty_jobs(db, report, now=now, runtime=runtime, holder=holder)
    report.released, report.abandoned = recovery.recover_stale(
        db,
        now=now,
        claim_timeout=timedelta(seconds=settings.claim_timeout),
        idempotent=runtime.provider.idempotent,
    )
    stranded = timedelta(seconds=settings.stranded_after_s)
    waits = {"requeue_after": relay_after, "stranded_after": stranded}
    report.inbox = relays.relay_inbox(db, now=now, **waits)
    report.events = relays.relay_events(db, now=now, **waits)
    if not _paused(db, runtime, now):
        report.deliveries = relays.relay_deliveries(db, now=now, **waits)
    spooled = spool.drain(db, settings.spool_dir, enqueued_at=dispatch.enqueue_at(now))
    dispatch.inbox(db, spooled.new)
    report.spooled = spooled.moved
    if leases.take_every(db, PROVIDER_EVENTS_JOB, holder=holder, now=now, period=requeue_after):
        report.provider_events = feedback.reapply_stale(
            db, now=now, older_than=requeue_after, settings=settings
        )
        leases.done(db, PROVIDER_EVENTS_JOB, holder=holder, now=now)
    return report


def _loyalty_jobs(
    db: Session, report: TickReport, *, now: datetime, runtime: Runtime, holder: str
) -> None:
    """The programme's daily sweep, and the reward codes the platforms create, each minute."""
    if leases.take_daily(db, LOYALTY_JOB, holder=holder, now=now):
        report.loyalty = sweep_loyalty(db, now=now, runtime=runtime)
        leases.done(db, LOYALTY_JOB, holder=holder, now=now)
    if leases.take_every(db, REWARD_CODES_JOB, holder=holder, now=now, period=REWARD_CODES_EVERY):
        report.reward_codes = issue_reward_codes(db, now=now, runtime=runtime)
        # Sweepstakes due are drawn within the minute, each once (its draw row is unique).
        assert runtime.programme is not None
        if drawn := sweepstakes.draw_due(db, runtime.programme, now=now):
            report.loyalty["drawn"] = drawn
        leases.done(db, REWARD_CODES_JOB, holder=holder, now=now)


def _segments_asked_for(db: Session, *, holder: str, now: datetime) -> datetime | None:
    """The time of a segment refresh asked for (`ladder import` with workers asks for one),
    taken under `holder` once every event received before it has been processed, so the
    scores see the whole imported history; None while there is none, or it must wait."""
    asked = leases.requested(db, SEGMENTS_JOB)
    if asked is None or _pending_received_by(db, asked):
        return None
    return asked if leases.take_requested(db, SEGMENTS_JOB, holder=holder, now=now) else None


def _pending_received_by(db: Session, moment: datetime) -> bool:
    waiting = select(col(Event.id)).where(
        col(Event.status) == EventStatus.PENDING, col(Event.received_at) <= moment
    )
    found = db.execute(waiting.limit(1)).first() is not None
    db.commit()
    return found


def resolve_broadcasts(db: Session, *, now: datetime, runtime: Runtime) -> int:
    """Resolves the broadcast runs now due into their deliveries (the relay below sends those
    due), and the rest of each test-then-winner whose winner is due; returns how many will go
    out. A run whose file is gone or disabled waits: `ladder broadcast cancel` ends it."""
    total = 0
    phases = (
        (broadcasts.due_runs(db, now=now), broadcasts.resolve, "resolved"),
        (broadcasts.due_winners(db, now=now), broadcasts.resolve_winner, "sent its winner"),
    )
    for due, resolve, done in phases:
        for run_id, name, day in due:
            broadcast = runtime.broadcasts.get(name)
            if broadcast is None:
                continue
            resolved = resolve(
                db, run_id, broadcast, day=day, env=runtime.renderer.env,
                settings=runtime.settings, now=now,
            )  # fmt: skip
            if resolved is not None:
                logger.info(
                    "broadcast %s run %s %s: %s to send, %s held back",
                    name, run_id, done, resolved.scheduled, resolved.skipped,
                )  # fmt: skip
                total += resolved.scheduled
    return total


def advance_series(db: Session, *, now: datetime, runtime: Runtime) -> int:
    """Schedules today's steps of every content series; returns how many."""
    total = 0
    for found in runtime.series.values():
        added = series.advance(
            db, found, env=runtime.renderer.env, settings=runtime.settings, now=now
        )
        if any(added.values()):
            logger.info("series %s: steps scheduled %s", found.name, added)
        total += sum(added.values())
    return total


def _paused(db: Session, runtime: Runtime, now: datetime) -> bool:
    """True while sending is paused (the provider refused our key) and its probe is not due:
    every worker would hand the deliveries straight back, so none are relayed meanwhile."""
    pause = pauses.pause_of(db, runtime.settings.email_backend.value)
    return pause is not None and pause.probe_at > now


def run(runtime: Runtime, stop: threading.Event) -> None:
    """Ticks every `clock_tick_s` while leader, until `stop` is set (SIGTERM within a tick)."""
    settings = runtime.settings
    holder = f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}"
    ttl = timedelta(seconds=max(30.0, settings.clock_tick_s * 5))
    leading: bool | None = None  # unknown: the first round logs which it is
    watch = relays.RestartWatch()
    while not stop.is_set():
        try:
            with session(settings.database_url) as db:
                now = current_time.now()
                heartbeats.beat(db, "clock", now=now)
                is_leader = leases.acquire(db, LEADER_LEASE, holder, now=now, ttl=ttl)
                if is_leader != leading:
                    leading = is_leader
                    counters.CLOCK_LEADING.set(1 if leading else 0)
                    logger.info("clock %s", "leading" if leading else "idle: another clock leads")
                if leading:
                    restarted = watch.restarted()
                    if restarted:
                        logger.warning(
                            "the broker restarted (Redis has a new run id) and lost its "
                            "messages: every waiting row is handed over again now"
                        )
                    report = tick(
                        db, now=now, runtime=runtime, holder=holder, broker_restarted=restarted
                    )
                    if (
                        report.deliveries
                        or report.events
                        or report.released
                        or report.abandoned
                        or report.broadcasts
                    ):
                        logger.info("clock tick: %s", report)
        except Exception:  # a database blip must not stop the clock; the next tick retries
            logger.exception("clock tick failed")
        stop.wait(settings.clock_tick_s)
    with session(settings.database_url) as db:
        leases.release(db, LEADER_LEASE, holder)
        heartbeats.stopped(db, "clock")
