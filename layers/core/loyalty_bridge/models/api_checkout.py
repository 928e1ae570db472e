"""Request and response bodies of the checkout and order routes (API.md, C1-C6).

Money is a decimal string in the order's currency (api_types.Money), never a JSON number:
19.99 as a float is not 19.99. Points are ints.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
)

from loyalty_bridge.models.api_types import CustomerId, Money
from loyalty_bridge.models.domain import Basket, BasketLine, Channel, CouponStanding, RewardKind

# Ids the storefront chooses; they become parts of storage and platform keys.
BusinessId = Annotated[
    str,
    StringConstraints(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:#/@-]*$"),
]
BusinessIdPath = BusinessId  # the same ids in paths (/v1/orders/{order_id}/...)
Currency = Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
CategoryName = Annotated[str, StringConstraints(max_length=200)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)


def _blank_is_none(value: str) -> str | None:
    return value.strip() or None


# Up to 64 characters as sent; stripped, and blank means none.
PromoCode = Annotated[str, StringConstraints(max_length=64), AfterValidator(_blank_is_none)] | None


class CheckoutLine(Strict):
    sku: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    title: Annotated[str, StringConstraints(max_length=500)] = ""
    quantity: Annotated[int, Field(gt=0, le=10_000)]
    unit_price: Money
    # From the top level down: department, category, subcategory; any may be missing.
    categories: Annotated[list[CategoryName | None], Field(max_length=3)] = Field(default_factory=list)

    def to_basket_line(self) -> BasketLine:
        return BasketLine(
            sku=self.sku,
            title=self.title,
            quantity=self.quantity,
            unit_price=self.unit_price,
            categories=[name or "" for name in self.categories],
        )


Lines = Annotated[list[CheckoutLine], Field(min_length=1, max_length=500)]


class QuoteRequest(Strict):
    customer_id: CustomerId | None = None  # none: a guest basket (what joining would earn)
    currency: Currency
    lines: Lines
    shipping: Money = Decimal("0")
    promo_code: PromoCode = None
    redeem_points: Annotated[int, Field(ge=0, le=100_000_000)] = 0
    channel: Channel = Channel.WEBSHOP
    store_id: Annotated[str, StringConstraints(max_length=64)] | None = None
    staff_id: Annotated[str, StringConstraints(max_length=64)] | None = None  # R6: checked, not priced

    def to_basket(self) -> Basket:
        return Basket(
            currency=self.currency,
            lines=[line.to_basket_line() for line in self.lines],
            shipping=self.shipping,
            promo_code=self.promo_code,
            channel=self.channel,
            store_id=self.store_id,
        )


class QuoteCoupon(BaseModel):
    """The loyalty coupon a quote's promo_code names (R4)."""

    model_config = ConfigDict(defer_build=True)

    code: str
    status: CouponStanding = Field(
        description="available: the customer's own, unused (the order uses it); used: used already; "
        "not_yours: another member's coupon (any coupon for a guest). An order with a used or "
        "not_yours coupon is accepted but does not use it, and earns no points"
    )
    reward: str = Field(description="the coupon's reward_id")
    kind: RewardKind
    value: str = Field(description="product: the sku given; fixed_discount: the amount off")


class QuoteResponse(BaseModel):
    model_config = ConfigDict(defer_build=True)
    points_to_earn: int = Field(
        description="points the basket earns as-is (no points redeemed); 0 with a promo code"
    )
    points_to_earn_with_redemption: int = Field(
        description="points the basket earns when redeem_points are cashed in (the discount lowers the spend)"
    )
    balance: int
    redeemable_points: int = Field(
        description="points that may pay for this basket: the balance not held, at most the largest share "
        "payable with points; 0 for accumulate-only customers"
    )
    point_value: Decimal
    max_discount: Decimal
    discount: Decimal = Field(
        description="the discount for redeem_points; for a discount program, its percentage off the basket"
    )
    discount_percent: Decimal | None = Field(
        default=None,
        exclude_if=lambda percent: percent is None,
        description="a discount program's percentage off for this customer's tier (R9); absent for points",
    )
    redeem_points: int = Field(
        description="the points the discount is for (the request's, capped at redeemable)"
    )
    joined: bool = Field(description="false for guests and customers not joined: what joining would earn")
    accumulate_only: bool = False
    coupon: QuoteCoupon | None = Field(
        default=None,
        exclude_if=lambda coupon: coupon is None,
        description="present when promo_code is a loyalty coupon (R4); absent for any other code",
    )


class RedemptionRequest(Strict):
    customer_id: CustomerId
    cart_id: BusinessId
    points: Annotated[int, Field(gt=0, le=100_000_000)]
    # Needed to cap the points at the largest share of an order payable with points (C2).
    order_total: Money = Field(
        description="the cart's merchandise total before shipping and the points discount"
    )
    currency: Currency | None = Field(
        default=None,
        description="the cart's currency (R10); absent: the program's. The discount is answered in it",
    )


class RedemptionResponse(BaseModel):
    model_config = ConfigDict(defer_build=True)
    redemption_id: str
    points: int
    discount: Decimal
    expires_at: datetime


class OrderRequest(Strict):
    order_id: BusinessId
    customer_id: CustomerId | None = None  # none: a guest order, accepted without points
    placed_at: AwareDatetime
    currency: Currency
    channel: Channel = Channel.WEBSHOP
    store_id: Annotated[str, StringConstraints(max_length=64)] | None = None
    staff_id: Annotated[str, StringConstraints(max_length=64)] | None = None
    lines: Lines
    shipping: Money = Decimal("0")
    total: Money
    promo_code: PromoCode = None
    redemption_id: BusinessId | None = None

    @field_validator("placed_at")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return value.astimezone(UTC)


OrderStatus = Literal["credited", "queued", "not_credited"]
# guest: no customer; not_joined: the customer has no loyalty account; joining: the account
# is being created (the order waits for it); platform_refused: a New Order Error was raised.
# card_blocked (A10): the customer's card is blocked; the order is kept as a New Order Error
# and credited on the new card when an admin replays it after the replace.
OrderReason = Literal[
    "guest", "not_joined", "joining", "platform_unavailable", "platform_refused", "card_blocked"
]


class OrderResponse(BaseModel):
    model_config = ConfigDict(defer_build=True)
    order_id: str
    status: OrderStatus
    reason: OrderReason | None = None
    points_earned: int | None = Field(description="null while queued")
    points_redeemed: int | None = Field(description="null while queued")
    balance: int | None = Field(description="null while queued and for guests")


class RefundLine(Strict):
    sku: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    quantity: Annotated[int, Field(gt=0, le=10_000)]


class RefundRequest(Strict):
    refund_id: BusinessId
    lines: Annotated[list[RefundLine], Field(min_length=1, max_length=500)]


ReversalStatus = Literal["reversed", "queued", "not_applicable"]


class RefundResponse(BaseModel):
    model_config = ConfigDict(defer_build=True)
    order_id: str
    refund_id: str
    status: ReversalStatus
    points_reversed: int | None
    shortfall: int | None = Field(
        description="points that could not be taken back because the balance no longer covers them"
    )
    balance: int | None


class CancelResponse(BaseModel):
    model_config = ConfigDict(defer_build=True)
    order_id: str
    status: ReversalStatus
    points_reversed: int | None
    points_returned: int | None
    shortfall: int | None
    balance: int | None
