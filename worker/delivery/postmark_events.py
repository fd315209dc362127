"""Postmark's webhooks (bounce, spam complaint, subscription change, delivery, open, click),
read into the provider events SendGrid's also become: one record a request, stored raw.

Postmark's Bounce and SpamComplaint webhooks exist only on Transactional streams; on a
Broadcast stream the same news comes as a SubscriptionChange (the address was suppressed, and
why), so both are read here into the same kinds (https://postmarkapp.com/developer/webhooks/).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlmodel import Session, col

from models import Customer, Delivery
from worker import hygiene
from worker.processing.preferences import set_preference, suppress
from worker.settings import Settings

PROVIDER = "postmark"
MAX_ROW_ID = 2**31 - 1  # the largest id our `delivery_id` metadata may name (INTEGER)
_TEXT_LIMITS = {"MessageID": 255, "Email": 320, "Recipient": 320}
# RecordType → our kind (feedback.TRANSITIONS' names). Bounce and SubscriptionChange are
# sorted by what they say (`_bounce_kind`, `_subscription_kind`).
RECORD_KINDS = {"Delivery": "delivered", "Open": "open", "Click": "click"}
# Bounce types (Postmark's Bounce API, "Bounce types") after which the address is dead: it is
# suppressed. Postmark also marks an address it deactivated `Inactive`, which suppresses too.
HARD_BOUNCES = frozenset({"HardBounce", "BadEmailAddress", "ManuallyDeactivated"})
# Delayed, not refused: Postmark goes on trying.
DELAYS = frozenset({"Transient"})
# Replies that are not a failure to deliver (an out-of-office, a challenge…): stored, no move.
NOTICES = frozenset(
    {
        "AutoResponder",
        "AddressChange",
        "Subscribe",
        "Unsubscribe",
        "ChallengeVerification",
        "OpenRelayTest",
        "SpamNotification",
        "VirusNotification",
    }
)
# Each record's time field (ISO 8601).
_TIME_FIELDS = ("BouncedAt", "DeliveredAt", "ReceivedAt", "ChangedAt")


class MalformedRecord(ValueError):
    """The body is not one JSON object with a RecordType."""


def parse(body: bytes) -> dict[str, Any]:
    """The record a webhook posts. Raises MalformedRecord."""
    try:
        record = hygiene.loads(body)
    except hygiene.NotJSON as exc:
        raise MalformedRecord(f"not JSON: {exc}") from exc
    if not isinstance(record, dict) or not isinstance(record.get("RecordType"), str):
        raise MalformedRecord("expected a JSON object with a RecordType")
    return record


def problems(record: dict[str, Any]) -> list[dict[str, str]]:
    """What Ladder cannot store in the record (as feedback.problems): text the database
    refuses, a time out of range, a delivery id no row can have, a field wider than its
    column."""
    found = [{"field": path, "error": text} for path, text in hygiene.unstorable_text(record)]
    for name, check in _CHECKS.items():
        if (problem := check(record, name)) is not None:
            found.append({"field": name, "error": problem})
    return found


def _time_problem(record: dict[str, Any], _name: str) -> str | None:
    for name in _TIME_FIELDS:
        if name in record:
            moment = _moment(record[name])
            if moment is None:
                return f"{name} must be an ISO 8601 time"
            return hygiene.time_problem(moment)
    return None


def _delivery_id_problem(record: dict[str, Any], _name: str) -> str | None:
    given = _metadata(record).get("delivery_id")
    digits = isinstance(given, str) and given.isascii() and given.isdigit()
    if digits and not 0 < int(str(given)) <= MAX_ROW_ID:
        return f"must be a delivery id, at most {MAX_ROW_ID}"
    return None


def _text_problem(record: dict[str, Any], name: str) -> str | None:
    value = record.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        return "must be text"
    if len(value) > _TEXT_LIMITS[name]:
        return f"longer than {_TEXT_LIMITS[name]} characters"
    return None


_CHECKS: dict[str, Callable[[dict[str, Any], str], str | None]] = {
    "time": _time_problem,
    "Metadata.delivery_id": _delivery_id_problem,
    **dict.fromkeys(_TEXT_LIMITS, _text_problem),
}


def row(db: Session, record: dict[str, Any], *, now: datetime) -> dict[str, Any]:
    """The `provider_events` row of one record (checked by `problems` first)."""
    record_type = str(record["RecordType"])
    if record.get("ID") is not None:  # bounces and complaints carry Postmark's own id
        event_id = f"{record_type}:{record['ID']}"
    else:  # a retry posts the same body: known by its content
        canonical = json.dumps(record, sort_keys=True).encode()
        event_id = "sha256:" + hashlib.sha256(canonical).hexdigest()
    return {
        "provider": PROVIDER,
        "provider_event_id": event_id[:255],
        "type": kind(record),
        "delivery_id": _delivery_id(db, record),
        "occurred_at": occurred(record) or now,
        "received_at": now,
        "payload": record,
        "applied_at": None,
    }


def kind(record: dict[str, Any]) -> str:
    """What the record is, in feedback's words: delivered, open, click, bounce, deferred,
    spamreport, unsubscribe; `notice`, `resubscribe` or the record type otherwise (stored,
    moving nothing)."""
    record_type = str(record.get("RecordType", ""))
    if record_type == "Bounce":
        return _bounce_kind(record)
    if record_type == "SpamComplaint":
        return "spamreport"
    if record_type == "SubscriptionChange":
        return _subscription_kind(record)
    return RECORD_KINDS.get(record_type, record_type.lower()[:32])


def _bounce_kind(record: dict[str, Any]) -> str:
    bounce_type = str(record.get("Type", ""))
    if bounce_type in DELAYS:
        return "deferred"
    if bounce_type in NOTICES:
        return "notice"
    return "bounce"


def _subscription_kind(record: dict[str, Any]) -> str:
    if record.get("SuppressSending") is not True:
        return "resubscribe"  # reactivated in Postmark: Ladder's own list is not touched
    return {"HardBounce": "bounce", "SpamComplaint": "spamreport"}.get(
        str(record.get("SuppressionReason")), "unsubscribe"
    )


def occurred(record: dict[str, Any]) -> datetime | None:
    """When it happened, by the record's own time field; None without one."""
    for name in _TIME_FIELDS:
        if name in record:
            return _moment(record[name])
    return None


def _moment(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


def _metadata(record: dict[str, Any]) -> dict[str, Any]:
    metadata = record.get("Metadata")
    return metadata if isinstance(metadata, dict) else {}


def _delivery_id(db: Session, record: dict[str, Any]) -> int | None:
    """Our `delivery_id` metadata; else the delivery Postmark's MessageID names."""
    given = _metadata(record).get("delivery_id")
    if isinstance(given, str) and given.isascii() and given.isdigit():
        return int(given)
    message_id = record.get("MessageID")
    if not isinstance(message_id, str) or not message_id:
        return None
    return db.scalar(
        select(col(Delivery.id)).where(col(Delivery.provider_message_id) == message_id).limit(1)
    )


def recipient(record: dict[str, Any]) -> str:
    """The address the record is about, lower-cased ('' for none)."""
    value = record.get("Email", record.get("Recipient", ""))
    return str(value or "").strip().lower()


def reason(record: dict[str, Any]) -> str:
    """Postmark's words for a bounce or suppression, kept on the delivery."""
    said = record.get("Description") or record.get("Details") or ""
    what = record.get("Type") or record.get("SuppressionReason") or ""
    return f"{what}: {said}".strip(": ") if said else str(what)


def reach_address(
    db: Session,
    row_type: str,
    record: dict[str, Any],
    email: str,
    *,
    occurred_at: datetime,
    settings: Settings,
) -> None:
    """A dead address or a complaint suppresses; an unsubscribe leaves its stream's class."""
    if row_type == "bounce" and _is_hard(record):
        suppress(db, email, f"bounce: {record.get('Type') or 'HardBounce'}", now=occurred_at)
    elif row_type == "spamreport":
        suppress(db, email, "spamreport", now=occurred_at)
        _leave(db, email, "marketing", occurred_at)
    elif row_type == "unsubscribe":
        stream = record.get("MessageStream")
        marketing = stream == settings.postmark_stream("marketing")
        _leave(db, email, "marketing" if marketing else "transactional", occurred_at)


def _is_hard(record: dict[str, Any]) -> bool:
    if record.get("RecordType") == "SubscriptionChange":
        return True  # suppressed by Postmark for a hard bounce
    return record.get("Type") in HARD_BOUNCES or record.get("Inactive") is True


def _leave(db: Session, email: str, message_class: str, occurred_at: datetime) -> None:
    customer = db.scalars(select(Customer).where(col(Customer.email) == email)).one_or_none()
    if customer is not None:
        set_preference(db, customer, message_class, wanted=False, source=PROVIDER, now=occurred_at)
