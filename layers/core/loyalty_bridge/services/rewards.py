"""Rewards (R4) for the storefront: redeem a reward for a coupon, list the customer's
coupons (membership_api routes), and ``coupon_refused_error``, the New Order Error of an
order that named a coupon it may not use (the order service reports it). Coupon codes, the
coupon check and the next reward are program rules (``program/rewards.py``).
"""

from __future__ import annotations

from loyalty_bridge import errors
from loyalty_bridge.models.checkout_records import OrderRecord
from loyalty_bridge.models.domain import Coupon, CouponStanding, LoyaltyStatus, OrderResult
from loyalty_bridge.models.records import ErrorCategory, ErrorRecord
from loyalty_bridge.observability import logger
from loyalty_bridge.ports import CustomerRepository, LoyaltyPlatform
from loyalty_bridge.privacy import error_id_for, pseudonym
from loyalty_bridge.services.balances import BalanceRecorder

_COUPON_REFUSED = {
    CouponStanding.USED: "coupon used twice: the promo code is a loyalty coupon already used",
    CouponStanding.NOT_YOURS: "coupon used twice: the promo code is another member's loyalty coupon",
}
_COUPON_ACTION = (
    "The order was credited with no points (a promo code earns none) and the coupon was not "
    "used again. Check on the storefront whether the coupon's reward was given with this order "
    "and settle it with the customer; nothing to replay: resolve this error once handled."
)


def coupon_refused_error(record: OrderRecord, result: OrderResult) -> ErrorRecord | None:
    """The New Order Error of an order whose coupon the platform refused (``None`` when it
    did not). Its id is the order's, so redeliveries and replays report it once."""
    if result.coupon_refused is None or result.coupon_refused is CouponStanding.AVAILABLE:
        return None
    order = record.order
    return ErrorRecord(
        error_id=error_id_for(ErrorCategory.NEW_ORDER, record.order_id, "coupon"),
        category=ErrorCategory.NEW_ORDER,
        customer_id=record.customer_id,
        subject_id=f"order {record.order_id}",
        attempted=f"Use the coupon given as the promo code of order {record.order_id}",
        platform_answer=_COUPON_REFUSED[result.coupon_refused],
        action=_COUPON_ACTION,
        change_after={
            "promo_code": order.promo_code,
            "coupon": result.coupon_refused.value,
            "total": str(order.total),
            "currency": order.currency,
            "points_earned": result.points_earned,
        },
    )


def redemption_key(customer_id: str, request_key: str) -> str:
    """The platform idempotency key of one storefront redeem request (its Idempotency-Key)."""
    return f"{customer_id}:{request_key}"


class RewardsService:
    """R4 for the storefront: redeem a reward for a coupon, list the customer's coupons."""

    def __init__(
        self,
        customers: CustomerRepository,
        platform: LoyaltyPlatform,
        *,
        balances: BalanceRecorder | None = None,
    ) -> None:
        self._customers = customers
        self._platform = platform
        # Platforms the login summary must not call (REST) get the new balance recorded.
        self._balances = balances

    def _member_id(self, customer_id: str) -> str:
        record = self._customers.get(customer_id)
        if record is None:
            raise errors.NotFound("No customer with this id.", code="customer_not_found")
        if record.status is not LoyaltyStatus.JOINED or not record.member_id:
            raise errors.Refused("Only loyalty members can redeem rewards; join first.", code="not_joined")
        return record.member_id

    def redeem(self, customer_id: str, reward_id: str, *, request_key: str) -> Coupon:
        member_id = self._member_id(customer_id)
        coupon = self._platform.redeem_reward(
            member_id, reward_id, idempotency_key=redemption_key(customer_id, request_key)
        )
        logger.info(
            "reward redeemed",
            extra={"customer": pseudonym(customer_id), "reward_id": reward_id, "points": coupon.points},
        )
        if self._balances is not None:
            self._balances.moved(member_id)  # the coupon stands whatever this read says
        return coupon

    def coupons(self, customer_id: str) -> list[Coupon]:
        record = self._customers.get(customer_id)
        if record is None:
            raise errors.NotFound("No customer with this id.", code="customer_not_found")
        if not record.member_id:
            return []
        return self._platform.coupons(record.member_id)
