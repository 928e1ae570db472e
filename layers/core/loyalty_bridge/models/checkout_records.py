"""What the bridge keeps about orders and redemption holds (BridgeTable), so it knows which
member owns a redemption or an order when the storefront only sends its id (C2, C5), and
so a repeated order answers with the points of the first credit (C6)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from loyalty_bridge.models.domain import OrderResult, PlatformOrder, ReversalResult
from loyalty_bridge.models.records import utcnow


class OrderLoyalty(StrEnum):
    """Whose order it is, for points."""

    MEMBER = "member"  # a joined customer: credited on the platform
    PENDING = "pending"  # the customer's loyalty account is being created: the order waits
    GUEST = "guest"  # no customer: no points
    NOT_JOINED = "not_joined"  # a customer without a loyalty account: no points


class ReversalRecord(BaseModel):
    model_config = ConfigDict(extra="ignore", defer_build=True)

    reversal_id: str  # refund_id, or "cancel:{order_id}"
    cancel: bool = False
    lines: list[tuple[str, int]] = Field(default_factory=list)
    result: ReversalResult
    recorded_at: datetime = Field(default_factory=utcnow)


class OrderRecord(BaseModel):
    model_config = ConfigDict(extra="ignore", defer_build=True)

    order_id: str
    customer_id: str | None = None
    member_id: str | None = None
    loyalty: OrderLoyalty
    order: PlatformOrder  # exactly what was (or will be) sent to the platform
    received_at: datetime = Field(default_factory=utcnow)
    credit: OrderResult | None = None  # set once, by whoever credits first
    failure: str | None = None  # the platform's last refusal (a New Order Error was raised)
    reversals: list[ReversalRecord] = Field(default_factory=list)  # loaded with the order

    @property
    def cancelled(self) -> bool:
        return any(reversal.cancel for reversal in self.reversals)

    def reversal(self, reversal_id: str) -> ReversalRecord | None:
        return next((r for r in self.reversals if r.reversal_id == reversal_id), None)


class RedemptionStatus(StrEnum):
    HELD = "held"
    RELEASED = "released"
    CAPTURED = "captured"  # spent by an order


class RedemptionRecord(BaseModel):
    model_config = ConfigDict(extra="ignore", defer_build=True)

    redemption_id: str
    customer_id: str
    member_id: str
    cart_id: str
    points: int
    discount: Decimal
    expires_at: datetime
    status: RedemptionStatus = RedemptionStatus.HELD
    order_id: str | None = None
    created_at: datetime = Field(default_factory=utcnow)
