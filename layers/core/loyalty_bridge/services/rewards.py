"""Rewards (R4) for the storefront: redeem a reward for a coupon, list the customer's
coupons (membership_api routes). Coupon codes and the next reward are program rules
(``program/rewards.py``).
"""

from __future__ import annotations

from loyalty_bridge import errors
from loyalty_bridge.models.domain import Coupon, LoyaltyStatus
from loyalty_bridge.observability import logger, pseudonym
from loyalty_bridge.ports import BalanceSnapshots, CustomerRepository, LoyaltyPlatform


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
        snapshots: BalanceSnapshots | None = None,
    ) -> None:
        self._customers = customers
        self._platform = platform
        # Platforms the login summary must not call (REST) get the new balance recorded.
        self._snapshots = snapshots

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
        if self._snapshots is not None:
            try:
                self._snapshots.put(self._platform.get_balance(member_id))
            except errors.BridgeError as exc:  # the coupon stands; the snapshot catches up later
                logger.warning("balance snapshot not refreshed", extra={"code": exc.code})
        return coupon

    def coupons(self, customer_id: str) -> list[Coupon]:
        record = self._customers.get(customer_id)
        if record is None:
            raise errors.NotFound("No customer with this id.", code="customer_not_found")
        if not record.member_id:
            return []
        return self._platform.coupons(record.member_id)
