"""The external platform's response bodies (contracts/platform-openapi.yaml), as pydantic
models: lenient about fields we do not know (the platform may add some), strict about types:
points are JSON integers, money is a decimal STRING, times carry an offset.

adapters/rest_platform.py maps them to the domain models; adapters/rest_transport.py
validates every answer against them.
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from typing import Annotated, Final

from pydantic import AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field, Strict

from loyalty_bridge.models.card_stock import InvalidReason
from loyalty_bridge.models.domain import (
    ActivityKind,
    CardKind,
    CardState,
    CouponStanding,
    CouponStatus,
    RewardKind,
)

# The contract allows any number of decimals: spend split over a refund of a discounted
# order (lifetime spend, spend to the next tier) carries up to 28 significant digits.
_MONEY: Final = re.compile(r"-?[0-9]{1,18}(\.[0-9]{1,40})?")


def money_string(value: object) -> Decimal:
    if not isinstance(value, str) or not _MONEY.fullmatch(value):
        raise ValueError("money must be a decimal string")
    return Decimal(value)


Count = Annotated[int, Strict(), Field(ge=0)]
Money = Annotated[Decimal, BeforeValidator(money_string)]


class Wire(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, strict=True, defer_build=True)


class AddressOut(Wire):
    line1: str = ""
    line2: str = ""
    city: str = ""
    region: str = ""
    postal_code: str = ""
    country: str = ""


class ProfileOut(Wire):
    email: str
    first_name: str = ""
    last_name: str = ""
    mobile: str | None = None
    birthday: date | None = None
    address: AddressOut | None = None


class CardOut(Wire):
    number: str = Field(min_length=1)
    kind: CardKind
    state: CardState


class ConsentsOut(Wire):
    email: bool
    sms: bool


class MemberOut(Wire):
    member_id: str = Field(min_length=1)
    profile: ProfileOut
    card: CardOut
    consents: ConsentsOut
    tier: str | None = None
    accumulate_only: bool = False
    referral_code: str | None = None


class MemberListOut(Wire):
    members: list[MemberOut]


class BalanceOut(Wire):
    member_id: str
    balance: Count
    pending: Count = 0
    held: Count = 0
    next_expiry_points: Count = 0
    next_expiry_on: date | None = None
    tier: str | None = None
    next_tier: str | None = None
    spend_to_next_tier: Money | None = None
    lifetime_spend: Money = Decimal("0")
    accumulate_only: bool = False
    referral_code: str | None = None


class RewardOut(Wire):
    reward_id: str
    name: str
    points: Count
    kind: RewardKind
    value: str


class RewardListOut(Wire):
    rewards: list[RewardOut]


class CouponOut(Wire):
    code: str = Field(min_length=1)
    member_id: str
    reward_id: str
    name: str
    kind: RewardKind
    value: str
    points: Count
    issued_at: AwareDatetime
    status: CouponStatus


class CouponListOut(Wire):
    coupons: list[CouponOut]


class CouponCheckOut(Wire):
    code: str = Field(min_length=1)
    status: CouponStanding
    reward: str
    kind: RewardKind
    value: str


class QuoteOut(Wire):
    points_to_earn: Count
    balance: Count
    redeemable_points: Count
    point_value: Money
    max_discount: Money
    discount: Money = Decimal("0")
    coupon: CouponCheckOut | None = None  # R4: the basket's promo code is a loyalty coupon


class HoldOut(Wire):
    redemption_id: str
    member_id: str
    points: Count
    discount: Money
    expires_at: AwareDatetime


class OrderResultOut(Wire):
    order_id: str
    points_earned: Count
    points_redeemed: Count
    balance: Count
    coupon_refused: CouponStanding | None = None  # R4: used, not_yours


class ReversalResultOut(Wire):
    points_reversed: Count
    points_returned: Count = 0
    shortfall: Count = 0
    balance: Count


class InvalidCardOut(Wire):
    number: str
    reason: InvalidReason


class CardImportOut(Wire):
    batch_id: str
    imported: Count
    already_known: Count
    invalid: list[InvalidCardOut] = Field(default_factory=list)
    invalid_count: Count = 0


class LoyaltyProfileOut(Wire):
    member_id: str = Field(min_length=1)
    profile: ProfileOut
    missing_fields: list[str] = Field(default_factory=list)


class AdjustmentOut(Wire):
    adjustment_id: str = Field(min_length=1)
    points: Annotated[int, Strict()]
    balance: Count


class ActivityEntryOut(Wire):
    entry_id: str = Field(min_length=1)
    at: AwareDatetime
    kind: ActivityKind
    points_in: Count
    points_out: Count
    balance_after: Count
    order_id: str | None = None
    refund_id: str | None = None
    redemption_id: str | None = None
    reward_id: str | None = None
    store_id: str | None = None
    staff_id: str | None = None


class ActivityPageOut(Wire):
    entries: list[ActivityEntryOut] = Field(max_length=100)
    next_cursor: str | None = Field(default=None, min_length=1, max_length=1024)


class ErrorOut(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, defer_build=True)

    code: str = Field(min_length=1, max_length=100)
    message: str = ""
    field: str | None = None
