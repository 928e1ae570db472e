"""Request and response bodies of the membership routes (API.md "Customers and membership").

Requests are strict (unknown fields are a 422 naming the field); responses carry only the
caller's own data.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    StringConstraints,
    field_serializer,
    model_serializer,
)

from loyalty_bridge.models.api_types import WS, Trim

# The shared field types (models/api_types.py), re-exported for the modules that take them here.
from loyalty_bridge.models.api_types import CardNumber as CardNumber
from loyalty_bridge.models.api_types import CustomerId as CustomerId
from loyalty_bridge.models.api_types import Email as Email
from loyalty_bridge.models.api_types import EmailCode as EmailCode
from loyalty_bridge.models.api_types import Mobile as Mobile
from loyalty_bridge.models.api_types import Name as Name
from loyalty_bridge.models.api_types import SmsCode as SmsCode
from loyalty_bridge.models.domain import (
    Address,
    CardKind,
    CardState,
    Consents,
    Coupon,
    CouponStatus,
    LoyaltyStatus,
    RewardKind,
)

ReferralCode = Annotated[str, StringConstraints(pattern=rf"^{WS}[0-9A-Za-z-]{{4,32}}{WS}$"), Trim]
RewardId = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")]


class Request(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


class Reply(BaseModel):
    """A reply body: fields without a value are left out ("no card"), not sent as null."""

    model_config = ConfigDict(frozen=True, defer_build=True)

    # No return annotation on purpose: with one, pydantic replaces the model's JSON schema
    # (and so the OpenAPI document) by that annotation's.
    @model_serializer(mode="wrap")
    def _without_nulls(self, handler: SerializerFunctionWrapHandler):  # type: ignore[no-untyped-def]
        data = handler(self)
        return {k: v for k, v in data.items() if v is not None} if isinstance(data, dict) else data


# ---------------------------------------------------------------- requests


class CreateCustomer(Request):
    """POST /v1/customers: a web account was created."""

    customer_id: CustomerId
    email: Email
    first_name: Name = ""
    last_name: Name = ""
    mobile: Mobile | None = None
    birthday: date | None = None
    address: Address | None = None
    consents: Consents = Consents()
    join: bool | None = None  # default: the auto-join setting (A1)
    card_number: CardNumber | None = None  # attach this card instead of creating one (A4)
    referral_code: ReferralCode | None = None  # R5: another member's code (unknown codes are ignored)


class AttachCard(Request):
    card_number: CardNumber
    email: Email


class ConfirmEmailCode(Request):
    code: EmailCode


class StartPhone(Request):
    mobile: Mobile


class ConfirmSmsCode(Request):
    code: SmsCode


class MergeCards(Request):
    primary_card: CardNumber
    cards: list[CardNumber] = Field(min_length=1, max_length=20)


# ---------------------------------------------------------------- replies


class LoyaltyState(Reply):
    status: LoyaltyStatus


class CustomerAccepted(Reply):
    customer_id: str
    loyalty: LoyaltyState


class JoinAccepted(Reply):
    status: LoyaltyStatus


class AttachStarted(Reply):
    verification: Literal["email_code_sent"] = "email_code_sent"
    expires_at: datetime


class PhoneCodeSent(Reply):
    expires_at: datetime


class CardView(Reply):
    number: str
    kind: CardKind
    # A10: "blocked" while the card is blocked (reported lost or stolen); left out when active.
    state: CardState | None = None


class Expiry(Reply):
    points: int
    on: date


class PointsView(Reply):
    balance: int
    pending: int
    redeemable: int
    point_value: Decimal
    next_expiry: Expiry | None = None

    @field_serializer("point_value")
    def _money(self, value: Decimal) -> str:
        return str(value)


class TierView(Reply):
    name: str
    next: str | None = None
    spend_to_next: Decimal | None = None
    # R9: a discount program's percentage off for this tier; absent for a points program.
    discount_percent: Decimal | None = Field(default=None, exclude_if=lambda percent: percent is None)

    @field_serializer("spend_to_next")
    def _money(self, value: Decimal | None) -> str | None:
        return None if value is None else f"{value:.2f}"


class NextRewardView(Reply):
    """Progress to the next reward (R4): the cheapest one not affordable yet."""

    name: str
    points_required: int
    points_needed: int
    progress: float = Field(ge=0, le=1)  # 0..1, two decimals


class ReferralView(Reply):
    """R5: the member's code to share, and the link built from it when configured."""

    code: str
    link: str | None = None


class LoyaltySummary(Reply):
    """GET /v1/customers/{customer_id}/loyalty (A6)."""

    customer_id: str
    status: LoyaltyStatus
    join_prompt: bool
    reason: str | None = None  # why not joined, as a stable code (e.g. duplicate_email)
    card: CardView | None = None
    points: PointsView | None = None
    tier: TierView | None = None
    next_reward: NextRewardView | None = None
    referral: ReferralView | None = None
    accumulate_only: bool = False  # A9: points accrue but cannot be redeemed yet


class CouponView(Reply):
    """A reward redeemed for points (R4): apply ``code`` to a cart."""

    code: str
    reward_id: str
    name: str
    kind: RewardKind
    value: str  # product: the sku given; fixed_discount: the amount off
    points: int
    issued_at: datetime
    status: CouponStatus

    @classmethod
    def of(cls, coupon: Coupon) -> CouponView:
        return cls.model_validate(coupon.model_dump(exclude={"member_id"}))


class CouponList(Reply):
    """GET /v1/customers/{customer_id}/loyalty/coupons: newest first, used ones too."""

    coupons: list[CouponView]


class CardChoice(Reply):
    """One of the loyalty accounts found on a verified mobile (A8)."""

    number: str
    kind: CardKind
    points: int


class PhoneCards(Reply):
    """Several accounts on one mobile: the customer picks a primary card (…/merge).

    ``cards`` are only those the customer may merge (their own and those no web account
    holds); accounts other web accounts hold on that mobile are counted, never shown."""

    status: LoyaltyStatus
    cards: list[CardChoice]
    others_on_phone: int = Field(default=0, ge=0)
