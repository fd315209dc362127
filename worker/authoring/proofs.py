"""Proofs (`ladder send-test`): one message rendered (for a sample or a real customer) and
delivered now, through the configured backend, to an address the marketer gives: the email as a
customer would get it, marked as a test.

A proof is no delivery: it leaves no row, counts against no budget and reaches no statistic;
consent and the suppression list are not asked, since the address is the sender's own choice.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime

from pydantic import EmailStr, TypeAdapter, ValidationError
from sqlmodel import Session

from worker.authoring.preview import Preview, render_preview
from worker.providers import OutgoingEmail
from worker.runtime import Runtime

SUBJECT_MARK = "[test] "
HEADER = "X-Ladder-Test"
_ADDRESS: TypeAdapter[str] = TypeAdapter(EmailStr)


class ProofError(ValueError):
    """The test cannot be sent (an address that is not one); the message says why."""


@dataclass(frozen=True)
class Proof:
    preview: Preview
    to: str
    provider_message_id: str


def send_test(
    runtime: Runtime,
    message: str,
    *,
    to: str,
    now: datetime,
    db: Session | None = None,
    customer: str | None = None,
    segment: str | None = None,
    locale: str | None = None,
) -> Proof:
    """Renders `message` as `render_preview` does and sends it to `to` now. Raises
    ProofError, PreviewError, RenderError or DeliveryError, each saying why."""
    address = checked_address(to)
    preview = render_preview(
        runtime.renderer,
        runtime.settings,
        message,
        segment=segment,
        locale=locale,
        db=db,
        email=customer,
        now=now,
    )
    return send_proof(runtime, preview, to=address, now=now)


def send_proof(runtime: Runtime, preview: Preview, *, to: str, now: datetime) -> Proof:
    """Sends an email already rendered for a preview (the studio's draft, say) to `to` now,
    marked as a test. Raises ProofError for an address that is not one, or DeliveryError."""
    address = checked_address(to)
    settings = runtime.settings
    rendered = preview.email
    message = rendered.variant.split("/")[0]
    email = OutgoingEmail(
        delivery_id=0,
        to=address,
        sender=str(settings.sender),
        sender_name=settings.shop_name,
        subject=SUBJECT_MARK + rendered.subject,
        html=rendered.html,
        text=rendered.text,
        created_at=now,
        # Its own name in the outbox, never one a delivery could have.
        key=f"test-{now:%Y%m%dT%H%M%S}-{secrets.token_hex(3)}",
        headers={HEADER: f"{message}; {preview.segment}; {preview.locale}"},
        categories=("test", message),
        custom_args={"test": message},
        reply_to=settings.sendgrid_reply_to,
    )
    return Proof(preview, address, runtime.provider.send(email))


def checked_address(to: str) -> str:
    """`to` as an e-mail address, or ProofError saying it is not one."""
    try:
        return _ADDRESS.validate_python(to.strip())
    except ValidationError:
        raise ProofError(f"{to!r} is not an e-mail address") from None
