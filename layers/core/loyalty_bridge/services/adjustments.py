"""Adjustments (R7, seed 001): an admin (for staff at a point of sale) credits or debits a
customer's points with a reason: ``POST /v1/admin/customers/{customer_id}/adjustments``.

Checked before anything is written: the customer is known (404 ``customer_not_found``) and
joined (422 ``not_joined``), the store and staff user pass ``StoreDirectory.check`` (422
``unknown_store`` / ``unknown_staff``). The rule itself (never below zero, never held
points, once per adjustment id, a credit expires like earned points) is the platform's
(program/adjustments.py on the built-in ledger). Counted as ``Adjustments``.
"""

from __future__ import annotations

from loyalty_bridge import errors
from loyalty_bridge.models.activity import Adjustment, AdjustmentResult
from loyalty_bridge.models.domain import LoyaltyStatus
from loyalty_bridge.observability import MetricName, logger
from loyalty_bridge.ports import CustomerRepository, LoyaltyPlatform, Metrics, StoreCheck
from loyalty_bridge.privacy import pseudonym
from loyalty_bridge.services.balances import BalanceRecorder


def joined_member(customers: CustomerRepository, customer_id: str) -> str:
    """The loyalty member of a joined customer (404 ``customer_not_found``, 422 ``not_joined``)."""
    record = customers.get(customer_id)
    if record is None:
        raise errors.NotFound("No customer with this id.", code="customer_not_found")
    if record.status is not LoyaltyStatus.JOINED or not record.member_id:
        raise errors.Refused("This customer has no loyalty account yet; join first.", code="not_joined")
    return record.member_id


class AdjustmentService:
    def __init__(
        self,
        customers: CustomerRepository,
        platform: LoyaltyPlatform,
        stores: StoreCheck,
        metrics: Metrics,
        *,
        balances: BalanceRecorder | None = None,
    ) -> None:
        self._customers = customers
        self._platform = platform
        self._stores = stores
        self._metrics = metrics
        # Platforms the login summary must not call (REST) get the new balance recorded.
        self._balances = balances

    def adjust(self, customer_id: str, adjustment: Adjustment) -> AdjustmentResult:
        member_id = joined_member(self._customers, customer_id)
        self._stores.check(adjustment.store_id, adjustment.staff_id)
        result = self._platform.adjust(member_id, adjustment)
        if self._balances is not None:
            self._balances.moved(member_id, balance=result.balance)
        self._metrics.count(MetricName.ADJUSTMENTS)
        logger.info(
            "points adjusted",
            extra={
                "customer": pseudonym(customer_id),
                "adjustment_id": adjustment.adjustment_id,
                "points": result.points,
                "store_id": adjustment.store_id,
                "staff_id": adjustment.staff_id,
            },
        )
        return result
