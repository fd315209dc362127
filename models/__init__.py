"""Ladder's tables, the engine and session, and the Alembic migrations."""

from models.broadcasts import BroadcastRun, RunStatus
from models.customers import Customer, CustomerExternalId
from models.deliverability import Preference, ProviderEvent, SendingPause
from models.deliveries import Delivery, DeliveryStatus, Suppression
from models.events import Event, EventStatus
from models.inbox import InboxItem, InboxStatus, PrivacyRecord
from models.leases import Lease
from models.loyalty import EntryKind, LoyaltyEntry, LoyaltyMember
from models.measurement import Attribution, ClvFit, LadderMove
from models.memberships import LoyaltyMembership, MembershipStatus
from models.orders import Order, OrderLine, OrderRefund, OrderStatus
from models.recommendations import ProductRecommendation
from models.rewards import LoyaltyCode, LoyaltyFingerprint, LoyaltyReward, RewardState
from models.studio import FileKind, StudioAudit, StudioPublication, StudioVersion
from models.studio_people import StudioAccount, StudioLoginAttempt, StudioSession
from models.sweepstakes import SweepstakeDraw, SweepstakeEntry

__all__ = [
    "Attribution",
    "BroadcastRun",
    "ClvFit",
    "Customer",
    "CustomerExternalId",
    "Delivery",
    "DeliveryStatus",
    "EntryKind",
    "Event",
    "EventStatus",
    "FileKind",
    "InboxItem",
    "InboxStatus",
    "LadderMove",
    "Lease",
    "LoyaltyCode",
    "LoyaltyEntry",
    "LoyaltyFingerprint",
    "LoyaltyMember",
    "LoyaltyMembership",
    "LoyaltyReward",
    "MembershipStatus",
    "Order",
    "OrderLine",
    "OrderRefund",
    "OrderStatus",
    "Preference",
    "PrivacyRecord",
    "ProductRecommendation",
    "ProviderEvent",
    "RewardState",
    "RunStatus",
    "SendingPause",
    "StudioAccount",
    "StudioAudit",
    "StudioLoginAttempt",
    "StudioPublication",
    "StudioSession",
    "StudioVersion",
    "Suppression",
    "SweepstakeDraw",
    "SweepstakeEntry",
]
