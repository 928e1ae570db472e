"""The customer's export (D1, GDPR Art. 15): ``GET /v1/admin/customers/{customer_id}/export``.

Everything held about the customer in one document (models/data_rights.py): the web record
with its recent changes (consents among them), the loyalty account (member, card, balance,
coupons, and the whole history read as ``GET .../loyalty/activity`` reads it, every page),
the orders named in that history with their refunds and cancels, the sync state per
target, the error records, and the verification attempts without codes or hashes.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from loyalty_bridge import errors
from loyalty_bridge.models.activity import MAX_ACTIVITY_PAGE, ActivityEntry
from loyalty_bridge.models.checkout_records import OrderRecord
from loyalty_bridge.models.data_rights import CustomerExport, LoyaltyExport
from loyalty_bridge.models.domain import LoyaltyStatus
from loyalty_bridge.models.records import CustomerRecord, utcnow
from loyalty_bridge.observability import logger
from loyalty_bridge.ports import (
    CheckoutStore,
    CustomerDataStore,
    CustomerErrors,
    CustomerRepository,
    LoyaltyPlatform,
)
from loyalty_bridge.privacy import pseudonym
from loyalty_bridge.services.history import HistoryService

_MAX_HISTORY_PAGES = 1000  # 100,000 entries: a guard against a cursor that never ends


def existing_customer(customers: CustomerRepository, customer_id: str) -> CustomerRecord:
    record = customers.get(customer_id)
    if record is None:
        raise errors.NotFound("No customer with this id.", code="customer_not_found")
    return record


def whole_history(history: HistoryService, customer_id: str) -> tuple[list[ActivityEntry], bool]:
    """Every entry of the customer's history, newest first, and whether the platform keeps one."""
    entries: list[ActivityEntry] = []
    cursor: str | None = None
    for _ in range(_MAX_HISTORY_PAGES):
        page = history.activity(customer_id, limit=MAX_ACTIVITY_PAGE, cursor=cursor)
        entries.extend(page.entries)
        cursor = page.next_cursor
        if not page.available or cursor is None:
            return entries, page.available
    return entries, True


def order_ids(entries: list[ActivityEntry]) -> list[str]:
    return list(dict.fromkeys(entry.order_id for entry in entries if entry.order_id))


class CustomerExporter:
    def __init__(
        self,
        customers: CustomerRepository,
        platform: LoyaltyPlatform,
        history: HistoryService,
        checkout: CheckoutStore,
        data: CustomerDataStore,
        errors_store: CustomerErrors,
        *,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._customers = customers
        self._platform = platform
        self._history = history
        self._checkout = checkout
        self._data = data
        self._errors = errors_store
        self._clock = clock

    def export(self, customer_id: str) -> CustomerExport:
        record = existing_customer(self._customers, customer_id)
        loyalty = self._loyalty(record)
        orders: list[OrderRecord] = []
        for order_id in order_ids(loyalty.history) if loyalty else []:
            order = self._checkout.get_order(order_id)
            if order is not None:
                orders.append(order)
        document = CustomerExport(
            customer_id=customer_id,
            exported_at=self._clock(),
            web_record=record,
            loyalty=loyalty,
            orders=orders,
            sync_state=self._data.sync_states(customer_id),
            errors=self._errors.of_customer(customer_id),
            verification=self._data.verification(customer_id),
            attempts=self._data.attempt_windows(customer_id),
        )
        logger.info(
            "customer data exported",
            extra={"customer": pseudonym(customer_id), "orders": len(orders), "errors": len(document.errors)},
        )
        return document

    def _loyalty(self, record: CustomerRecord) -> LoyaltyExport | None:
        if record.status is not LoyaltyStatus.JOINED or not record.member_id:
            return None
        member_id = record.member_id
        history, available = whole_history(self._history, record.customer_id)
        return LoyaltyExport(
            member=self._platform.get_member(member_id),
            balance=self._platform.get_balance(member_id),
            coupons=self._platform.coupons(member_id),
            history=history,
            history_available=available,
        )
