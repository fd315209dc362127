"""The tables as SQLAlchemy Core objects, for the statements the hot path builds once.

SQLModel types `Model.__table__` loosely; the one cast for each lives here.
"""

from __future__ import annotations

from typing import cast

from sqlalchemy import Table

from models.broadcasts import BroadcastRun
from models.customers import Customer, CustomerExternalId
from models.deliverability import Preference, ProviderEvent, SendingPause
from models.deliveries import Delivery, Suppression
from models.events import Event
from models.inbox import InboxItem, PrivacyRecord
from models.leases import Lease
from models.loyalty import LoyaltyEntry, LoyaltyMember
from models.measurement import Attribution, ClvFit, LadderMove
from models.memberships import LoyaltyMembership
from models.orders import Order, OrderLine, OrderRefund
from models.recommendations import ProductRecommendation
from models.rewards import LoyaltyCode, LoyaltyFingerprint, LoyaltyReward
from models.studio import StudioAudit, StudioPublication, StudioVersion
from models.studio_people import StudioAccount, StudioLoginAttempt, StudioSession
from models.sweepstakes import SweepstakeDraw, SweepstakeEntry


def table_of(model: type[object]) -> Table:
    return cast(Table, model.__table__)  # type: ignore[attr-defined]


CUSTOMERS = table_of(Customer)
EXTERNAL_IDS = table_of(CustomerExternalId)
PREFERENCES = table_of(Preference)
PROVIDER_EVENTS = table_of(ProviderEvent)
SENDING_PAUSES = table_of(SendingPause)
DELIVERIES = table_of(Delivery)
SUPPRESSIONS = table_of(Suppression)
EVENTS = table_of(Event)
INBOX = table_of(InboxItem)
PRIVACY_RECORDS = table_of(PrivacyRecord)
LEASES = table_of(Lease)
ORDERS = table_of(Order)
ORDER_LINES = table_of(OrderLine)
ORDER_REFUNDS = table_of(OrderRefund)
RECOMMENDATIONS = table_of(ProductRecommendation)
BROADCAST_RUNS = table_of(BroadcastRun)
LOYALTY_ENTRIES = table_of(LoyaltyEntry)
LOYALTY_MEMBERS = table_of(LoyaltyMember)
LOYALTY_REWARDS = table_of(LoyaltyReward)
LOYALTY_CODES = table_of(LoyaltyCode)
LOYALTY_FINGERPRINTS = table_of(LoyaltyFingerprint)
SWEEPSTAKE_ENTRIES = table_of(SweepstakeEntry)
SWEEPSTAKE_DRAWS = table_of(SweepstakeDraw)
LOYALTY_MEMBERSHIPS = table_of(LoyaltyMembership)
ATTRIBUTIONS = table_of(Attribution)
CLV_FITS = table_of(ClvFit)
LADDER_MOVES = table_of(LadderMove)
STUDIO_VERSIONS = table_of(StudioVersion)
STUDIO_PUBLICATIONS = table_of(StudioPublication)
STUDIO_AUDIT = table_of(StudioAudit)
STUDIO_ACCOUNTS = table_of(StudioAccount)
STUDIO_SESSIONS = table_of(StudioSession)
STUDIO_LOGIN_ATTEMPTS = table_of(StudioLoginAttempt)
