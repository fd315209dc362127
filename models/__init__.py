"""Ladder's tables, the engine and session, and the Alembic migrations."""

from models.customers import Customer, CustomerExternalId
from models.deliverability import Preference, ProviderEvent, SendingPause
from models.deliveries import Delivery, DeliveryStatus, Suppression
from models.events import Event, EventStatus
from models.inbox import InboxItem, InboxStatus, PrivacyRecord
from models.leases import Lease
from models.measurement import Attribution
from models.orders import Order, OrderLine, OrderRefund, OrderStatus
from models.recommendations import ProductRecommendation

__all__ = [
    "Attribution",
    "Customer",
    "CustomerExternalId",
    "Delivery",
    "DeliveryStatus",
    "Event",
    "EventStatus",
    "InboxItem",
    "InboxStatus",
    "Lease",
    "Order",
    "OrderLine",
    "OrderRefund",
    "OrderStatus",
    "Preference",
    "PrivacyRecord",
    "ProductRecommendation",
    "ProviderEvent",
    "SendingPause",
    "Suppression",
]
