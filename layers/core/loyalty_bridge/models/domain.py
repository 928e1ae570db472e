"""Domain types shared by services and adapters. Money is Decimal, points are int,
time is timezone-aware UTC. Everything here is immutable."""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from loyalty_bridge.models.api_types import POSITIVE_DECIMAL, Trim

# Lengths as sent, not only whitespace; stored stripped (api_types: constraints first).
NonEmpty = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=r"\S"), Trim]
Points = Annotated[int, Field(ge=0)]


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)


class LoyaltyStatus(StrEnum):
    PENDING = "pending"
    JOINED = "joined"
    NOT_JOINED = "not_joined"
    VERIFYING = "verifying"


class CardKind(StrEnum):
    VIRTUAL = "virtual"
    PHYSICAL = "physical"


class CardState(StrEnum):
    UNREGISTERED = "unregistered"  # physical stock, imported, never attached
    ACTIVE = "active"
    BLOCKED = "blocked"


class Channel(StrEnum):
    WEBSHOP = "webshop"
    STORE = "store"


class ActivityKind(StrEnum):
    """What a movement of a member's points was, as the history shows it (R8). Every ledger
    entry carries one; the built-in ledger and the platforms' history reads use these names."""

    EARNED = "earned"  # an order credited points (pending or available)
    REDEEMED = "redeemed"  # an order spent points held at checkout (C2)
    REVERSED = "reversed"  # a refund or cancel took earned points back (C5)
    RETURNED = "returned"  # a cancel gave back points the order had redeemed
    EXPIRED = "expired"  # points past their expiry written off (R3)
    ADJUSTED = "adjusted"  # staff credited or debited points with a reason (R7)
    REFERRAL_BONUS = "referral_bonus"  # R5
    REWARD = "reward"  # points spent on a reward's coupon (R4)
    MERGED_IN = "merged_in"  # A8: another card's points moved here
    MERGED_OUT = "merged_out"  # A8: this card's points moved to the primary card
    REPLACED = "replaced"  # A10: the card was replaced; its points followed to the new card
    OPENING = "opening"  # seed 002: the balance a member import brought over from another program


class Address(Frozen):
    line1: str = Field(default="", max_length=200)
    line2: str = Field(default="", max_length=200)
    city: str = Field(default="", max_length=100)
    region: str = Field(default="", max_length=100)
    postal_code: str = Field(default="", max_length=20)
    country: str = Field(default="", max_length=2)


class Consents(Frozen):
    email: bool = False
    sms: bool = False


class MemberProfile(Frozen):
    """What the platform knows about a person."""

    email: str
    first_name: str = ""
    last_name: str = ""
    mobile: str | None = None
    birthday: date | None = None
    address: Address | None = None


class ProfileChanges(Frozen):
    """A partial profile update: only the fields set are changed."""

    email: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    mobile: str | None = None
    birthday: date | None = None
    address: Address | None = None


class Card(Frozen):
    number: str
    kind: CardKind = CardKind.VIRTUAL
    state: CardState = CardState.ACTIVE


class Member(Frozen):
    member_id: str
    profile: MemberProfile
    card: Card
    consents: Consents = Consents()
    tier: str | None = None
    accumulate_only: bool = False
    referral_code: str | None = None  # R5: the member's own code to share


class Balance(Frozen):
    member_id: str
    balance: Points  # spendable now, before holds
    pending: Points = 0  # earned, not yet available (return window)
    held: Points = 0  # reserved by open redemptions
    next_expiry_points: Points = 0
    next_expiry_on: date | None = None
    tier: str | None = None
    next_tier: str | None = None
    spend_to_next_tier: Decimal | None = None
    lifetime_spend: Decimal = Decimal("0")
    # Read with the points so the login summary (A6) needs nothing else from the platform:
    accumulate_only: bool = False  # A9: points accrue but cannot be redeemed yet
    referral_code: str | None = None  # R5

    @property
    def available(self) -> int:
        return max(self.balance - self.held, 0)


class RewardKind(StrEnum):
    PRODUCT = "product"  # value: the sku given for free
    FIXED_DISCOUNT = "fixed_discount"  # value: the amount off, a decimal string


class Reward(Frozen):
    """A reward of the program's catalogue (R4), priced in points."""

    reward_id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._-]+$")
    name: str = Field(min_length=1, max_length=100)
    points: int = Field(gt=0)
    kind: RewardKind
    value: str = Field(min_length=1, max_length=64)

    # The schema says what _value_fits_kind checks: a fixed_discount's value is an amount.
    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        json_schema_extra={
            "if": {"properties": {"kind": {"const": "fixed_discount"}}, "required": ["kind"]},
            "then": {"properties": {"value": {"pattern": POSITIVE_DECIMAL}}},
        },
    )

    @model_validator(mode="after")
    def _value_fits_kind(self) -> Reward:
        if self.kind is RewardKind.FIXED_DISCOUNT and not re.fullmatch(POSITIVE_DECIMAL, self.value):
            raise ValueError("a fixed_discount reward's value is a positive amount, e.g. 5.00")
        return self


class CouponStatus(StrEnum):
    AVAILABLE = "available"
    USED = "used"


class Coupon(Frozen):
    """A reward redeemed for points (R4): a code the customer applies to a cart; it stays
    available until used."""

    code: str
    member_id: str
    reward_id: str
    name: str
    kind: RewardKind
    value: str
    points: Points
    issued_at: datetime
    status: CouponStatus = CouponStatus.AVAILABLE


class CouponStanding(StrEnum):
    """A promo code that is a loyalty coupon, as one member may use it (R4)."""

    AVAILABLE = "available"  # the member's own, unused: the order uses it
    USED = "used"  # used already, by an earlier order
    NOT_YOURS = "not_yours"  # another member's coupon


class CouponCheck(Frozen):
    """The coupon a basket's promo code names, as the quote shows it (no member id)."""

    code: str
    status: CouponStanding
    reward: str  # the reward's reward_id
    kind: RewardKind
    value: str


class BasketLine(Frozen):
    sku: str = Field(min_length=1, max_length=64)
    title: str = Field(default="", max_length=500)
    quantity: int = Field(gt=0, le=10_000)
    unit_price: Decimal = Field(ge=0, max_digits=14, decimal_places=4)
    # From the top level down: department, category, subcategory (any may be missing).
    categories: list[str] = Field(default_factory=list, max_length=3)


class Basket(Frozen):
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    lines: list[BasketLine] = Field(min_length=1, max_length=500)
    shipping: Decimal = Field(default=Decimal("0"), ge=0)
    promo_code: str | None = None
    channel: Channel = Channel.WEBSHOP
    store_id: str | None = None
    discount: Decimal = Field(default=Decimal("0"), ge=0)  # points discount applied


class Quote(Frozen):
    points_to_earn: Points
    balance: Points
    redeemable_points: Points
    point_value: Decimal
    max_discount: Decimal
    discount: Decimal = Decimal("0")
    coupon: CouponCheck | None = None  # R4: the promo code is a loyalty coupon
    discount_percent: Decimal | None = None  # R9: a discount program's % off (discount is it)
    # What the platform knew of the member as it priced (None: not said, or a guest): the
    # checkout then needs no read of the member of its own (A9, A10).
    accumulate_only: bool | None = None
    card_blocked: bool | None = None


class Hold(Frozen):
    redemption_id: str
    member_id: str
    points: Points
    discount: Decimal
    expires_at: datetime


class PlatformOrderLine(Frozen):
    """An order line as the platform receives it (seed 000 field limits applied)."""

    product_code: str = Field(max_length=20)
    title: str = Field(max_length=50)
    department: str | None = Field(default=None, max_length=10)
    category: str | None = Field(default=None, max_length=10)
    subcategory: str | None = Field(default=None, max_length=10)
    quantity: int = Field(gt=0)
    unit_price: Decimal = Field(ge=0)
    sku: str  # full sku, for refunds by line


class PlatformOrder(Frozen):
    order_id: str
    placed_at: datetime
    currency: str
    channel: Channel = Channel.WEBSHOP
    store_id: str | None = None
    staff_id: str | None = None
    lines: list[PlatformOrderLine]
    shipping: Decimal = Decimal("0")
    total: Decimal
    promo_code: str | None = None
    redemption_id: str | None = None


class OrderResult(Frozen):
    order_id: str
    points_earned: Points
    points_redeemed: Points
    balance: Points
    # R4: the promo code is a coupon this order may not use (used, not_yours): not used again,
    # the order still credited (with no points, C3).
    coupon_refused: CouponStanding | None = None


class Reversal(Frozen):
    """Take back points for a refund (some lines) or a cancellation (whole order)."""

    reversal_id: str  # refund_id, or "cancel:{order_id}"
    order_id: str
    lines: list[tuple[str, int]] = Field(default_factory=list)  # (sku, quantity); empty = all
    cancel: bool = False

    @property
    def key(self) -> str:
        """Ledger entry / idempotency key: refund ids are only unique within their order."""
        return f"reversal:{self.order_id}:{self.reversal_id}"


class ReversalResult(Frozen):
    points_reversed: Points
    points_returned: Points = 0
    shortfall: Points = 0  # points that could not be taken back (balance already spent)
    balance: Points


class AudienceMember(Frozen):
    """A person on the marketing audience (Mailchimp), as the profile sync sets it.

    ``email`` is who they are now; ``previous_email`` is set when the change moves the
    member to a new address. ``subscribed`` None leaves the subscription as it is (a new
    member gets ``subscribed_if_new``). ``loyalty_member`` feeds the P4 merge field.
    """

    email: str
    previous_email: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    subscribed: bool | None = None
    subscribed_if_new: bool = False
    loyalty_member: bool | None = None
    # P6: the loyalty merge fields (POINTS, TIER, NEXTREWARD, REFLINK) to set; None: leave them.
    loyalty_data: dict[str, str | int] | None = None
